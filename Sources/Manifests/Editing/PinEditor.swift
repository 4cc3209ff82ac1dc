import YAML

/// Changes a Deployment's pinned version in a manifest file, touching only
/// the number: comments, order and formatting stay byte for byte, so the
/// write-back commit is a one-line diff a reviewer can read.
///
///     let updated = try PinEditor.setVersion(8, deployment: "churn-prod", in: bytes, file: "deploy.yaml")
public enum PinEditor {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func setVersion(_ version: Int, deployment: String, in bytes: [UInt8], file: String) throws -> [UInt8] {
        let documents = try YAMLParser.parse(bytes, file: file)
        guard
            let root = documents.compactMap(\.root).first(where: {
                $0["kind"]?.scalar == Kind.Deployment.rawValue && $0["metadata"]?["name"]?.scalar == deployment
            })
        else {
            throw Failure(description: "\(file): no Deployment \(deployment)")
        }
        guard let node = root["spec"]?["version"], case .scalar(let old, .plain) = node.kind else {
            throw Failure(description: "\(file): Deployment \(deployment) has no plain spec.version to change")
        }
        // Marks are 1-based lines and columns counted in characters.
        var line = 1
        var start = 0
        while line < node.mark.line, start < bytes.count {
            if bytes[start] == UInt8(ascii: "\n") { line += 1 }
            start += 1
        }
        let lineEnd = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        var text = Array(String(decoding: bytes[start..<lineEnd], as: UTF8.self))
        let column = node.mark.column - 1
        guard column + old.count <= text.count, String(text[column..<(column + old.count)]) == old else {
            throw Failure(description: "\(file):\(node.mark): cannot locate spec.version of \(deployment)")
        }
        text.replaceSubrange(column..<(column + old.count), with: Array(String(version)))
        return Array(bytes[..<start]) + Array(String(text).utf8) + Array(bytes[lineEnd...])
    }
}
