import Foundation

/// One page of a ListObjectsV2 answer:
///
///     <ListBucketResult>
///       <IsTruncated>true</IsTruncated>
///       <Contents><Key>a.csv</Key><ETag>"9b2c…"</ETag><Size>1024</Size>…</Contents>
///       <NextContinuationToken>1ueGc…</NextContinuationToken>
///     </ListBucketResult>
struct S3ListPage {
    var objects: [S3Bucket.Object] = []
    var isTruncated = false
    var nextContinuationToken: String?

    init?(parsing body: [UInt8]) {
        guard let root = S3XMLElement.parse(body), root.name == "ListBucketResult" else { return nil }
        for child in root.children {
            switch child.name {
            case "IsTruncated": isTruncated = child.text == "true"
            case "NextContinuationToken": nextContinuationToken = child.text
            case "Contents":
                guard let key = child["Key"], let etag = child["ETag"], let size = child["Size"].flatMap({ Int64($0) }) else {
                    return nil
                }
                objects.append(.init(key: key, etag: S3Bucket.unquoted(etag), size: size))
            default: break
            }
        }
    }
}

/// The body of a failed S3 request:
/// `<Error><Code>NoSuchBucket</Code><Message>…</Message></Error>`.
struct S3ErrorBody {
    var code: String
    var message: String

    init?(parsing body: [UInt8]) {
        guard let root = S3XMLElement.parse(body), root.name == "Error", let code = root["Code"] else { return nil }
        self.code = code
        message = root["Message"] ?? ""
    }
}

/// An element of an S3 answer: name, text and children; S3's answers need
/// no attributes or namespaces.
///
/// Read by a small XML reader of its own rather than FoundationXML's
/// XMLParser: that one links libxml2 and ICU, which every process would
/// then load at start, for the two kinds of answer read here. It reads
/// well-formed XML (declaration, comments, CDATA, the predefined and
/// numeric character references, attributes skipped) and refuses the rest.
final class S3XMLElement {
    let name: String
    var text = ""
    var children: [S3XMLElement] = []

    init(name: String) { self.name = name }

    /// The text of the first child with this name.
    subscript(child: String) -> String? { children.first { $0.name == child }?.text }

    /// The document's root element, or nil when the body is not well-formed XML.
    static func parse(_ body: [UInt8]) -> S3XMLElement? {
        var reader = Reader(bytes: body)
        return reader.document()
    }

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func starts(with text: String) -> Bool {
            let t = Array(text.utf8)
            return bytes.count - i >= t.count && bytes[i..<(i + t.count)].elementsEqual(t)
        }

        /// Moves past the next `text`; false when there is none.
        mutating func skip(past text: String) -> Bool {
            let t = Array(text.utf8)
            while i + t.count <= bytes.count {
                if bytes[i..<(i + t.count)].elementsEqual(t) {
                    i += t.count
                    return true
                }
                i += 1
            }
            return false
        }

        static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

        /// Declarations, comments and white space, outside the root.
        mutating func skipMisc() -> Bool {
            while i < bytes.count {
                if Self.isSpace(bytes[i]) {
                    i += 1
                } else if starts(with: "<?") {
                    guard skip(past: "?>") else { return false }
                } else if starts(with: "<!--") {
                    guard skip(past: "-->") else { return false }
                } else if starts(with: "<!DOCTYPE") {
                    guard skip(past: ">") else { return false }
                } else {
                    break
                }
            }
            return true
        }

        mutating func document() -> S3XMLElement? {
            guard skipMisc(), i < bytes.count, bytes[i] == UInt8(ascii: "<") else { return nil }
            guard let root = element(), skipMisc(), i == bytes.count else { return nil }
            return root
        }

        /// An element starting at `<`, with everything inside it.
        mutating func element() -> S3XMLElement? {
            i += 1
            let start = i
            while i < bytes.count, !Self.isSpace(bytes[i]), bytes[i] != UInt8(ascii: "/"), bytes[i] != UInt8(ascii: ">") { i += 1 }
            guard i > start else { return nil }
            let node = S3XMLElement(name: String(decoding: bytes[start..<i], as: UTF8.self))
            // Attributes are skipped, quoted values included.
            var quote: UInt8?
            while i < bytes.count {
                let b = bytes[i]
                if let q = quote {
                    if b == q { quote = nil }
                } else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
                    quote = b
                } else if b == UInt8(ascii: ">") {
                    break
                }
                i += 1
            }
            guard i < bytes.count else { return nil }
            if bytes[i - 1] == UInt8(ascii: "/") && quote == nil {
                i += 1
                return node  // <Empty/>
            }
            i += 1
            var text: [UInt8] = []
            while i < bytes.count {
                if starts(with: "</") {
                    i += 2
                    let close = i
                    while i < bytes.count, bytes[i] != UInt8(ascii: ">") { i += 1 }
                    guard i < bytes.count else { return nil }
                    let name = String(decoding: bytes[close..<i], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                    i += 1
                    guard name == node.name else { return nil }
                    node.text = String(decoding: text, as: UTF8.self)
                    return node
                } else if starts(with: "<![CDATA[") {
                    i += 9
                    let from = i
                    guard skip(past: "]]>") else { return nil }
                    text += bytes[from..<(i - 3)]
                } else if starts(with: "<!--") {
                    guard skip(past: "-->") else { return nil }
                } else if starts(with: "<?") {
                    guard skip(past: "?>") else { return nil }
                } else if bytes[i] == UInt8(ascii: "<") {
                    guard let child = element() else { return nil }
                    node.children.append(child)
                } else if bytes[i] == UInt8(ascii: "&") {
                    guard let decoded = reference() else { return nil }
                    text += decoded
                } else {
                    text.append(bytes[i])
                    i += 1
                }
            }
            return nil  // not closed
        }

        /// A character reference at `&`, as UTF-8.
        mutating func reference() -> [UInt8]? {
            guard let end = bytes[i...].firstIndex(of: UInt8(ascii: ";")), end - i <= 12 else { return nil }
            let name = String(decoding: bytes[(i + 1)..<end], as: UTF8.self)
            i = end + 1
            switch name {
            case "amp": return Array("&".utf8)
            case "lt": return Array("<".utf8)
            case "gt": return Array(">".utf8)
            case "quot": return Array("\"".utf8)
            case "apos": return Array("'".utf8)
            default:
                let value: UInt32?
                if name.hasPrefix("#x") {
                    value = UInt32(name.dropFirst(2), radix: 16)
                } else if name.hasPrefix("#") {
                    value = UInt32(name.dropFirst(), radix: 10)
                } else {
                    value = nil
                }
                guard let value, let scalar = Unicode.Scalar(value) else { return nil }
                return Array(String(Character(scalar)).utf8)
            }
        }
    }
}
