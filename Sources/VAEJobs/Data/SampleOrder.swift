import VAECore

/// Where randomness in training comes from: every draw is a pure function of (seed, epoch, index), so the run
/// is the same whatever the number of ranks and can resume mid-epoch from a position alone.
public enum SampleOrder {
    /// A stable 64-bit mix of the inputs (SplitMix64's finaliser applied in a chain).
    public static func mix(_ values: UInt64...) -> UInt64 {
        var rng = SplitMix64(seed: 0x5EED_0F_DA7A)
        var h: UInt64 = 0
        for v in values {
            rng.state ^= v &+ h
            h = rng.next()
        }
        return h
    }

    /// The epoch's permutation of 0..<count (Fisher–Yates).
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: mix(seed, UInt64(epoch), 0x5045_524D))
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        }
        return order
    }

    /// Standard-normal reparameterization noise for one sample, filling `out`.
    public static func noise(seed: UInt64, epoch: Int, sample: Int, into out: UnsafeMutableBufferPointer<Float>) {
        var rng = SplitMix64(seed: mix(seed, UInt64(epoch), UInt64(sample), 0x4E4F_4953))
        for i in out.indices { out[i] = Float(rng.nextNormal()) }
    }

    /// The `held` indices of 0..<count set aside for validation by `seed` (independent of any epoch's order).
    public static func holdOut(count: Int, held: Int, seed: UInt64) -> [Int] {
        Array(permutation(count: count, seed: mix(seed, 0x484F_4C44), epoch: 0).prefix(held))
    }

    /// Whether `--augment hflip` flips this sample in this epoch.
    public static func flips(seed: UInt64, epoch: Int, sample: Int) -> Bool {
        mix(seed, UInt64(epoch), UInt64(sample), 0x464C_4950) & 1 == 1
    }

    /// This rank's share of a global batch of `total` samples: contiguous, sizes differing by at most one.
    public static func share(of total: Int, rank: Int, ranks: Int) -> Range<Int> {
        let base = total / ranks, extra = total % ranks
        let lo = rank * base + min(rank, extra)
        return lo..<(lo + base + (rank < extra ? 1 : 0))
    }
}
