import CSIMD
import GemmAVX512

/// The micro-kernels of our own GEMM (`GemmProblem.runPacked`): `GemmAVX512`'s 8 × 32 block where the CPU runs AVX-512,
/// `GemmAVX2`'s 6 × 16 block elsewhere. Both compute each element of C as one FMA chain over each block of
/// `depthBlock` k in order, started from zero, the blocks' sums added in order, then alpha · sum, then + beta · C
/// (unless beta is zero): the value depends on the operands alone, never on the tasks or the thread count, and is
/// the same on both kernels.
enum GemmMicroKernel: Sendable, CaseIterable {
    case avx512, avx2

    var panelRows: Int { self == .avx512 ? GemmAVX512.panelRows : GemmAVX2.panelRows }
    var panelColumns: Int { self == .avx512 ? GemmAVX512.panelColumns : GemmAVX2.panelColumns }

    /// Whether this CPU runs it.
    var runs: Bool { self == .avx2 || TransformKernels.cpuRunsAVX512 }

    @inline(__always)
    func block(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, sums: UnsafeMutablePointer<Float>, earlier: Bool,
               final: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int, alpha: Float, beta: Float) {
        switch self {
        case .avx512:
            GemmAVX512.packedBlock(depth: depth, a: a, b: b, sums: sums, earlier: earlier, final: final, c: c, ldc: ldc,
                                   rows: rows, columns: columns, alpha: alpha, beta: beta)
        case .avx2:
            GemmAVX2.packedBlock(depth: depth, a: a, b: b, sums: sums, earlier: earlier, final: final, c: c, ldc: ldc,
                                 rows: rows, columns: columns, alpha: alpha, beta: beta)
        }
    }
}

extension TransformKernels {
    /// The micro-kernel of the products not on `WinogradProducts`' own path; nil where OpenBLAS runs them (not x86-64,
    /// where neither kernel is built for the CPU).
    var gemmKernel: GemmMicroKernel? {
#if arch(x86_64)
        self == .avx512 ? .avx512 : .avx2
#else
        nil
#endif
    }

    /// Whether the products outside `WinogradProducts` run on our own kernel (else OpenBLAS).
    public var runsOwnGemm: Bool { gemmKernel != nil }
}

extension GemmProblem {
    /// k per pass over a task's block of C: A's panel slice (8 KiB) stays in L1 while it meets the block's column
    /// panels, whose slice (256 KiB) stays in L2; and a sum over thousands of k is several chains, not one long one.
    static let depthBlock = 256

    /// Rows and columns of C per task: a task packs its columns of B (panels of `panelColumns` columns, k-major) and
    /// runs every row panel of its rows against them, block of k by block of k, the sums between blocks in a tile of
    /// its own (256 KiB). Decided by the shape alone.
    static func blocks(_ kernel: GemmMicroKernel) -> (rows: Int, columns: Int) { (32 * kernel.panelRows, 256) }

    /// Whether our kernel runs this product (else OpenBLAS): not where packing must transpose an operand against a thin
    /// other side (A's rows along k with fewer than 128 columns of C, or B's columns along k with fewer than 128 rows),
    /// the small model's weight gradients: there the transpositions took 1.8 times the products' own time, and the
    /// whole took twice OpenBLAS's (`perf` of a small training step, docs/PERFORMANCE-LOG.md).
    var packingPays: Bool { (transA || n >= 128) && (!transB || m >= 128) }

    /// C = alpha · op(A) · op(B) + beta · C on our own micro-kernel: op(A) packed once into panels of `panelRows` rows
    /// (zero past m), then tasks of `blocks` over the threads (`parallel`) or on the calling thread.
    /// With `packedA` (from `packA(_:parallel:)` of a problem with the same op(A)) A is not packed again.
    func runPacked(_ kernel: GemmMicroKernel, parallel: Bool, packedA given: UnsafePointer<Float>? = nil) {
        guard m > 0, n > 0 else { return }
        let (rowsPerPanel, columnsPerPanel) = (kernel.panelRows, kernel.panelColumns)
        let owned = given == nil ? packA(kernel, parallel: parallel) : nil
        defer { owned?.deallocate() }
        let packedA = given ?? UnsafePointer(owned!)
        let (rowBlock, columnBlock) = Self.blocks(kernel)
        let (rowTasks, columnTasks) = ((m + rowBlock - 1) / rowBlock, (n + columnBlock - 1) / columnBlock)
        let depthBlocks = max(1, (k + Self.depthBlock - 1) / Self.depthBlock)
        let tile = rowsPerPanel * columnsPerPanel, tilesWide = columnBlock / columnsPerPanel
        // Tasks run column block by column block, so that consecutive tasks of a thread reuse the packed block of B.
        let body = { (tasks: Range<Int>) in
            let packedB = Self.allocate(min((n + columnsPerPanel - 1) / columnsPerPanel * columnsPerPanel, columnBlock) * k)
            let sums = Self.allocate(depthBlocks > 1 ? rowBlock * columnBlock : 1)
            defer { packedB.deallocate(); sums.deallocate() }
            var packedBlock = -1
            for task in tasks {
                let columnTask = task / rowTasks, rowTask = task % rowTasks
                let columns = columnTask * columnBlock..<min(n, (columnTask + 1) * columnBlock)
                if packedBlock != columnTask {
                    packB(columns: columns, kernel, into: packedB)
                    packedBlock = columnTask
                }
                let rows = rowTask * rowBlock..<min(m, (rowTask + 1) * rowBlock)
                for depth in 0..<depthBlocks {
                    let k0 = depth * Self.depthBlock
                    for (p, row) in Swift.stride(from: rows.lowerBound, to: rows.upperBound, by: rowsPerPanel).enumerated() {
                        let panel = UnsafePointer(packedA + row * k + k0 * rowsPerPanel)
                        for (q, column) in Swift.stride(from: columns.lowerBound, to: columns.upperBound, by: columnsPerPanel).enumerated() {
                            kernel.block(depth: min(Self.depthBlock, k - k0), a: panel,
                                         b: packedB + (column - columns.lowerBound) * k + k0 * columnsPerPanel,
                                         sums: sums + (p * tilesWide + q) * tile, earlier: depth > 0, final: depth == depthBlocks - 1,
                                         c: c + row * ldc + column, ldc: ldc, rows: min(rowsPerPanel, m - row),
                                         columns: min(columnsPerPanel, columns.upperBound - column), alpha: alpha, beta: beta)
                        }
                    }
                }
            }
        }
        if parallel { parallelFor(rowTasks * columnTasks, grain: 1, body) } else { body(0..<rowTasks * columnTasks) }
    }

