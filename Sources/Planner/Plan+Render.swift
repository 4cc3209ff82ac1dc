import Foundation
import Manifests

extension Plan {
    /// The plan for a terminal.
    public var text: String {
        var out = "Revision \(revision.commit.prefix(12)) by \(revision.author): \(revision.subject)\n"
        if !isValid {
            out += "\nThe revision is invalid; nothing will be applied, and what runs stays as it is:\n"
            for d in diagnostics { out += "  \(d)\n" }
            return out
        }
        if actions.isEmpty {
            out += "\nNo changes: everything matches Git.\n"
        } else {
            out += "\n\(actions.count) action\(actions.count == 1 ? "" : "s"):\n"
            for a in actions { out += "  \(a.summary)\n" }
        }
        if !warnings.isEmpty {
            out += "\nWarnings:\n"
            for w in warnings { out += "  \(w)\n" }
        }
        if !inSync.isEmpty {
            out += "\nIn sync:\n"
            for s in inSync { out += "  \(s)\n" }
        }
        return out
    }

    /// The plan for a pull request or a wiki.
    public var markdown: String {
        var out = "### Gantry plan for `\(revision.commit.prefix(12))`\n\n"
        out += "_\(revision.subject)_ by \(revision.author)\n\n"
        if !isValid {
            out += "**Invalid revision**: nothing will be applied.\n\n| file | line | field | error |\n|---|---|---|---|\n"
            for d in diagnostics {
                out += "| `\(d.file)` | \(d.line):\(d.column) | `\(d.field)` | \(escape(d.message)) |\n"
            }
            return out
        }
        if actions.isEmpty {
            out += "No changes: everything matches Git.\n"
        } else {
            out += "| action | object | version | reason |\n|---|---|---|---|\n"
            for a in actions {
                let version = a.kind == .deploy ? "\(a.fromVersion.map { "v\($0) → " } ?? "")v\(a.version ?? 0)" : (a.version.map { "v\($0)" } ?? "")
                out += "| \(a.kind.rawValue) | `\(a.object)` | \(version) | \(escape(a.reason)) |\n"
            }
        }
        if !warnings.isEmpty {
            out += "\n**Warnings**\n\n" + warnings.map { "- \(escape($0))\n" }.joined()
        }
        if !inSync.isEmpty {
            out += "\n<details><summary>\(inSync.count) in sync</summary>\n\n" + inSync.map { "- \(escape($0))\n" }.joined() + "\n</details>\n"
        }
        return out
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
