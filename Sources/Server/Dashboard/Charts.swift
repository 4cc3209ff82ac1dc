import Foundation
import Lineage

/// SVG drawn on the server: a model's metrics across its versions and its
/// lineage graph. Plain shapes and text, so they need no script and print.
enum Charts {
    static let colors = ["#2457c5", "#17813d", "#a15c00", "#b42318", "#6b3fa0", "#0f7b8a"]

    /// One small chart per metric: the value of each version, in order.
    static func metrics(_ versions: [VersionView]) -> String {
        let names = Set(versions.flatMap { $0.metrics.keys }).sorted()
        guard !names.isEmpty else { return "<p class=\"muted\">No metrics recorded yet.</p>" }
        return "<div class=\"charts\">"
            + names.enumerated().map { index, name in
                let points = versions.compactMap { v in v.metrics[name].map { (v.number, $0) } }
                return metricChart(name: name, points: points, color: colors[index % colors.count])
            }.joined(separator: "\n") + "</div>"
    }

    static func metricChart(name: String, points: [(Int, Double)], color: String) -> String {
        let width = 560.0
        let height = 200.0
        let top = 28.0
        let bottom = 30.0
        let values = points.map(\.1)
        var low = values.min() ?? 0
        var high = values.max() ?? 1
        if low == high {
            low -= 0.5 * max(abs(low), 1) * 0.1
            high += 0.5 * max(abs(high), 1) * 0.1
        }
        // Margins that hold the axis labels: the widest value on the left,
        // half the widest version number on the right.
        let ticks = [low, high].map(format)
        let left = max(40, 12 + ticks.map { textWidth($0, size: 11) }.max()!)
        let labelWidth = textWidth("v\(points.map(\.0).max() ?? 1)", size: 11)
        let right = max(16, labelWidth / 2 + 4)
        let plotW = width - left - right
        let plotH = height - top - bottom
        func x(_ i: Int) -> Double { points.count == 1 ? left + plotW / 2 : left + plotW * Double(i) / Double(points.count - 1) }
        func y(_ v: Double) -> Double { top + plotH * (1 - (v - low) / (high - low)) }
        // Every k-th version is labelled, counting back from the latest, so
        // that neighbouring labels keep a gap.
        let spacing = points.count > 1 ? plotW / Double(points.count - 1) : plotW
        let every = max(1, Int(((labelWidth + 8) / spacing).rounded(.up)))
        var svg =
            "<svg class=\"chart\" role=\"img\" aria-label=\"\(name.html) by version\" width=\"\(Int(width))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg +=
            "<text x=\"\(fmt(left))\" y=\"18\" font-size=\"13\" font-weight=\"600\" fill=\"#1d2430\">"
            + fit(name, width: width - left - 4, size: 13, bold: true).html + "<title>\(name.html)</title></text>"
        svg += "<line x1=\"\(fmt(left))\" y1=\"\(top)\" x2=\"\(fmt(left))\" y2=\"\(top + plotH)\" stroke=\"#dde2ea\"/>"
        svg += "<line x1=\"\(fmt(left))\" y1=\"\(top + plotH)\" x2=\"\(fmt(width - right))\" y2=\"\(top + plotH)\" stroke=\"#dde2ea\"/>"
        for (v, label) in zip([low, high], ticks) {
            svg += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y(v) + 4))\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6575\">\(label)</text>"
        }
        let path = points.enumerated().map { i, p in "\(fmt(x(i))),\(fmt(y(p.1)))" }.joined(separator: " ")
        if points.count > 1 { svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>" }
        for (i, p) in points.enumerated() {
            svg += "<circle cx=\"\(fmt(x(i)))\" cy=\"\(fmt(y(p.1)))\" r=\"4\" fill=\"\(color)\"><title>v\(p.0): \(name.html) = \(format(p.1))</title></circle>"
            if (points.count - 1 - i) % every == 0 {
                svg += "<text x=\"\(fmt(x(i)))\" y=\"\(height - 10)\" font-size=\"11\" text-anchor=\"middle\" fill=\"#5b6575\">v\(p.0)</text>"
            }
        }
        return svg + "</svg>"
    }

    /// The lineage graph: each version, fed by the inputs that made it
    /// differ from its parent (every input, for the first), and linked to
    /// the version it follows.
    static func lineage(_ versions: [VersionView], lineages: [Int: Lineage]) -> String {
        guard !versions.isEmpty else { return "<p class=\"muted\">No versions yet.</p>" }
        let column = 230.0
        let box = 24.0
        let gap = 8.0
        var inputs: [[String]] = []
        var previous: Lineage?
        for v in versions {
            let lineage = lineages[v.number]
            if let lineage, let previous {
                let changes = lineage.changes(since: previous, triggers: nil)
                inputs.append(changes.isEmpty ? ["retrained (same inputs)"] : changes)
            } else if let lineage {
                inputs.append(
                    lineage.datasets.sorted { $0.key < $1.key }.map { "dataset \($0.key) \($0.value.prefix(19))" }
                        + ["code \(lineage.codePath) @ \(lineage.codeTree.prefix(12))"]
                        + lineage.params.sorted { $0.key < $1.key }.map { "param \($0.key) = \($0.value)" })
            } else {
                inputs.append(["lineage not recorded"])
            }
            previous = lineage ?? previous
        }
        let rows = Double(inputs.map(\.count).max() ?? 1)
        let versionY = 12 + rows * (box + gap) + 30
        let width = column * Double(versions.count) + 20
        let height = versionY + 56
        var svg =
            "<svg class=\"lineage\" role=\"img\" aria-label=\"lineage graph\" width=\"\(Int(width))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg +=
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#5b6575\"/></marker></defs>"
        for (i, v) in versions.enumerated() {
            let x = 10 + column * Double(i)
            let centre = x + (column - 20) / 2
            for (j, text) in inputs[i].enumerated() {
                let y = 12 + Double(j) * (box + gap)
                svg += "<line x1=\"\(fmt(centre))\" y1=\"\(fmt(y + box))\" x2=\"\(fmt(centre))\" y2=\"\(fmt(versionY))\" stroke=\"#dde2ea\"/>"
                svg +=
                    "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(column - 20))\" height=\"\(fmt(box))\" rx=\"4\" fill=\"#f6f7f9\" stroke=\"#dde2ea\"/>"
                svg +=
                    "<text x=\"\(fmt(x + 6))\" y=\"\(fmt(y + 16))\" font-size=\"11\" fill=\"#1d2430\">\(fit(text, width: column - 32, size: 11).html)<title>\(text.html)</title></text>"
            }
            let served = v.servedBy.isEmpty ? "" : " · serves \(v.servedBy.joined(separator: ", "))"
            svg +=
                "<rect x=\"\(fmt(x))\" y=\"\(fmt(versionY))\" width=\"\(fmt(column - 20))\" height=\"40\" rx=\"6\" fill=\"#fff\" stroke=\"\(v.gatesPassed ? "#17813d" : "#b42318")\" stroke-width=\"2\"/>"
            svg +=
                "<text x=\"\(fmt(x + 8))\" y=\"\(fmt(versionY + 17))\" font-size=\"13\" font-weight=\"700\" fill=\"#1d2430\">"
                + fit("\(v.model) v\(v.number)", width: column - 36, size: 13, bold: true).html + "<title>\(v.model.html) v\(v.number)</title></text>"
            svg +=
                "<text x=\"\(fmt(x + 8))\" y=\"\(fmt(versionY + 33))\" font-size=\"11\" fill=\"#5b6575\">"
                + fit(String(v.digest.dropFirst(7).prefix(12)) + served, width: column - 36, size: 11).html + "<title>\(served.html)</title></text>"
            if i > 0 {
                svg +=
                    "<line x1=\"\(fmt(x - 20))\" y1=\"\(fmt(versionY + 20))\" x2=\"\(fmt(x - 1))\" y2=\"\(fmt(versionY + 20))\" stroke=\"#5b6575\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>"
            }
        }
        return svg + "</svg>"
    }

    static func format(_ v: Double) -> String { String(format: "%g", v) }

    /// How wide `text` is drawn at `size` px, erring wide: DejaVu Sans (the
    /// usual sans-serif on Linux) averages about 0.6 em a character, its
    /// digits 0.64 em; bold is wider.
    static func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
        Double(text.count) * size * (bold ? 0.72 : 0.66)
    }

    /// `text`, cut with an ellipsis to what `width` holds (the whole text
    /// stays in the element's tooltip).
    static func fit(_ text: String, width: Double, size: Double, bold: Bool = false) -> String {
        guard textWidth(text, size: size, bold: bold) > width else { return text }
        let keep = max(1, Int(width / textWidth("x", size: size, bold: bold)) - 1)
        return String(text.prefix(keep)) + "…"
    }
    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
}
