/// "Did you mean" for names users type: the closest candidate by edit
/// distance, when it is close enough to be a plausible typo; of equally
/// close ones, the first in order.
public enum Suggestion {
    public static func closest<S: Sequence>(to word: String, in candidates: S) -> String?
    where S.Element == String {
        // No name a person types is this long; a distance over it would
        // cost its length squared.
        guard word.utf8.count <= 256 else { return nil }
        let limit = max(2, word.count / 3)
        let lowered = word.lowercased()
        var best: (String, Int)?
        for candidate in candidates {
            // The distance is at least the difference in length.
            guard abs(candidate.count - word.count) <= limit else { continue }
            let d = distance(lowered, candidate.lowercased())
            // Ties go to the first name in order, so that the hint does not
            // depend on the order a dictionary's keys come in.
            guard d <= limit else { continue }
            if let (name, distance) = best, d > distance || (d == distance && candidate >= name) { continue }
            best = (candidate, d)
        }
        return best?.0
    }

    /// Levenshtein distance over Unicode scalars.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// ` (did you mean "x"?)` or an empty string.
    public static func hint<S: Sequence>(for word: String, in candidates: S) -> String
    where S.Element == String {
        closest(to: word, in: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
    }
}
