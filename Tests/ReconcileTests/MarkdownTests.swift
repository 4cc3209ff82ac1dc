import Testing

@testable import Planner

/// Text from manifests and commits in a pull-request comment renders as
/// itself: no link, mention, image or HTML a pull request could slip in.
@Suite struct MarkdownTests {
    @Test func aBacktickInACommandCannotCloseItsCodeSpan() {
        let argument = "x` [click](https://evil.example) @everyone `y"
        let span = Plan.markdownCode(argument)
        #expect(span == "``x` [click](https://evil.example) @everyone `y``")
        #expect(Plan.markdownCode("``a``") == "``` ``a`` ```", "a span that starts or ends with a backtick is padded")
        #expect(Plan.markdownCode("a|b\nc") == "`a\\|b c`", "a table cell keeps its pipes and stays on one line")
        #expect(
            Plan.markdownCode("x\r[click](https://evil.example)\r\n@org/team") == "`x [click](https://evil.example) @org/team`",
            "a carriage return ends a markdown line too")
        #expect(Plan.markdownCode("") == "`  `", "an empty value is a span of spaces, not two backticks")
    }

    @Test func freeTextIsEscapedAndMentionsNoOne() {
        let subject = "Fix <script>alert(1)</script> for @octocat: see [docs](http://x) & *now* | ok"
        let escaped = Plan.markdownEscape(subject)
        #expect(escaped == "Fix &lt;script&gt;alert\\(1\\)&lt;/script&gt; for @\u{200B}octocat: see \\[docs\\]\\(http://x\\) &amp; \\*now\\* \\| ok")
        #expect(!escaped.contains("@octocat"))
    }
}
