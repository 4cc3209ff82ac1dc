import YAML

/// A process's argv. Never a string: no shell ever runs a Gantry command, so
/// there is no quoting to get wrong and nothing to inject.
public struct Command: Sendable, Hashable, Codable {
    public var argv: [String]

    public init(_ argv: [String]) { self.argv = argv }

    public init(from decoder: any Decoder) throws {
        if let node = decoder.yamlNode, case .scalar(let text, _) = node.kind, !node.isNull {
            let suggestion = text.split(separator: " ").map { "\"\($0)\"" }.joined(separator: ", ")
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a command is a list of arguments, not a string: no shell runs it; write [\(suggestion)]"))
        }
        argv = try [String](from: decoder)
        if argv.isEmpty {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a command needs at least the program to run"))
        }
    }

    public func encode(to encoder: any Encoder) throws { try argv.encode(to: encoder) }
}
