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
                out += "| `\(d.file)` | \(d.line):\(d.column) | `\(d.field)` | \(Self.markdownEscape(d.message)) |\n"
            }
            return out
        }
        if actions.isEmpty {
            out += "No changes: everything matches Git.\n"
        } else {
            out += Self.markdownTable(actions)
        }
        if !warnings.isEmpty {
            out += "\n**Warnings**\n\n" + warnings.map { "- \(Self.markdownEscape($0))\n" }.joined()
        }
        if !inSync.isEmpty {
            out += "\n<details><summary>\(inSync.count) in sync</summary>\n\n" + inSync.map { "- \(Self.markdownEscape($0))\n" }.joined() + "\n</details>\n"
        }
        return out
    }

    /// Actions as a markdown table: action, object, version, reason.
    public static func markdownTable(_ actions: [Action]) -> String {
        var out = "| action | object | version | reason |\n|---|---|---|---|\n"
        for a in actions {
            let version = a.kind == .deploy ? "\(a.fromVersion.map { "v\($0) → " } ?? "")v\(a.version ?? 0)" : (a.version.map { "v\($0)" } ?? "")
            out += "| \(a.kind.rawValue) | `\(a.object)` | \(version) | \(markdownEscape(a.reason)) |\n"
        }
        return out
    }

    /// Text safe in a markdown table cell.
    public static func markdownEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