    /// op(A) in panels of `panelRows` rows, zero past m; the caller deallocates it.
    func packA(_ kernel: GemmMicroKernel, parallel: Bool) -> UnsafeMutablePointer<Float> {
        let rowsPerPanel = kernel.panelRows, panels = (m + rowsPerPanel - 1) / rowsPerPanel
        let packed = Self.allocate(panels * rowsPerPanel * k)
        if parallel {
            parallelFor(panels, grain: max(1, 32_768 / max(1, rowsPerPanel * k))) { packA(panels: $0, kernel, into: packed) }
        } else {
            packA(panels: 0..<panels, kernel, into: packed)
        }
        return packed
    }

    /// k per block of a packing transposition: the block's slice of a panel (64 lines) stays in L1. Transposing a
    /// whole panel row by row wrote k lines per row, thousands for the weight gradient's tiles, and took twice the
    /// time of the small model's products.
    static let packDepth = 64

    /// Float storage on a 64-byte boundary (a vector load across two cache lines costs two).
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, count))
    }

    /// Panels `panels` of op(A): panel p holds rows p · panelRows … for each k side by side, zero past m.
    func packA(panels: Range<Int>, _ kernel: GemmMicroKernel, into packed: UnsafeMutablePointer<Float>) {
        let rows = kernel.panelRows
        for panel in panels {
            let first = panel * rows, valid = min(rows, m - first)
            let out = packed + first * k
            for r in 0..<rows where r >= valid {
                for kk in 0..<k { out[kk * rows + r] = 0 }
            }
            if transA {
                // op(A)[i][kk] = a[kk · lda + i]: the panel's rows are contiguous for each k.
                for kk in 0..<k { (out + kk * rows).update(from: a + kk * lda + first, count: valid) }
            } else {
                // A transposition: a whole panel of 8 rows by 8 × 8 blocks in registers; the rest (a last partial
                // panel, the AVX2 kernel's 6 rows, k past a multiple of 8) in blocks of k whose slice of the panel
                // stays in L1 while each row fills its lane.
                let blocked = rows == 8 && valid == 8 ? k / 8 * 8 : 0
                for k0 in Swift.stride(from: 0, to: blocked, by: 8) {
                    vd_transpose8x8(a + first * lda + k0, lda, out + k0 * rows, rows)
                }
                for k0 in Swift.stride(from: blocked, to: k, by: Self.packDepth) {
                    for r in 0..<valid {
                        let row = a + (first + r) * lda
                        for kk in k0..<min(k, k0 + Self.packDepth) { out[kk * rows + r] = row[kk] }
                    }
                }
            }
        }
    }

    /// Columns `columns` of op(B) (starting on a panel boundary of C's tasks) in panels of `panelColumns`, each k-major,
    /// zero past the last column.
    func packB(columns: Range<Int>, _ kernel: GemmMicroKernel, into packed: UnsafeMutablePointer<Float>) {
        let width = kernel.panelColumns
        for first in Swift.stride(from: columns.lowerBound, to: columns.upperBound, by: width) {
            let valid = min(width, columns.upperBound - first)
            let out = packed + (first - columns.lowerBound) * k
            if transB {
                // op(B)[kk][j] = b[j · ldb + kk]: the panel's columns are rows of b. Groups of 8 columns by 8 × 8
                // blocks in registers, the rest (columns past a multiple of 8, k past one) in blocks of k.
                let (groups, blocked) = (valid / 8 * 8, k / 8 * 8)
                for j0 in Swift.stride(from: 0, to: groups, by: 8) {
                    for k0 in Swift.stride(from: 0, to: blocked, by: 8) {
                        vd_transpose8x8(b + (first + j0) * ldb + k0, ldb, out + k0 * width + j0, width)
                    }
                }
                for k0 in Swift.stride(from: 0, to: k, by: Self.packDepth) {
                    let k1 = min(k, k0 + Self.packDepth)
                    for j in 0..<valid {
                        // A grouped column's k below `blocked` went through the registers above.
                        let from = j < groups ? Swift.max(k0, blocked) : k0
                        guard from < k1 else { continue }
                        let column = b + (first + j) * ldb
                        for kk in from..<k1 { out[kk * width + j] = column[kk] }
                    }
                }
            } else {
                for kk in 0..<k { (out + kk * width).update(from: b + kk * ldb + first, count: valid) }
            }
            if valid < width {
                for kk in 0..<k { (out + kk * width + valid).update(repeating: 0, count: width - valid) }
            }
        }
    }
}
