import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

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
final class S3XMLElement {
    let name: String
    var text = ""
    var children: [S3XMLElement] = []

    init(name: String) { self.name = name }

    /// The text of the first child with this name.
    subscript(child: String) -> String? { children.first { $0.name == child }?.text }

    /// The document's root element, or nil when the body is not XML.
    static func parse(_ body: [UInt8]) -> S3XMLElement? {
        let builder = Builder()
        let parser = XMLParser(data: Data(body))
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var root: S3XMLElement?
        var open: [S3XMLElement] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            let element = S3XMLElement(name: name)
            if let parent = open.last { parent.children.append(element) } else { root = element }
            open.append(element)
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            open.last?.text += string  // may arrive in several pieces
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            open.removeLast()
        }
    }
}
