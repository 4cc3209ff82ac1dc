import Foundation
import Lineage
import Processes

/// Directories travel between the controller and a node as tar archives,
/// written and read by `tar` (run by argv, never through a shell). The
/// archive is reproducible (sorted names, fixed times and owners), so the
/// same files give the same blob digest and are sent once.
///
///     let blob = try await Tarball.pack(directory: checkout, into: checkout + ".tar")
///     try await Tarball.unpack(blob, into: "/var/lib/gantry-agent/checkouts/1a2b…")
enum Tarball {
    /// Packs the contents of `directory` into `archive` (written to a
    /// temporary name and renamed) and returns the archive's digest.
    @discardableResult
    static func pack(directory: String, into archive: String) async throws -> String {
        if FileManager.default.fileExists(atPath: archive) { return "sha256:" + (try Digest.sha256(file: archive)) }
        let temporary = archive + ".partial-\(getpid())"
        try await tar(
            [
                "-c", "-f", temporary, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
                "-C", directory, ".",
            ], log: archive + ".log")
        if rename(temporary, archive) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
        return "sha256:" + (try Digest.sha256(file: archive))
    }

    /// Unpacks `archive` into `directory` unless it exists already; a
    /// half-unpacked directory is never seen under its name.
    static func unpack(_ archive: String, into directory: String) async throws {
        guard !FileManager.default.fileExists(atPath: directory) else { return }
        let temporary = directory + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        do {
            try await tar(["-x", "-f", archive, "--no-same-owner", "-C", temporary], log: temporary + ".log")
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        try? FileManager.default.removeItem(atPath: temporary + ".log")
        if rename(temporary, directory) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
    }

    static func tar(_ arguments: [String], log: String) async throws {
        try? FileManager.default.removeItem(atPath: log)
        let result = try await Processes.run(
            ProcessSpec(
                argv: ["tar"] + arguments, environment: Workspace.baseEnvironment(),
                logPath: log), timeout: .seconds(600))
        let output = (try? String(contentsOfFile: log, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        try? FileManager.default.removeItem(atPath: log)
        guard result.status.succeeded else {
            throw DriverError("tar \(arguments.first ?? "") \(result.status)" + (output.isEmpty ? "" : ": \(output)"))
        }
    }
}
