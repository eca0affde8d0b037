import Foundation
import VAECore

/// Seeded mutations of valid files for the parser fuzz tests. Each test runs `iterations` mutants (scaled by
/// VAE_DIST_FUZZ_SCALE for a longer run after changing a parser, e.g. VAE_DIST_FUZZ_SCALE=100) and only asks that
/// every mutant is either accepted or refused with a thrown error: a crash or a hang fails the whole test run.
struct FuzzMutator {
    private var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// For long runs: a line every tenth of `cases`, so that a run stopped early still says how far it got.
    static func progress(_ target: String, _ i: Int, of cases: Int) {
        if cases >= 10_000, i % (cases / 10) == 0 { print("fuzz \(target): \(i) of \(cases) cases done") }
    }

    static func iterations(_ base: Int) -> Int {
        let scale = ProcessInfo.processInfo.environment["VAE_DIST_FUZZ_SCALE"].flatMap { Int($0) } ?? 1
        return base * max(1, scale)
    }

    private mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// Values that break parsers: boundaries of signed and unsigned widths, zero, and ASCII that changes syntax.
    private static let interestingBytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x2D, 0x22, 0x5B, 0x5D, 0x7B, 0x7D,
                                                    0x3A, 0x2C, 0x30, 0x39, 0x2E, 0x65, 0x0A, 0x20]

    /// One to four random edits: flip a bit, set an interesting byte, insert, delete or duplicate a run,
    /// or truncate.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0...below(4) {
            guard !bytes.isEmpty else { return bytes }
            let at = below(bytes.count)
            switch below(6) {
            case 0: bytes[at] ^= UInt8(1) << UInt8(below(8))
            case 1: bytes[at] = Self.interestingBytes[below(Self.interestingBytes.count)]
            case 2: bytes.insert(contentsOf: (0...below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 3: bytes.removeSubrange(at..<min(bytes.count, at + 1 + below(16)))
            case 4:
                let run = Array(bytes[at..<min(bytes.count, at + 1 + below(32))])
                bytes.insert(contentsOf: run, at: below(bytes.count))
            default: bytes.removeSubrange(at...)
            }
        }
        return bytes
    }

    /// Text mutations for text formats (YAML, JSON): edits that keep it mostly text, plus byte edits.
    mutating func mutate(_ text: String, vocabulary: [String]) -> String {
        var lines = text.components(separatedBy: "\n")
        for _ in 0...below(3) {
            guard !lines.isEmpty else { break }
            let at = below(lines.count)
            switch below(4) {
            case 0: lines[at] += " " + vocabulary[below(vocabulary.count)]
            case 1: lines.insert(vocabulary[below(vocabulary.count)], at: at)
            case 2: lines.remove(at: at)
            default:
                let bytes = mutate(Array(lines[at].utf8))
                lines[at] = String(decoding: bytes, as: UTF8.self)
            }
        }
        return lines.joined(separator: "\n")
    }
}
