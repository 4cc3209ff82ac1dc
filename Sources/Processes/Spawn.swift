import CSpawnShim
import Glibc

enum SpawnMode {
    /// New process group so the whole tree can be signalled at once.
    case processGroup
    /// New session so the child is detached from our group and terminal.
    case session
}

/// Starts `spec` with a clean signal state and returns the child's pid.
///
/// The signal mask and dispositions are reset explicitly because a child
/// inherits both across exec: a blocked or ignored SIGTERM in the controller
/// would otherwise make the child unkillable by anything but SIGKILL.
func spawnChild(_ spec: ProcessSpec, mode: SpawnMode) throws -> pid_t {
    guard let program = spec.argv.first, !program.isEmpty else {
        throw SpawnError(executable: spec.argv.first ?? "", code: EINVAL)
    }
    func check(_ rc: Int32) throws {
        if rc != 0 { throw SpawnError(executable: program, code: rc) }
    }

    var actions = posix_spawn_file_actions_t()
    try check(posix_spawn_file_actions_init(&actions))
    defer { posix_spawn_file_actions_destroy(&actions) }
    var attr = posix_spawnattr_t()
    try check(posix_spawnattr_init(&attr))
    defer { posix_spawnattr_destroy(&attr) }

    try check(posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0))
    try check(
        posix_spawn_file_actions_addopen(
            &actions, STDOUT_FILENO, spec.logPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644))
    try check(posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO))
    if let directory = spec.workingDirectory {
        try check(spawn_shim_addchdir(&actions, directory))
    }
    // A gated child reads its gate as descriptor 3 (`spawnDetachedGated`).
    if let gate = spec.gate { try check(posix_spawn_file_actions_adddup2(&actions, gate, 3)) }
    // Descriptors without CLOEXEC (pipes of a test runner, sockets) must not leak
    // into a long-lived child, or readers waiting for EOF would hang.
    try check(spawn_shim_addclosefrom(&actions, spec.gate == nil ? STDERR_FILENO + 1 : 4))

    var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
    switch mode {
    case .processGroup:
        flags |= Int32(POSIX_SPAWN_SETPGROUP)
        try check(posix_spawnattr_setpgroup(&attr, 0))
    case .session:
        // setsid already makes the child a group leader; SETPGROUP would then fail.
        flags |= Int32(spawn_shim_setsid_flag())
    }
    try check(posix_spawnattr_setflags(&attr, Int16(flags)))
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    try check(posix_spawnattr_setsigmask(&attr, &noSignals))
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    try check(posix_spawnattr_setsigdefault(&attr, &allSignals))

    let argv = spec.argv.map { strdup($0) } + [nil]
    let envp = spec.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }

    guard let executable = executablePath(program, environment: spec.environment) else {
        throw SpawnError(executable: program, code: ENOENT)
    }
    var pid: pid_t = 0
    var rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
    // ETXTBSY: the program was written a moment ago and a child forked
    // meanwhile by another thread still holds the writer's descriptor, until
    // it execs (or closes descriptors, as this one does). Transient: tried
    // again for up to a second.
    var attempts = 0
    while rc == ETXTBSY, attempts < 100 {
        attempts += 1
        usleep(10_000)
        rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
    }
    guard rc == 0 else {
        throw SpawnError(executable: program, code: rc, path: culprit(of: spec))
    }
    return pid
}

/// `program` as given when it has a slash; else the first executable file
/// of that name in the child's `PATH` (the controller's when the child has
/// none), as `env` and shells find it. Relative `PATH` entries are skipped:
/// they would be resolved in whatever directory the child starts in.
func executablePath(_ program: String, environment: [String: String]) -> String? {
    if program.contains("/") { return program }
    let search = environment["PATH"] ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in search.split(separator: ":") where directory.hasPrefix("/") {
        let candidate = String(directory) + (directory.hasSuffix("/") ? "" : "/") + program
        var info = stat()
        if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
            return candidate
        }
    }
    return nil
}

/// posix_spawn reports one errno for the program, the directory and the log alike;
/// re-checking the latter two tells the operator which path is actually wrong.
private func culprit(of spec: ProcessSpec) -> String? {
    if let directory = spec.workingDirectory, access(directory, X_OK) != 0 {
        return directory
    }
    if let log = spec.logPath {
        let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { return log }
        close(fd)
    }
    return nil
}
