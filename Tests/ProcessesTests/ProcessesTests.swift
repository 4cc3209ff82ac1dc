import Foundation
import GantryTestSupport
import Glibc
import Testing

@testable import Processes

private let python = "/usr/bin/python3"
private let basicEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin"]

private func contents(of path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}

/// Spawns with SIGTERM blocked and ignored here: both are inherited across exec,
/// so the child only dies of SIGTERM if spawning really resets them.
private func spawnWithSigtermSuppressed(_ spec: ProcessSpec) throws -> ChildProcess {
    var term = sigset_t()
    sigemptyset(&term)
    sigaddset(&term, SIGTERM)
    var previousMask = sigset_t()
    pthread_sigmask(SIG_BLOCK, &term, &previousMask)
    let previousHandler = signal(SIGTERM, SIG_IGN)
    defer {
        signal(SIGTERM, previousHandler)
        pthread_sigmask(SIG_SETMASK, &previousMask, nil)
    }
    return try ChildProcess.spawn(spec)
}

@Suite struct RunTests {
    @Test func exitCodeIsReported() async throws {
        let failed = try await run(ProcessSpec(argv: ["/bin/sh", "-c", "exit 3"], environment: [:]), timeout: nil)
        #expect(failed.status == .exited(3))
        #expect(!failed.status.succeeded)
        #expect(!failed.timedOut)
        let ok = try await run(ProcessSpec(argv: ["true"], environment: [:]), timeout: .seconds(60))
        #expect(ok.status == .exited(0))
        #expect(ok.status.succeeded)
    }

    @Test func argvReachesChildUnchanged() async throws {
        let dir = makeTemporaryDirectory("processes-tests")
        let log = dir + "/argv.log"
        let arguments = ["two words", "it's \"quoted\"", "$HOME", "*", "", "back\\slash", "semi;colon | pipe"]
        let script = "import json, sys; print(json.dumps(sys.argv[1:]))"
        let result = try await run(
            ProcessSpec(argv: [python, "-c", script] + arguments, environment: [:], logPath: log),
            timeout: .seconds(60))
        #expect(result.status == .exited(0))
        let received = try JSONDecoder().decode([String].self, from: Data(contents(of: log).utf8))
        #expect(received == arguments)
    }

    @Test func environmentIsExactlyTheGivenOne() async throws {
        let dir = makeTemporaryDirectory("processes-tests")
        let log = dir + "/env.log"
        let environment = ["GANTRY_A": "one", "GANTRY_B": "two words = three"]
        // "env" has no slash, so this also exercises the PATH lookup.
        let result = try await run(ProcessSpec(argv: ["env"], environment: environment, logPath: log), timeout: nil)
        #expect(result.status == .exited(0))
        let lines = contents(of: log).split(separator: "\n").map(String.init).sorted()
        #expect(lines == ["GANTRY_A=one", "GANTRY_B=two words = three"])
    }

    /// A program is found in the PATH the child is given, as `env PATH=…
    /// program` finds it, not only in the controller's; a name found nowhere
    /// is an error naming it, and nothing starts.
    @Test func aProgramIsLookedUpInTheChildsPath() async throws {
        let dir = makeTemporaryDirectory("processes-tests")
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let tool = bin + "/gantry-test-tool"
        try "#!/bin/sh\necho found in the PATH it was given\n".write(toFile: tool, atomically: true, encoding: .utf8)
        chmod(tool, 0o755)
        let log = dir + "/tool.log"
        let result = try await run(
            ProcessSpec(
                argv: ["gantry-test-tool"], environment: ["PATH": "relative/bin:\(bin):/usr/bin:/bin"],
                logPath: log), timeout: nil)
        #expect(result.status == .exited(0))
        #expect(contents(of: log) == "found in the PATH it was given\n")

        do {
            _ = try await run(ProcessSpec(argv: ["gantry-test-tool"], environment: ["PATH": "/usr/bin:/bin"], logPath: log), timeout: nil)
            Issue.record("a program outside the child's PATH must not start")
        } catch let error as SpawnError {
            #expect(error.code == ENOENT)
            #expect("\(error)".contains("gantry-test-tool"), "\(error)")
        }
    }

    @Test func workingDirectoryIsApplied() async throws {
        let dir = makeTemporaryDirectory("processes-tests")
        let work = dir + "/work dir"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let log = dir + "/pwd.log"
        let result = try await run(
            ProcessSpec(argv: ["/bin/pwd", "-P"], environment: [:], workingDirectory: work, logPath: log),
            timeout: nil)
        #expect(result.status == .exited(0))
        let expected = URL(fileURLWithPath: work).resolvingSymlinksInPath().path
        #expect(contents(of: log) == expected + "\n")
    }

    @Test func stdoutAndStderrAreAppendedToLog() async throws {
        let dir = makeTemporaryDirectory("processes-tests")
        let log = dir + "/out.log"
        try "earlier\n".write(toFile: log, atomically: true, encoding: .utf8)
        let spec = ProcessSpec(argv: ["/bin/sh", "-c", "echo out; echo err >&2"], environment: [:], logPath: log)
        _ = try await run(spec, timeout: nil)
        _ = try await run(spec, timeout: nil)
        #expect(contents(of: log) == "earlier\nout\nerr\nout\nerr\n")
    }

