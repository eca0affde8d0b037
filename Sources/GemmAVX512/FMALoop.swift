extension GemmAVX512 {
    /// Independent chains of `fmaLoop`: 16 accumulators of 16 floats in 16 of the 32 zmm registers, twice the 2 FMA
    /// ports × 4 cycles of latency a core needs in flight to issue an FMA on every port every cycle.
    public static let fmaChains = 16

    /// The machine's FMA rate on 512-bit vectors (`vae-dist bench --mode sgemm`'s measured peak): `iterations` rounds
    /// of one FMA on each of `fmaChains` chains of 16 lanes, x ← x · multiplier + addend, lane l of chain i starting at
    /// start + Float(16 i + l) · step. Returns the chains' sum (added chain by chain, then lane by lane in order), so
    /// the work cannot be optimised away and a test can redo it with scalar fmas bit for bit.
    @inline(never)
    public static func fmaLoop(iterations: Int, start: Float, step: Float, multiplier: Float, addend: Float) -> Float {
        typealias V = SIMD16<Float>
        let ramp = V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let first = { (chain: Int) in V(repeating: start) + (ramp + V(repeating: Float(16 * chain))) * step }
        var c0 = first(0), c1 = first(1), c2 = first(2), c3 = first(3)
        var c4 = first(4), c5 = first(5), c6 = first(6), c7 = first(7)
        var c8 = first(8), c9 = first(9), c10 = first(10), c11 = first(11)
        var c12 = first(12), c13 = first(13), c14 = first(14), c15 = first(15)
        let m = V(repeating: multiplier), a = V(repeating: addend)
        for _ in 0..<iterations {
            c0 = a.addingProduct(c0, m); c1 = a.addingProduct(c1, m)
            c2 = a.addingProduct(c2, m); c3 = a.addingProduct(c3, m)
            c4 = a.addingProduct(c4, m); c5 = a.addingProduct(c5, m)
            c6 = a.addingProduct(c6, m); c7 = a.addingProduct(c7, m)
            c8 = a.addingProduct(c8, m); c9 = a.addingProduct(c9, m)
            c10 = a.addingProduct(c10, m); c11 = a.addingProduct(c11, m)
            c12 = a.addingProduct(c12, m); c13 = a.addingProduct(c13, m)
            c14 = a.addingProduct(c14, m); c15 = a.addingProduct(c15, m)
        }
        // Added one by one, in order (no array: a generic specialisation would carry AVX-512 code outside this module's
        // symbols, scripts/check-avx512-confined.sh).
        var total = c0
        total += c1; total += c2; total += c3; total += c4; total += c5; total += c6; total += c7
        total += c8; total += c9; total += c10; total += c11; total += c12; total += c13; total += c14; total += c15
        var sum: Float = 0
        for lane in 0..<16 { sum += total[lane] }
        return sum
    }
}
