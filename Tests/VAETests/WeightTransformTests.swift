@testable import VAECore
import XCTest

/// The Winograd weight transforms, eight (row, k) pairs per vector (`TransformedWeights.transform`), and the weight
/// gradients' inverse transforms, eight pairs per vector (`forEachWeightLanes`), against straightforward scalar loops
/// over (o, i) that do each value's operations in the same order (the transforms before they were vectorised): bit for
/// bit, in both layouts, for the kernel and its flipped form, on channel counts that fill no panel, one panel exactly,
/// several with a partial last one, and SD's shapes. Every place of U is written: buffers start as NaN, and a packed
/// U's padding rows must be +0.
final class WeightTransformTests: XCTestCase {
    var rng = SplitMix64(seed: 22)

    /// (out, in) channels: 1 and 3 (RGB), 4 (latents), odd ones short of a panel, 8 (exactly one), one past a panel,
    /// 32, 128, 256 and 512 (SD's widths; the transforms do the same for wider ones).
    static let shapes = [(1, 1), (3, 3), (4, 3), (3, 4), (7, 5), (8, 8), (9, 16), (13, 9), (17, 1), (1, 17), (32, 32),
                         (128, 3), (3, 128), (130, 3), (4, 512), (512, 4), (64, 128), (128, 256), (33, 512)]

