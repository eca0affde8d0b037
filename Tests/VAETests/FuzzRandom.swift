import Foundation
import VAECore

/// The seeded choices of the structure-aware generators (pickle programs, zip directories, safetensors headers,
/// nested YAML/JSON): the same seed gives the same cases, so a failure is reproduced by its seed and case number.
struct FuzzRandom: RandomNumberGenerator {
    private var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { rng.next() }

    /// 0..<n (0 when n ≤ 1).
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double(rng.next() >> 11) / Double(1 << 53) < p }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }

    /// Integers where sizes, offsets and products break: the edges of 8/16/32/64-bit widths, signed and not,
    /// small values, and powers of two whose products overflow.
    static let edges: [Int64] = [
        0, 1, 2, 3, -1, -2, 127, 128, 255, 256, 0xFFFF, 0x10000, Int64(Int32.max), Int64(Int32.max) + 1, Int64(UInt32.max),
        Int64(UInt32.max) + 1, 1 << 40, 1 << 48, 1 << 62, (1 << 62) + 1, Int64.max, Int64.max - 1, Int64.min, Int64.min + 1,
        Int64(Int32.min), Int64(Int32.min) - 1, 3_037_000_500, -3_037_000_500,
    ]

    /// An edge integer, or a small one, or a random 64-bit one.
    mutating func edgyInt() -> Int64 {
        switch below(4) {
        case 0, 1: return pick(Self.edges)
        case 2: return Int64(below(9)) - 1
        default: return Int64(bitPattern: rng.next())
        }
    }

    /// A size: mostly below `small`, at an edge with probability `edge`.
    mutating func size(small: Int, edge: Double) -> Int64 { chance(edge) ? pick(Self.edges) : Int64(below(small)) }
}
