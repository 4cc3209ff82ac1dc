import Foundation
import Lineage
import Manifests
import Planner

extension Review {
    /// The first line of the markdown report; `gantry pr comment` finds its
    /// earlier comment by it and reads the head commit and result from it.
    public static let marker = "<!-- gantry:plan"

    public var markerLine: String { "\(Self.marker) head=\(head.commit) result=\(result.rawValue) -->" }

    public var summary: String {
        switch result {
        case .invalid: return "invalid: \(diagnostics.count) error\(diagnostics.count == 1 ? "" : "s")"
        case .nothing: return "nothing to do"
        case .changes:
            return "\(actions.count) action\(actions.count == 1 ? "" : "s"), \(objectChanges.count) object\(objectChanges.count == 1 ? "" : "s") changed"
        }
    }

    public var text: String {
        var out = "Plan \(base.commit.prefix(12)) -> \(head.commit.prefix(12)) (\(head.subject)): \(summary)\n"
        if let plannedAgainst { out += "Planned against \(plannedAgainst).\n" }
        if !diagnostics.isEmpty {
            out += "\nThe head revision is invalid; merging it would apply nothing:\n"
            for d in diagnostics { out += "  \(d)\n" }
        }
        if !actions.isEmpty {
            out += "\nMerging would:\n"
            for a in actions { out += "  \(a.summary)\n" }
        }
        if !pinChanges.isEmpty {
            out += "\nPinned versions:\n"
            for p in pinChanges {
                out += "  \(p.deployment): \(p.model) \(p.from.map { "v\($0)" } ?? "(new)") -> v\(p.to)"
                out += "  \(Self.metrics(p.fromMetrics, p.toMetrics))\n"
            }
        }
        if !inputChanges.isEmpty {
            out += "\nWhy models retrain:\n"
            for i in inputChanges {
                out += "  \(i.model): \(i.changes.joined(separator: "; "))\n"
                for c in i.codeCommits { out += "    \(c.id.prefix(12)) \(c.subject) (\(c.author))\n" }
            }
        }
        if !dataChanges.isEmpty {
            out += "\nData a retraining reads, against the latest version's snapshot:\n"
            for d in dataChanges {
                out += "  \(d.model) (since v\(d.since)):\n"
                for f in d.files {
                    out += "    \(f.summary)\n"
                    for row in f.addedRows ?? [] { out += "      + \(row)\n" }
                    for row in f.removedRows ?? [] { out += "      - \(row)\n" }
                }
            }
        }
        if !objectChanges.isEmpty {
            out += "\nManifest changes:\n"
            for o in objectChanges {
                out += "  \(o.change.rawValue) \(o.object) (\(o.file))\n"
                if o.change == .modified {
                    for f in o.fields { out += "    \(f.field): \(f.before ?? "unset") -> \(f.after ?? "unset")\n" }
                }
            }
        }
        for w in warnings { out += "\nwarning: \(w)" }
        return out + (warnings.isEmpty ? "" : "\n")
    }

