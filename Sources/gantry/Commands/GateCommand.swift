import ArgumentParser
import Foundation
import Glibc

/// The start of a gated process (`spawnDetachedGated`): waits until the
/// process that spawned it has recorded it, then becomes the program. If
/// that process dies first, nothing runs.
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Wait on descriptor 3, then exec PROGRAM with ARGV (started by gantry itself).",
        shouldDisplay: false)

    @Argument(help: "The program to exec, as a path.")
    var program: String

    @Argument(parsing: .postTerminator, help: "Its argv, argv[0] included.")
    var argv: [String] = []

    func run() throws {
        var byte: UInt8 = 0
        let got = read(3, &byte, 1)
        close(3)
        // End of file: whoever spawned this died before it recorded it.
        guard got == 1, !argv.isEmpty else { throw ExitCode(0) }
        let args = argv.map { strdup($0) } + [nil]  // exec replaces this process; nothing to free
        execv(program, args)
        printError("gantry gate: cannot exec \(program): \(String(cString: strerror(errno)))")
        throw ExitCode(127)
    }
}
