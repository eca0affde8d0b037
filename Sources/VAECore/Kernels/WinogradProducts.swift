import GemmAVX512

/// The products of a Winograd convolution's chunk, M[ξ] = U[ξ] · V[ξ] for each of its `points` ξ (the forward and
/// the input gradient; the weight gradient's products go through `sgemmBatch`). On x86-64 they run on `GemmAVX512`
/// where `TransformKernels` picks AVX-512, else on `GemmAVX2.multiply`, the same FMA chains (bitwise the same M): U
/// packed in panels by the weight transform once per convolution, V read as the input transform writes it and M
/// written directly, in rows padded to whole panels; no operand is re-packed per chunk and C is not cleared first.
/// Elsewhere OpenBLAS runs them on plain matrices.
struct WinogradProducts {
    let points, outChannels, inChannels, tiles: Int
    let kernels: TransformKernels
    /// Whether the products run on our own kernel (else OpenBLAS).
    var ownKernel: Bool { kernels.multipliesWinograd }

    init(points: Int, outChannels: Int, inChannels: Int, tiles: Int, kernels: TransformKernels = .active) {
        (self.points, self.outChannels, self.inChannels, self.tiles) = (points, outChannels, inChannels, tiles)
        self.kernels = kernels
    }

    /// Columns of M per task, whole panels: with A's panel in L1 the block's columns of V stay in L2.
    static let columnBlock = 8 * GemmAVX512.panelColumns

    /// Where U lies: packed for `GemmAVX512`, plain rows for OpenBLAS.
    var weights: TransformedWeights { TransformedWeights(rows: outChannels, depth: inChannels, packed: ownKernel) }

    /// Distance between consecutive rows of V and of M: the chunk's tiles for OpenBLAS; for `GemmAVX512` the tiles
    /// rounded up to whole panels and to an odd number of them, so that V's rows, read one after another, are not a
    /// multiple of 256 bytes apart (the same L1 cache sets, 4 KiB aliasing).
    var rowLength: Int {
        guard ownKernel else { return tiles }
        let panels = (tiles + GemmAVX512.panelColumns - 1) / GemmAVX512.panelColumns
        return (panels | 1) * GemmAVX512.panelColumns
    }

    /// Floats of one ξ matrix of V and of M.
    var inputElements: Int { inChannels * rowLength }
    var outputElements: Int { outChannels * rowLength }

    /// M[ξ] = U[ξ] · V[ξ] for matrices `WinogradGeometry.matrixStride` of their element counts apart. With `GemmAVX512` the tasks are
    /// (ξ, block of columns), decided by the shape alone, and every element of M is one FMA chain over V's rows in
    /// order: results do not depend on the thread count. V's padding columns that the last panel reads are zeroed.
    func multiply(u: UnsafePointer<Float>, v: UnsafeMutablePointer<Float>, into m: UnsafeMutablePointer<Float>) {
        let (strideU, strideV, strideM) = (weights.step, WinogradGeometry.matrixStride(inputElements), WinogradGeometry.matrixStride(outputElements))
        guard ownKernel else {
            return sgemmBatch(count: points, m: outChannels, n: tiles, k: inChannels, a: u, strideA: strideU, b: v,
                              strideB: strideV, c: m, strideC: strideM, openBLAS: true)
        }
        let wide = kernels == .avx512
        guard outChannels > 0, tiles > 0 else { return }
        let (block, length) = (Self.columnBlock, rowLength)
        let blocks = (tiles + block - 1) / block
        let padding = (tiles + GemmAVX512.panelColumns - 1) / GemmAVX512.panelColumns * GemmAVX512.panelColumns - tiles
        Profile.measure(.conv, flops: 2 * Double(outChannels) * Double(tiles) * Double(inChannels) * Double(points)) {
            parallelFor(points * blocks, grain: 1) { tasks in
                for task in tasks {
                    let point = task / blocks, lo = task % blocks * block, hi = min(tiles, lo + block)
                    let vPoint = v + point * strideV
                    if hi == tiles && padding > 0 {
                        for row in 0..<inChannels { (vPoint + row * length + tiles).update(repeating: 0, count: padding) }
                    }
                    if wide {
                        GemmAVX512.multiply(m: outChannels, depth: inChannels, columns: lo..<hi, a: u + point * strideU,
                                            b: vPoint, ldb: length, c: m + point * strideM, ldc: length)
                    } else {
                        GemmAVX2.multiply(m: outChannels, depth: inChannels, columns: lo..<hi, a: u + point * strideU,
                                          b: vPoint, ldb: length, c: m + point * strideM, ldc: length)
                    }
                }
            }
        }
    }
}

/// The layout of transformed weights U[ξ][row][k] (`WinogradGeometry.matrixStride(count)` apart): plain rows (row · depth + k), or
/// `GemmAVX512`'s panels of rows with the last panel's missing rows zero.
struct TransformedWeights {
    let rows, depth: Int
    let packed: Bool

    init(rows: Int, depth: Int, packed: Bool) { (self.rows, self.depth, self.packed) = (rows, depth, packed) }

    /// The U of a convolution with weights [outChannels, inChannels, 3, 3], or with `flipped` that of its input
    /// gradient (rows are then the input channels).
    init(outChannels: Int, inChannels: Int, flipped: Bool, packed: Bool) {
        self.init(rows: flipped ? inChannels : outChannels, depth: flipped ? outChannels : inChannels, packed: packed)
    }

    /// Floats of one ξ matrix.
    var count: Int { packed ? GemmAVX512.packedCount(rows: rows, depth: depth) : rows * depth }
    /// Distance between ξ matrices.
    var step: Int { WinogradGeometry.matrixStride(count) }

    /// Where the element of plain index row · depth + k lies.
    @inline(__always)
    func index(_ plain: Int) -> Int {
        packed ? GemmAVX512.packedIndex(row: plain / depth, k: plain % depth, depth: depth) : plain
    }
}
