import Foundation
import GantryTestSupport
import Testing

@testable import StableAddress

#if canImport(Glibc)
    import Glibc
#endif

/// glibc 2.34+ has it, but only under _GNU_SOURCE, which Swift's Glibc module
/// does not define; look it up at run time instead.
private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
private let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
    .map { unsafeBitCast($0, to: CloseFrom.self) }

private enum Exit: Equatable {
    case code(Int32)
    case signal(Int32)
}

/// A child started with posix_spawn. Only descriptors 0-2 are passed on, so
/// the child cannot hold test sockets open and skew other tests' EOFs.
private final class Child: Sendable {
    let pid: pid_t

    init(_ path: String, _ arguments: [String], stderrPath: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(closeFrom != nil, "posix_spawn_file_actions_addclosefrom_np unavailable")
        _ = closeFrom?(&actions, 3)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?] = [nil]
        var child = pid_t()
        let rc = posix_spawn(&child, path, &actions, nil, argv, &envp)
        guard rc == 0 else { throw StableAddressError.system(operation: "posix_spawn \(path)", errno: rc) }
        pid = child
    }

    func send(_ signo: Int32) { Glibc.kill(pid, signo) }

    /// Polls without blocking a concurrency thread; nil if still running.
    func exit(within seconds: Double) async -> Exit? {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        while true {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                return status & 0x7f == 0 ? .code((status >> 8) & 0xff) : .signal(status & 0x7f)
            }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Cleanup after a failed expectation: stop the child we started and reap it.
    func kill() async {
        if await exit(within: 0) == nil {
            send(SIGKILL)
            _ = await exit(within: 10)
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct RunProcessTests {
    @Test func runServesSurvivesSIGHUPAndExitsCleanlyOnSIGTERM() async throws {
        let path = gantryExecutable  // its hidden `forward` verb calls `Forwarder.run`
        try #require(FileManager.default.isExecutableFile(atPath: path), "missing \(path)")
        let a = try TestBackend(.taggedLines("A"))
        let b = try TestBackend(.taggedLines("B"))
        defer {
            a.stop()
            b.stop()
        }
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let control = ForwarderControl(directory: dir + "/control")
        try control.setBackend(a.endpoint)
        let listen = Endpoint(host: "127.0.0.1", port: try freeLoopbackPort())

        let child = try Child(path, ["forward", "--listen", listen.description, "--control", control.directory], stderrPath: dir + "/stderr")
        do {
            try await eventually("the forwarder reports its pid", timeout: .seconds(10)) { control.status()?.pid == child.pid }
        } catch {
            await child.kill()
            throw error
        }
        let exchange = { @Sendable (line: String) async -> String? in
            await blocking {
                guard let c = try? TestClient(listen) else { return nil }
                defer { c.close() }
                return c.send(line + "\n") ? c.readLine() : nil
            }
        }
        #expect(await exchange("one") == "A:one")

        // SIGHUP's default action would kill the process; here it only reloads.
        try control.setBackend(b.endpoint)
        child.send(SIGHUP)
        try await control.waitUntilServing(b.endpoint, timeout: .seconds(10))
        #expect(await exchange("two") == "B:two")
        #expect(control.status()?.pid == child.pid)

        child.send(SIGTERM)
        let exit = await child.exit(within: 10)
        if exit == nil { await child.kill() }
        #expect(exit == .code(0))
        #expect(control.status() == nil, "a clean exit removes status.json")
    }

    @Test func runReportsAddressInUseAndExitsNonZero() async throws {
        let path = gantryExecutable
        try #require(FileManager.default.isExecutableFile(atPath: path), "missing \(path)")
        let (holder, _, dir) = try startForwarder(backend: nil)
        defer {
            holder.stop()
            removeDirectory(dir)
        }
        let other = dir + "/other"
        let child = try Child(path, ["forward", "--listen", holder.endpoint.description, "--control", other], stderrPath: dir + "/stderr")
        let exit = await child.exit(within: 10)
        if exit == nil { await child.kill() }
        #expect(exit == .code(1))
        let log = (try? String(contentsOfFile: dir + "/stderr", encoding: .utf8)) ?? ""
        #expect(log.contains("address \(holder.endpoint) is already in use"), "stderr: \(log)")
    }
}