    func testTransformsAreTheScalarOnesBitForBit() {
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            for (outChannels, inChannels) in Self.shapes {
                // Values of all scales, negative zeros and zeros among them.
                let w = (0..<outChannels * inChannels * 9).map { index -> Float in
                    switch index % 11 { case 3: -0.0; case 7: 0; default: Float(rng.nextUniform() * 2 - 1) * Float(1 << (index % 9)) / 16 }
                }
                for flipped in [false, true] {
                    let plain = reference(tiling, w, outChannels: outChannels, inChannels: inChannels, flipped: flipped)
                    for packed in [false, true] {
                        let layout = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: packed)
                        let points = plain.count
                        var expected = [Float](repeating: .nan, count: points * layout.step)
                        for point in 0..<points {
                            // A packed U's last panel: its missing rows zero.
                            (0..<layout.count).forEach { expected[point * layout.step + $0] = 0 }
                            for index in plain[point].indices { expected[point * layout.step + layout.index(index)] = plain[point][index] }
                        }
                        var u = [Float](repeating: .nan, count: points * layout.step)
                        w.withUnsafeBufferPointer { w in
                            tiling.algorithm.transformWeights(w.baseAddress!, outChannels: outChannels, inChannels: inChannels,
                                                              flipped: flipped, packed: packed, into: &u)
                        }
                        let what = "\(tiling), \(outChannels) × \(inChannels), flipped \(flipped), packed \(packed)"
                        let wrong = zip(u, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
                        XCTAssertTrue(wrong.isEmpty, "\(what): \(wrong.count) values differ, first at \(wrong.first.map { "\($0.offset): \($0.element)" } ?? "")")
                    }
                }
            }
        }
    }

    /// Threads share out panels or rows; each value is computed alike on any of them.
    func testTransformsDoNotDependOnThreads() {
        let (outChannels, inChannels) = (40, 24)
        let w = (0..<outChannels * inChannels * 9).map { _ in Float(rng.nextUniform() * 2 - 1) }
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            for (flipped, packed) in [(false, false), (false, true), (true, false), (true, true)] {
                let layout = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: packed)
                let results = [1, 2, 3].map { threads in
                    var u = [Float](repeating: .nan, count: tiling.geometry(batch: 1, height: 1, width: 1).points * layout.step)
                    ComputeContext(threads: threads).run {
                        w.withUnsafeBufferPointer { w in
                            tiling.algorithm.transformWeights(w.baseAddress!, outChannels: outChannels, inChannels: inChannels,
                                                              flipped: flipped, packed: packed, into: &u)
                        }
                    }
                    return u.map(\.bitPattern)
                }
                XCTAssertEqual(results[0], results[1], "\(tiling), flipped \(flipped), packed \(packed)")
                XCTAssertEqual(results[0], results[2], "\(tiling), flipped \(flipped), packed \(packed)")
            }
        }
    }

    /// dg += Gᵀ M G onto a gradient that already holds values, for pair counts that end inside a vector of eight.
    func testWeightGradientsAreTheScalarOnesBitForBit() {
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            let points = tiling == .f2x2 ? 16 : 36
            for (outChannels, inChannels) in Self.shapes {
                let pairs = outChannels * inChannels, step = WinogradGeometry.matrixStride(pairs)
                var m = [Float](repeating: .nan, count: points * step)
                for point in 0..<points { for pair in 0..<pairs { m[point * step + pair] = Float(rng.nextUniform() * 2 - 1) * 100 } }
                let start = (0..<pairs * 9).map { _ in Float(rng.nextUniform() * 2 - 1) }
                var expected = start
                for pair in 0..<pairs {
                    let sums = (0..<points).map { m[$0 * step + pair] }
                    let values = tiling == .f2x2 ? Self.f2Gradient(sums) : Self.f4Gradient(sums)
                    for e in 0..<9 { expected[9 * pair + e] += values[e] }
                }
                // Room past the last gradient, which must stay untouched.
                var dw = start + [Float](repeating: 7, count: 9)
                m.withUnsafeBufferPointer { m in
                    tiling.algorithm.accumulateWeightGradient(m.baseAddress!, outChannels: outChannels, inChannels: inChannels, into: &dw)
                }
                XCTAssertEqual(dw.map(\.bitPattern), (expected + [Float](repeating: 7, count: 9)).map(\.bitPattern),
                               "\(tiling), \(outChannels) × \(inChannels)")
            }
        }
    }

    /// U[ξ] in plain rows (row · depth + k), pair by pair: rows are the output channels, or with `flipped` the input
    /// channels, of the kernel rotated by 180°.
    func reference(_ tiling: WinogradTiling, _ w: [Float], outChannels: Int, inChannels: Int, flipped: Bool) -> [[Float]] {
        let points = tiling == .f2x2 ? 16 : 36
        var u = [[Float]](repeating: [Float](repeating: .nan, count: outChannels * inChannels), count: points)
        for o in 0..<outChannels {
            for i in 0..<inChannels {
                let g = (0..<9).map { w[9 * (o * inChannels + i) + (flipped ? 8 - $0 : $0)] }
                let values = tiling == .f2x2 ? Self.f2(g) : Self.f4(g)
                let index = flipped ? i * outChannels + o : o * inChannels + i
                for point in 0..<points { u[point][index] = values[point] }
            }
        }
        return u
    }

    /// G g Gᵀ of F(2×2): t = G g (rows g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2), then each row of t times Gᵀ.
    static func f2(_ g: [Float]) -> [Float] {
        let row = { (r: Int) in [g[3 * r], g[3 * r + 1], g[3 * r + 2]] }
        let (k0, k1, k2) = (row(0), row(1), row(2))
        let t = [k0, (0..<3).map { 0.5 * (k0[$0] + k1[$0] + k2[$0]) }, (0..<3).map { 0.5 * (k0[$0] - k1[$0] + k2[$0]) }, k2]
        return t.flatMap { t in [t[0], 0.5 * (t[0] + t[1] + t[2]), 0.5 * (t[0] - t[1] + t[2]), t[2]] }
    }

    /// G g Gᵀ of F(4×4): G along each row of g, then G down each of the six columns (U[6j + s] from column s).
    static func f4(_ g: [Float]) -> [Float] {
        func interpolate(_ a: Float, _ b: Float, _ c: Float) -> [Float] {
            let even = a + c
            return [a, (even + b) * (1.0 / 3), (b - even) * (1.0 / 3), (a * 16 + b * 8 + c * 4) * (-1.0 / 15),
                    (a - b * 2 + c * 4) * (1.0 / 15), c]
        }
        let h = (0..<3).map { interpolate(g[3 * $0], g[3 * $0 + 1], g[3 * $0 + 2]) }
        let columns = (0..<6).map { s in interpolate(h[0][s], h[1][s], h[2][s]) }
        return (0..<36).map { columns[$0 % 6][$0 / 6] }
    }

    /// Gᵀ m G of F(2×2) for one pair's 16 sums: t = Gᵀ m (rows m0 + ½(m1 + m2), ½(m1 − m2), ½(m1 + m2) + m3), then each
    /// row of t times G.
    static func f2Gradient(_ m: [Float]) -> [Float] {
        var gradient = [Float]()
        for r in 0..<3 {
            var t = [Float](repeating: 0, count: 4)
            for c in 0..<4 {
                let (m0, m1, m2, m3) = (m[c], m[4 + c], m[8 + c], m[12 + c])
                let sum: Float = m1 + m2, difference: Float = m1 - m2
                t[c] = r == 0 ? m0 + 0.5 * sum : r == 1 ? 0.5 * difference : 0.5 * sum + m3
            }
            let half: Float = 0.5 * (t[1] + t[2])
            gradient += [t[0] + half, 0.5 * (t[1] - t[2]), half + t[3]]
        }
        return gradient
    }

    /// Gᵀ m G of F(4×4) for one pair's 36 sums: Gᵀ down each of the six columns, then along each of the three rows.
    static func f4Gradient(_ m: [Float]) -> [Float] {
        func fold(_ m: [Float]) -> [Float] {
            let difference12 = (m[1] - m[2]) * (1.0 / 3)
            return [m[0] + difference12 + (m[3] * 16 - m[4]) * (-1.0 / 15),
                    (m[1] + m[2]) * (1.0 / 3) + (m[3] * 8 + m[4] * 2) * (-1.0 / 15),
                    difference12 + (m[3] * 4 - m[4] * 4) * (-1.0 / 15) + m[5]]
        }
        let columns = (0..<6).map { s in fold((0..<6).map { m[6 * $0 + s] }) }
        return (0..<3).flatMap { r in fold(columns.map { $0[r] }) }
    }
}
