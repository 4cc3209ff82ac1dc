import Foundation
import Manifests

/// Field-level differences between two manifest sets, by object.
enum ManifestDiff {
    static func changes(from base: ManifestSet, to head: ManifestSet) -> [Review.ObjectChange] {
        let before = flatten(base)
        let after = flatten(head)
        var out: [Review.ObjectChange] = []
        for key in Set(before.keys).union(after.keys).sorted(by: order) {
            switch (before[key], after[key]) {
            case (nil, let a?):
                out.append(
                    .init(
                        object: key, file: a.file, change: .added,
                        fields: a.fields.sorted { $0.key < $1.key }.map {
                            .init(field: $0.key, before: nil, after: $0.value)
                        }))
            case (let b?, nil):
                out.append(.init(object: key, file: b.file, change: .removed, fields: []))
            case (let b?, let a?):
                let fields = Set(b.fields.keys).union(a.fields.keys).sorted().compactMap { f -> Review.FieldChange? in
                    b.fields[f] == a.fields[f] ? nil : .init(field: f, before: b.fields[f], after: a.fields[f])
                }
                if !fields.isEmpty { out.append(.init(object: key, file: a.file, change: .modified, fields: fields)) }
            default:
                break
            }
        }
        return out
    }

    /// Kind order (Target, Dataset, Pipeline, Model, Deployment), then name.
    static func order(_ a: String, _ b: String) -> Bool {
        func rank(_ s: String) -> (Int, String) {
            let kind = Kind(rawValue: String(s.prefix { $0 != "/" }))
            return (kind.flatMap { Kind.allCases.firstIndex(of: $0) } ?? 9, s)
        }
        return rank(a) < rank(b)
    }

    struct Flat {
        var file: String
        var fields: [String: String]
    }

    static func flatten(_ set: ManifestSet) -> [String: Flat] {
        var out: [String: Flat] = [:]
        func add<S>(_ table: [String: Entry<S>]) {
            for (name, e) in table {
                out["\(e.object.kind.rawValue)/\(name)"] = Flat(file: e.origin.file, fields: fields(of: e.object))
            }
        }
        add(set.targets)
        add(set.datasets)
        add(set.pipelines)
        add(set.models)
        add(set.deployments)
        return out
    }

    /// `spec.params.epochs` -> `400`, for every leaf of the object.
    static func fields<T: Encodable>(of value: T) -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value), let json = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ node: Any, _ path: String) {
            switch node {
            case let d as [String: Any]:
                if d.isEmpty { out[path] = "{}" }
                for (k, v) in d { walk(v, path.isEmpty ? k : "\(path).\(k)") }
            case let a as [Any]:
                if a.isEmpty { out[path] = "[]" }
                for (i, v) in a.enumerated() { walk(v, "\(path)[\(i)]") }
            default:
                let leaf =
                    (try? JSONSerialization.data(withJSONObject: node, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
                    .map { String(decoding: $0, as: UTF8.self) } ?? "\(node)"
                out[path] = leaf
            }
        }
        walk(json, "")
        out.removeValue(forKey: "apiVersion")
        out.removeValue(forKey: "kind")
        return out
    }
}