    public var markdown: String {
        var out = markerLine + "\n"
        out += "### Gantry plan: `\(base.commit.prefix(12))` → `\(head.commit.prefix(12))`\n\n"
        out += "**\(summary)**. Head: _\(md(head.subject))_ by \(md(head.author)).\n"
        if let plannedAgainst { out += "\nPlanned against \(md(plannedAgainst)).\n" }
        if !diagnostics.isEmpty {
            out += "\n#### Validation errors\n\nMerging this would apply nothing until these are fixed.\n\n| file | line | field | error |\n|---|---|---|---|\n"
            for d in diagnostics { out += "| \(code(d.file)) | \(d.line):\(d.column) | \(code(d.field)) | \(md(d.message)) |\n" }
        }
        if !actions.isEmpty {
            out += "\n#### What merging would do\n\n" + Plan.markdownTable(actions)
        }
        if !pinChanges.isEmpty {
            out += "\n#### Pinned versions\n\n| deployment | model | from | to | metrics (from → to) | gates |\n|---|---|---|---|---|---|\n"
            for p in pinChanges {
                out +=
                    "| \(code(p.deployment)) | \(code(p.model)) | \(p.from.map { "v\($0)" } ?? "new") | v\(p.to)\(p.toMetrics == nil ? " (not trained yet)" : "") | \(md(Self.metrics(p.fromMetrics, p.toMetrics))) | \(md(p.toGates ?? "")) |\n"
            }
            for p in pinChanges { if let l = p.toLineage { out += "\n" + lineageDetails(p, l) } }
        }
        if !inputChanges.isEmpty {
            out += "\n#### Why models retrain\n\n"
            for i in inputChanges {
                out += "- **\(i.model)**: \(md(i.changes.joined(separator: "; ")))\n"
                for c in i.codeCommits { out += "  - `\(c.id.prefix(12))` \(md(c.subject)) (\(md(c.author)))\n" }
            }
        }
        if !dataChanges.isEmpty {
            out += "\n#### Data a retraining reads\n\nAgainst the snapshot of each model's latest version.\n\n"
            for d in dataChanges {
                out += "- **\(d.model)** (since v\(d.since))\n"
                for f in d.files {
                    out += "  - \(md(f.summary))\n"
                    for row in f.addedRows ?? [] { out += "    - `+ \(row.replacingOccurrences(of: "`", with: "'"))`\n" }
                    for row in f.removedRows ?? [] { out += "    - `- \(row.replacingOccurrences(of: "`", with: "'"))`\n" }
                }
            }
        }
        if !objectChanges.isEmpty {
            out += "\n#### Manifest changes\n\n"
            for o in objectChanges {
                let n = o.fields.count
                out += "<details><summary>\(o.change.rawValue) <code>\(o.object)</code> in <code>\(o.file)</code>"
                out += o.change == .removed ? "" : " (\(n) field\(n == 1 ? "" : "s"))"
                out += "</summary>\n\n"
                if !o.fields.isEmpty {
                    out += "| field | base | head |\n|---|---|---|\n"
                    for f in o.fields { out += "| \(code(f.field)) | \(cell(f.before)) | \(cell(f.after)) |\n" }
                }
                out += "\n</details>\n"
            }
        }
        if !warnings.isEmpty {
            out += "\n#### Warnings\n\n" + warnings.map { "- \(md($0))\n" }.joined()
        }
        return out
    }

    func lineageDetails(_ p: PinChange, _ l: Lineage) -> String {
        var rows = "| input | value |\n|---|---|\n"
        rows += "| commit | `\(l.commit.prefix(12))` |\n| code | \(code(l.codePath)) tree `\(l.codeTree.prefix(12))` |\n"
        for (k, v) in l.datasets.sorted(by: { $0.key < $1.key }) { rows += "| dataset \(code(k)) | \(code(v)) |\n" }
        for (k, v) in l.params.sorted(by: { $0.key < $1.key }) { rows += "| param \(code(k)) | \(code("\(v)")) |\n" }
        return "<details><summary>Lineage of <code>\(p.model)@v\(p.to)</code></summary>\n\n\(rows)\n</details>\n"
    }

    static func metrics(_ from: [String: Double]?, _ to: [String: Double]?) -> String {
        let names = Set((from ?? [:]).keys).union((to ?? [:]).keys).sorted()
        if names.isEmpty { return "" }
        return names.map { n in
            let f = from?[n].map { String(format: "%g", $0) } ?? "–"
            let t = to?[n].map { String(format: "%g", $0) } ?? "–"
            return "\(n) \(f) → \(t)"
        }.joined(separator: "; ")
    }

    func cell(_ s: String?) -> String { s.map(code) ?? "_unset_" }
    func code(_ s: String) -> String { Plan.markdownCode(s) }

    func md(_ s: String) -> String { Plan.markdownEscape(s) }
}