    @Test func missingExecutableIsNamed() async throws {
        for program in ["python9-gantry-missing", "/nonexistent/python9"] {
            let error = try #require(throws: SpawnError.self) {
                _ = try ChildProcess.spawn(ProcessSpec(argv: [program, "-V"], environment: basicEnvironment))
            }
            #expect(error.code == ENOENT)
            #expect(
                error.description
                    == (program.hasPrefix("/")
                        ? "cannot start \(program): No such file or directory"
                        : "cannot start \(program): no executable of that name in the PATH it is given"))
        }
    }

    @Test func missingWorkingDirectoryIsNamed() async throws {
        let missing = "/nonexistent/work"
        let error = try #require(throws: SpawnError.self) {
            _ = try ChildProcess.spawn(ProcessSpec(argv: ["/bin/true"], environment: [:], workingDirectory: missing))
        }
        #expect(error.description == "cannot start /bin/true: \(missing): No such file or directory")
    }

    @Test func timeoutKillsChild() async throws {
        let result = try await run(ProcessSpec(argv: ["sleep", "30"], environment: [:]), timeout: .milliseconds(200))
        #expect(result.timedOut)
        #expect(result.status == .signaled(SIGKILL))
    }

    @Test func cancellationKillsChild() async throws {
        let dir = makeTemporaryDirectory("processes-tests")
        let pidFile = dir + "/pid"
        let spec = ProcessSpec(
            argv: [
                "/bin/sh", "-c", "echo $$ > \"$1.tmp\" && mv \"$1.tmp\" \"$1\" && exec sleep 30",
                "sh", pidFile,
            ], environment: basicEnvironment)
        let task = Task { try await run(spec, timeout: nil) }
        try await eventually("the shell wrote its pid", timeout: .seconds(15)) { !contents(of: pidFile).isEmpty }
        let pid = try #require(Int32(contents(of: pidFile).trimmingCharacters(in: .whitespacesAndNewlines)))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // run reaps the child before throwing, so the pid is free again.
        #expect(ProcessIdentity.of(pid: pid) == nil)
    }
}

@Suite struct ChildProcessTests {
    @Test func terminateDeliversSigterm() async throws {
        let child = try spawnWithSigtermSuppressed(ProcessSpec(argv: ["sleep", "30"], environment: [:]))
        #expect(ProcessIdentity.of(pid: child.pid)?.isRunning == true)
        let status = await child.terminate(grace: .seconds(20))
        #expect(status == .signaled(SIGTERM))
        #expect(status.description == "killed by SIGTERM (15)")
    }

    @Test func waitReportsTheSameStatusToEveryCaller() async throws {
        let child = try ChildProcess.spawn(ProcessSpec(argv: ["/bin/sh", "-c", "exit 7"], environment: [:]))
        async let first = child.wait()
        async let second = child.wait()
        let statuses = await [first, second, child.wait()]
        #expect(statuses == [.exited(7), .exited(7), .exited(7)])
        #expect(child.exitStatus == .exited(7))
        #expect(await child.terminate(grace: .seconds(1)) == .exited(7))
    }

    @Test func terminateEscalatesToSigkill() async throws {
        let ready = makeTemporaryDirectory("processes-tests") + "/ready"
        let child = try ChildProcess.spawn(
            ProcessSpec(argv: ["/bin/sh", "-c", "trap '' TERM; echo > \"$0\"; sleep 30", ready], environment: basicEnvironment))
        // The shell says when its trap is installed; before that SIGTERM alone would do.
        try await eventually("the shell installed its trap", timeout: .seconds(15)) { FileManager.default.fileExists(atPath: ready) }
        #expect(await child.terminate(grace: .milliseconds(300)) == .signaled(SIGKILL))
    }

    @Test func terminateReachesGrandchildren() async throws {
        let dir = makeTemporaryDirectory("processes-tests")
        let pidFile = dir + "/grandchild.pid"
        let script = """
            import os, subprocess, sys
            p = subprocess.Popen(["sleep", "60"])
            with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(p.pid))
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            p.wait()
            """
        let child = try ChildProcess.spawn(
            ProcessSpec(argv: [python, "-c", script, pidFile], environment: basicEnvironment))
        try await eventually("the child wrote its child's pid", timeout: .seconds(15)) { !contents(of: pidFile).isEmpty }
        let grandchildPid = try #require(Int32(contents(of: pidFile)))
        let grandchild = try #require(ProcessIdentity.of(pid: grandchildPid))
        #expect(grandchild.isRunning)

        #expect(await child.terminate(grace: .seconds(20)) == .signaled(SIGTERM))
        // The orphan is reaped by whoever adopts it; until then it may linger as a zombie.
        try await eventually("the orphaned grandchild is gone", timeout: .seconds(15)) { !grandchild.isRunning }
    }
}

