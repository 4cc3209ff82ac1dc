import Glibc
import Manifests

/// One input: decoded as a manifest file and assembled with the objects it
/// declares, as `gantry validate` does. A crash, a trap, an overflow or a
/// leak is a finding; any diagnostic is a fine answer.
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let file = ManifestDecoder.decode(path: "fuzz.yaml", bytes: bytes)
    let (set, diagnostics) = ManifestSet.assemble([file])
    // Reading every position makes each diagnostic re-walk its document.
    for d in diagnostics { _ = d.description }
    _ = set.count
    return 0
}

/// libFuzzer's own driver, entered from this executable's main (SwiftPM
/// names the entry point itself, so libFuzzer's main cannot be used).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv) { data, count in fuzzOneInput(data, count) })
