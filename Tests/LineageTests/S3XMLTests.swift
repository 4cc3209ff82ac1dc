import Testing

@testable import S3

/// The XML reader behind S3's list and error answers.
@Suite struct S3XMLTests {
    func parse(_ text: String) -> S3XMLElement? { S3XMLElement.parse(Array(text.utf8)) }

    @Test func aListPageWithEverythingS3MaySend() throws {
        let page = try #require(
            S3ListPage(
                parsing: Array(
                    """
                    <?xml version="1.0" encoding="UTF-8"?>
                    <!-- a comment before the root -->
                    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
                      <Name>data</Name><IsTruncated>true</IsTruncated>
                      <Contents><Key>rows &amp; cols/a&#x2F;b&#47;c.csv</Key><ETag>&quot;9b2c&quot;</ETag><Size>1024</Size>
                        <StorageClass>STANDARD</StorageClass><Owner/></Contents>
                      <Contents><Key><![CDATA[x<y>.csv]]></Key><ETag>"ab"</ETag><Size>7</Size></Contents>
                      <NextContinuationToken>1ueGc&#233;</NextContinuationToken>
                    </ListBucketResult>

                    """.utf8)))
        #expect(page.isTruncated)
        #expect(page.nextContinuationToken == "1ueGcé")
        #expect(page.objects.map(\.key) == ["rows & cols/a/b/c.csv", "x<y>.csv"])
        #expect(page.objects.map(\.etag) == ["9b2c", "ab"])
        #expect(page.objects.map(\.size) == [1024, 7])
    }

    @Test func anErrorBody() throws {
        let error = try #require(
            S3ErrorBody(
                parsing: Array(
                    "<?xml version='1.0'?><Error><Code>NoSuchBucket</Code><Message>The bucket &apos;x&apos; does not exist</Message></Error>".utf8)))
        #expect(error.code == "NoSuchBucket")
        #expect(error.message == "The bucket 'x' does not exist")
    }

    @Test func whatIsNotWellFormedIsRefused() {
        for text in [
            "", "not xml", "<a>", "<a></b>", "<a><b></a></b>", "<a>x &unknown; y</a>", "<a>&#xZZ;</a>",
            "<a/><b/>", "<a></a> trailing", "<a><![CDATA[never closed</a>", "<!-- open <a/>", "<a b=\"unclosed></a>",
        ] {
            #expect(parse(text) == nil, "\(text)")
        }
        #expect(parse("<a b=\"x>y\" c='z'>t</a>")?.text == "t", "a > inside a quoted attribute")
        #expect(S3ListPage(parsing: Array("<Other/>".utf8)) == nil)
        #expect(
            S3ListPage(parsing: Array("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>".utf8)) == nil,
            "an object without ETag and Size")
    }
}