@Suite struct DetachedTests {
    @Test func detachedChildRunsInItsOwnSessionUntilStopped() async throws {
        let identity = try spawnDetached(ProcessSpec(argv: ["sleep", "30"], environment: [:]))
        #expect(identity.isRunning)
        #expect(getsid(identity.pid) == identity.pid)
        #expect(getsid(identity.pid) != getsid(0))
        #expect(getpgid(identity.pid) == identity.pid)

        #expect(await stop(identity, grace: .seconds(20)))
        #expect(!identity.isRunning)
        // stop reaps its own detached zombie, so nothing is left in /proc.
        #expect(ProcessIdentity.of(pid: identity.pid) == nil)
    }

    @Test func stopEscalatesWhenSigtermIsIgnored() async throws {
        // The shell notes each SIGTERM and carries on, so once it is gone
        // only the SIGKILL after the grace period can have ended it.
        let dir = makeTemporaryDirectory("processes-tests")
        let script = "trap 'echo term >> \"$0/terms\"' TERM; echo > \"$0/ready\"; while :; do sleep 0.05; done"
        let identity = try spawnDetached(ProcessSpec(argv: ["/bin/sh", "-c", script, dir], environment: basicEnvironment))
        defer { if identity.isRunning { kill(-identity.pid, SIGKILL) } }  // if the wait below gives up
        try await eventually("the shell installed its trap", timeout: .seconds(15)) { FileManager.default.fileExists(atPath: dir + "/ready") }
        #expect(await stop(identity, grace: .milliseconds(300)))
        #expect(!identity.isRunning)
        #expect(contents(of: dir + "/terms").contains("term"), "SIGTERM came first and was survived")
    }

    @Test func stopOfAnExitedProcessSucceeds() async throws {
        let identity = try spawnDetached(ProcessSpec(argv: ["true"], environment: [:]))
        try await eventually("the process exited", timeout: .seconds(15)) { !identity.isRunning }
        #expect(await stop(identity, grace: .seconds(1)))
        #expect(ProcessIdentity.of(pid: identity.pid) == nil)
    }
}

@Suite struct IdentityTests {
    @Test func identityOfDeadPidIsNil() async throws {
        let child = try ChildProcess.spawn(ProcessSpec(argv: ["true"], environment: [:]))
        #expect(await child.wait() == .exited(0))
        #expect(ProcessIdentity.of(pid: child.pid) == nil)
        #expect(ProcessIdentity.of(pid: -1) == nil)
    }

    @Test func identityDistinguishesReusedPid() throws {
        let me = try #require(ProcessIdentity.of(pid: getpid()))
        #expect(me.isRunning)
        #expect(ProcessIdentity.of(pid: getpid()) == me)
        #expect(!ProcessIdentity(pid: me.pid, startTime: me.startTime + 1).isRunning)
        let decoded = try JSONDecoder().decode(ProcessIdentity.self, from: JSONEncoder().encode(me))
        #expect(decoded == me)
    }

    @Test func statParsingSurvivesAwkwardCommandNames() throws {
        let line = "42 (a) b (c) R 1 42 42 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0\n"
        let stat = try #require(ProcStat.parse(ArraySlice(Array(line.utf8))))
        #expect(stat.state == UInt8(ascii: "R"))
        #expect(stat.parent == 1)
        #expect(stat.session == 42)
        #expect(stat.startTime == 987654)
    }
}

/// A gated child runs only once its gate opens, as the same process; with
/// the gate dropped (its spawner died before recording it) it runs nothing.
@Suite struct GatedSpawnTests {
    func spec(_ marker: String) -> ProcessSpec {
        ProcessSpec(
            argv: ["python3", "-c", "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid()))", marker],
            environment: basicEnvironment)
    }

    @Test func anOpenedGateRunsTheProgramAsTheSameProcess() async throws {
        let marker = makeTemporaryDirectory("gate") + "/ran"
        let (identity, gate) = try spawnDetachedGated(spec(marker), trampoline: gantryExecutable)
        // Until the gate opens the process is the trampoline, waiting (once
        // it has been exec'd: right after the spawn it may still be the
        // copy of this test process that becomes it).
        try await eventually("the trampoline waits at the gate") {
            String(decoding: FileManager.default.contents(atPath: "/proc/\(identity.pid)/cmdline") ?? Data(), as: UTF8.self).contains("gate")
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(!FileManager.default.fileExists(atPath: marker), "nothing runs before the gate opens")
        gate.open()
        try await eventually("the program ran") { FileManager.default.fileExists(atPath: marker) }
        #expect(contents(of: marker) == "\(identity.pid)", "the program is the spawned process itself")
        #expect(await stop(identity, grace: .seconds(2)))
    }

    @Test func aDroppedGateRunsNothing() async throws {
        let marker = makeTemporaryDirectory("gate") + "/ran"
        var identity: ProcessIdentity?
        do {
            let (spawned, _) = try spawnDetachedGated(spec(marker), trampoline: gantryExecutable)
            identity = spawned
        }
        let spawned = try #require(identity)
        try await eventually("the gated child exits") { !spawned.isRunning }
        #expect(!FileManager.default.fileExists(atPath: marker))
        _ = await stop(spawned, grace: .seconds(1))
    }
}
