/// Paths that a manifest writes relative to a base (the project checkout, a
/// step's output directory): they must stay under it, so that a pull request
/// cannot point Gantry at the machine's own files (`artifact.path:
/// ../../../../etc/passwd`). Checked by their text alone, at validation;
/// the drivers check again on disk, where a symbolic link could lead out.
///
///     ProjectPath.problem("../secrets", base: "the project")  // "leaves the project (..)"
enum ProjectPath {
    static func problem(_ path: String, base: String, absoluteAllowed: Bool = false) -> String? {
        if path.isEmpty { return "an empty path; write \".\" for \(base) itself" }
        if path.utf8.contains(0) { return "a path cannot contain a NUL character" }
        if path.hasPrefix("/") {
            return absoluteAllowed ? nil : "\"\(path.clipped)\" is absolute; write it relative to \(base)"
        }
        var depth = 0
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                depth -= 1
                if depth < 0 { return "\"\(path.clipped)\" leaves \(base) (..)" }
            default: depth += 1
            }
        }
        return nil
    }
}
