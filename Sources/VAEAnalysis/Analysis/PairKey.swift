import Foundation
import VAECore

/// `--group_by` and `--cluster_by`: what puts a folder's pairs together, read from each pair's name (its path
/// under positive/ without the extension, e.g. `benign/benign (3)`).
public enum PairKey: Equatable, Sendable {
    /// The pair's sub-folder of positive/ (`benign` for `benign/benign (3)`; `.` for a pair at the top).
    case folder
    /// The first match of the pattern in the name: its first capture group when the pattern has one, else the
    /// whole match.
    case regex(String)

    /// `folder` or `regex:PATTERN` (`allowFolder` false: regex only); the message names `flag`.
    public init(parsing text: String, flag: String, allowFolder: Bool = true) throws {
        if allowFolder && text == "folder" { self = .folder; return }
        guard text.hasPrefix("regex:") else {
            throw VAEDistError("\(flag) \(text): expected \(allowFolder ? "folder or " : "")regex:PATTERN (a regular expression on the pair's name, e.g. regex:'^(benign|malignant)/' or regex:'(P[0-9]+)_')")
        }
        let pattern = String(text.dropFirst("regex:".count))
        guard !pattern.isEmpty else { throw VAEDistError("\(flag) \(text): the regular expression after regex: is empty") }
        do { _ = try NSRegularExpression(pattern: pattern) } catch {
            throw VAEDistError("\(flag) \(text): not a valid regular expression (ICU syntax, as NSRegularExpression reads it)")
        }
        self = .regex(pattern)
    }

    public var description: String {
        switch self {
        case .folder: return "folder"
        case .regex(let pattern): return "regex:\(pattern)"
        }
    }

    /// Each pair's key. Refused, naming `flag`: a pattern that matches no pair, or misses some (every pair needs
    /// a key), and `folder` when no pair is in a sub-folder.
    public func keys(of names: [String], flag: String) throws -> [String] {
        switch self {
        case .folder:
            // Not NSString.deletingLastPathComponent: Foundation on Linux traps on some one-letter names.
            let folders = names.map { name in name.lastIndex(of: "/").map { String(name[..<$0]) } ?? "." }
            guard folders.contains(where: { $0 != "." }) else {
                throw VAEDistError("\(flag) folder: no pair is in a sub-folder of positive/ (e.g. positive/benign/, as make-pairs --recursive writes); use \(flag) regex:PATTERN to group by name")
            }
            return folders
        case .regex(let pattern):
            let expression = try NSRegularExpression(pattern: pattern)
            let keys = names.map { name -> String? in
                let range = NSRange(name.startIndex..., in: name)
                guard let match = expression.firstMatch(in: name, range: range) else { return nil }
                let captured = match.numberOfRanges > 1 && match.range(at: 1).location != NSNotFound ? match.range(at: 1) : match.range
                let key = Range(captured, in: name).map { String(name[$0]) } ?? ""
                return key.isEmpty ? nil : key
            }
            let missed = names.indices.filter { keys[$0] == nil }
            let shown = { (list: [String]) in list.prefix(5).joined(separator: ", ") + (list.count > 5 ? ", …" : "") }
            guard missed.count < names.count else {
                throw VAEDistError("\(flag) regex:\(pattern) matches no pair's name (\(names.count) pairs, e.g. \(shown(names))), so it gives no group; the pattern is searched in the name (its path under positive/ without the extension), the key is its first capture group or else the match")
            }
            guard missed.isEmpty else {
                throw VAEDistError("\(flag) regex:\(pattern) gives no key (no match, or an empty one) for \(missed.count) of \(names.count) pairs: \(shown(missed.map { names[$0] })); every pair needs one")
            }
            return keys.map { $0! }
        }
    }
}

/// Each key's index, in order of first appearance (the cluster ids the bootstrap resamples by).
func keyIndices(_ keys: [String]) -> [Int] {
    var index: [String: Int] = [:]
    return keys.map { key in
        if let at = index[key] { return at }
        index[key] = index.count
        return index.count - 1
    }
}
