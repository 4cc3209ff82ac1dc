/// What a commit says about itself.
public struct CommitInfo: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var tree: ObjectID
    public var authorName: String
    public var authorEmail: String
    /// Seconds since 1970.
    public var time: Int64
    public var message: String
    public var parents: [ObjectID]

    /// The first line of the message.
    public var subject: String {
        String(message.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    public var author: String { "\(authorName) <\(authorEmail)>" }
}

/// One entry of a recursive tree listing.
/// A file that differs between two trees: nil for the side it is absent from.
public struct TreeChange: Sendable, Hashable {
    /// Path relative to the trees, with `/` separators.
    public var path: String
    public var old: ObjectID?
    public var new: ObjectID?
}

public struct TreeFile: Sendable, Hashable {
    /// Path relative to the listed tree, with `/` separators.
    public var path: String
    public var blob: ObjectID
    public var mode: UInt32
}
