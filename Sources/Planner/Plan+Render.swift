import Foundation
import Manifests

extension Note {
    /// One line: `Deployment/churn-prod: serves churn@3 at 127.0.0.1:8080`.
    public var text: String { "\(object): \(detail)" }

    /// The line without the object.
    public var detail: String {
        switch state {
        case .lineageMatches(let version):
            return "v\(version) matches the current lineage"
        case .serves(let model, let version, let address):
            return "serves \(model)@\(version) at \(address)"
        case .noLineage(let problem):
            return "cannot compute lineage: \(problem)"
        case .suspended(let actor, let reason, let leftUndone):
            return "suspended by \(actor)\(reason.isEmpty ? "" : " (\(reason))"); left alone until resumed, \(leftUndone)"
        case .unsupportedTarget(let capability, let target, let type):
            return "target \(target) is of a type this build cannot \(capability == .train ? "train on" : "serve on") (\(type))"
        case .missingVersion(let model, let version, let latest):
            return "pins \(model)@\(version), which does not exist (\(latest.map { "latest is v\($0)" } ?? "no versions yet"))"
        case .pinnedFailsGates(let model, let version, let report):
            return "pinned \(model)@\(version) fails its gates (\(report)); deploying because Git pins it"
        case .targetUnusable(let action, let target, let problem):
            return "\(action.rawValue) on target \(target) will fail: \(problem)"
        case .directoryArtifact(let target, let model, let version, let path):
            return
                "deploy on sagemaker target \(target) will fail: the artifact of \(model)@v\(version) is a directory (\(path)); SageMaker loads one file, such as a model.tar.gz"
        case .waitsForStage(let from, let version, let why):
            return "takes v\(version) from Deployment/\(from) once \(why)"
        case .held(let model, let version, let previous, let reason, let rollsBack):
            let back =
                rollsBack
                ? (previous.map { "; its targets serve v\($0) again" } ?? "; no version served before it")
                : previous != nil ? "; frozen: its targets stay as they are" : ""
            return "\(model)@\(version) failed its rollout (\(reason))\(back); held: not tried again until Git pins another version or changes the serve spec"
        }
    }
}

extension Plan {
    /// Objects already as Git says, in words.
    public var inSync: [String] { synced.map(\.text) }
    /// What blocks an object without being an action, in words.
    public var warnings: [String] { blocked.map(\.text) }

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
                out += "| \(Self.markdownCode(d.file)) | \(d.line):\(d.column) | \(Self.markdownCode(d.field)) | \(Self.markdownEscape(d.message)) |\n"
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
            let version = "\(a.fromVersion.map { "v\($0) → " } ?? "")v\(a.version)"
            out += "| \(a.kind.rawValue) | \(Self.markdownCode(a.object)) | \(version) | \(markdownEscape(a.reason)) |\n"
        }
        return out
    }

    /// Text safe in a markdown table cell.
    /// `s` as a code span in a table cell, whatever it holds: the fence is
    /// one backtick longer than any run inside (CommonMark), so a backtick
    /// in a command argument cannot close the span and let the rest render
    /// as markdown (links, @mentions). Inside a span nothing else is
    /// interpreted; only the table's `|` and line breaks need care.
    public static func markdownCode(_ s: String) -> String {
        // CR is a line ending to CommonMark too: either would end the row.
        let text = s.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "|", with: "\\|")
        var longest = 0
        var run = 0
        for c in text.unicodeScalars {
            run = c == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = text.hasPrefix("`") || text.hasSuffix("`") || text.isEmpty ? " " : ""
        return fence + pad + text + pad + fence
    }

    /// Free text (a reason, a commit subject, an author) in a table cell
    /// of a pull-request comment: it renders as the same text, never as
    /// markup. Markdown's punctuation is escaped, HTML is made entities,
    /// and `@` gets a zero-width space after it so that no one is mentioned
    /// by a manifest or a commit message.
    public static func markdownEscape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "\n", "\r": out += " "
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "@": out += "@\u{200B}"
            case "\\", "`", "*", "_", "[", "]", "(", ")", "|", "~", "#", "!": out += "\\" + String(c)
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
