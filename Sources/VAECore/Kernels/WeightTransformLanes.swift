import TileTransforms

/// The frame of the weight transforms (`WinogradF2`, `WinogradF4`): U's (row, k) pairs eight at a time, one per lane
/// of `SIMD8<Float>`, taken in the order they lie side by side in U so that each transformed value is one 32-byte
/// store: with `packed`, the eight rows of a panel at one k (`GemmAVX512.packedIndex`), the last panel's missing rows
/// written as zeros; in plain rows, eight consecutive k of one row. Every lane does the operations the scalar
/// transform did on its pair, so U is bitwise the same.
extension TransformedWeights {
    /// `transform(kernels, store)` for every group of eight pairs: `kernels` are the eight 3×3 kernels g[o][i] of the
    /// weights [O, I, 3, 3] (with `flipped`, of the input gradient: g[o][i] rotated by 180° for the pair (i, o)), and
    /// `store(ξ, value)` writes the group's values of U[ξ]. Threads share out panels (plain rows), decided by the shape.
    @inline(__always)
    func transform(_ w: UnsafePointer<Float>, flipped: Bool, points: Int, into u: UnsafeMutablePointer<Float>,
                   _ transform: (_ kernels: KernelLanes, _ store: TransformedStore) -> Void) {
        let lanes = SIMD8<Float>.lanes, step = self.step
        // Floats between the kernels of consecutive rows and of consecutive k: rows are output channels, or with
        // `flipped` input channels.
        let (rowStride, kStride) = flipped ? (9, 9 * rows) : (9 * depth, 9)
        let laneStride = packed ? rowStride : kStride
        let outer = packed ? (rows + lanes - 1) / lanes : rows
        let groups = packed ? depth : (depth + lanes - 1) / lanes
        // The flipped kernel's panels read 72 floats of each k's weights, k being 9 · rows apart: blocks of k whose
        // weights take about 256 KiB, shared by all the panels, keep them in cache (measured: 16 and 64 beat no blocks).
        let block = packed && flipped ? max(1, (1 << 16) / (9 * max(rows, 1))) : max(groups, 1)
        Profile.measure(.winograd) {
            parallelFor(outer, grain: max(1, 1024 / max(1, groups * lanes))) { range in
                // A partial group runs on a copy of its kernels with zeros in the missing lanes, into a buffer of whole
                // vectors (`points` × 8), so that `transform` always works on whole vectors.
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 9 * lanes + points * lanes) { buffer in
                    let (padded, values) = (buffer.baseAddress!, buffer.baseAddress! + 9 * lanes)
                    for blockStart in stride(from: 0, to: groups, by: block) {
                        for unit in range {
                            for group in blockStart..<min(groups, blockStart + block) {
                                let (row, k, count, at) = packed
                                    ? (unit * lanes, group, min(lanes, rows - unit * lanes), unit * lanes * depth + group * lanes)
                                    : (unit, group * lanes, min(lanes, depth - group * lanes), unit * depth + group * lanes)
                                let first = w + row * rowStride + k * kStride
                                if count == lanes {
                                    transform(KernelLanes(first, laneStride: laneStride, rotated: flipped), TransformedStore(u + at, step: step))
                                    continue
                                }
                                for lane in 0..<lanes {
                                    for e in 0..<9 { padded[9 * lane + e] = lane < count ? first[lane * laneStride + e] : 0 }
                                }
                                transform(KernelLanes(padded, laneStride: 9, rotated: flipped), TransformedStore(values, step: lanes))
                                for point in 0..<points {
                                    // A panel is stored whole, its missing rows +0 (a transformed zero may be −0).
                                    SIMD8(loading: values + point * lanes, count: count).store(to: u + point * step + at, count: packed ? lanes : count)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The 3×3 kernels of eight (row, k) pairs of U, one per lane, `laneStride` floats apart from `first`. With `rotated`,
/// each kernel rotated by 180° (the input gradient's).
struct KernelLanes {
    let first: UnsafePointer<Float>
    let laneStride: Int
    let rotated: Bool

    init(_ first: UnsafePointer<Float>, laneStride: Int, rotated: Bool) {
        (self.first, self.laneStride, self.rotated) = (first, laneStride, rotated)
    }

    /// Row r of the eight kernels, its three columns.
    @inline(__always)
    func row(_ r: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        rotated ? (element(8 - 3 * r), element(7 - 3 * r), element(6 - 3 * r)) : (element(3 * r), element(3 * r + 1), element(3 * r + 2))
    }

    /// Element e (row-major) of the eight kernels.
    @inline(__always)
    func element(_ e: Int) -> SIMD8<Float> {
        let p = first + e, s = laneStride
        return SIMD8(p[0], p[s], p[2 * s], p[3 * s], p[4 * s], p[5 * s], p[6 * s], p[7 * s])
    }
}

/// Where a group's transformed values go: eight lanes at `first` in each U[ξ], `step` apart.
struct TransformedStore {
    let first: UnsafeMutablePointer<Float>
    let step: Int

    init(_ first: UnsafeMutablePointer<Float>, step: Int) { (self.first, self.step) = (first, step) }

    @inline(__always)
    func callAsFunction(_ point: Int, _ value: SIMD8<Float>) { value.store(to: first + point * step, count: SIMD8<Float>.lanes) }
}
