/// Products C = A · B whose operands are already laid out in panels, as the Winograd transforms write them
/// (U as A, V as B): OpenBLAS re-packed both at every call, about a tenth of an SD analysis.
///
/// A (m × k) lies in panels of `panelRows` rows, [row / 6][k][row % 6], rows zero-padded to whole panels;
/// B (k × n) in panels of `panelColumns` columns, [column / 16][k][column % 16], columns zero-padded likewise;
/// C is written row by row, `paddedRows(m)` rows of `paddedColumns(n)` values.
///
/// Every element of C is one chain of fused multiply-adds over k = 0, 1, … in that order, whatever its row,
/// column, block or thread: a column's result depends on its own values only, never on where it lies.
public enum PackedGemm {
    /// Rows of A and C in a panel: the micro-kernel holds a 6 × 16 block of C in 12 of the 16 AVX registers.
    public static let panelRows = 6
    /// Columns of B and C in a panel: two 8-float vectors.
    public static let panelColumns = 16
    /// k values per pass over a block: a B panel of 256 × 16 floats (16 KiB) stays in the 32 KiB L1 cache while
    /// the A panels stream from L2. C is stored and reloaded between passes, which leaves each chain unchanged.
    static let depthBlock = 256
    /// Panels of columns shared out to a thread at a time, with the product's index: decided by the shape alone.
    static let panelsPerBlock = 8

    public static func paddedRows(_ m: Int) -> Int { (m + panelRows - 1) / panelRows * panelRows }
    public static func paddedColumns(_ n: Int) -> Int { (n + panelColumns - 1) / panelColumns * panelColumns }

    /// The place of A's element (row, k) in a matrix of `depth` k values.
    @inline(__always)
    public static func offsetInA(row: Int, k: Int, depth: Int) -> Int {
        (row / panelRows) * panelRows * depth + k * panelRows + row % panelRows
    }

    /// The place of B's element (k, column) in a matrix of `depth` k values.
    @inline(__always)
    public static func offsetInB(k: Int, column: Int, depth: Int) -> Int {
        (column / panelColumns) * panelColumns * depth + k * panelColumns + column % panelColumns
    }

    /// Zeros in the padding rows of `count` A matrices `stride` apart (the rest is the transform's to write).
    public static func clearPaddingRows(_ a: UnsafeMutablePointer<Float>, count: Int, stride: Int, rows: Int, depth: Int) {
        clearLastPanel(a, count: count, stride: stride, used: rows, width: panelRows, depth: depth)
    }

    /// Zeros in the padding columns of `count` B matrices `stride` apart.
    public static func clearPaddingColumns(_ b: UnsafeMutablePointer<Float>, count: Int, stride: Int, columns: Int, depth: Int) {
        clearLastPanel(b, count: count, stride: stride, used: columns, width: panelColumns, depth: depth)
    }

    /// Zeros in the lanes past `used` of the last panel (`width` lanes at each of `depth` k values).
    private static func clearLastPanel(_ p: UnsafeMutablePointer<Float>, count: Int, stride: Int, used: Int, width: Int, depth: Int) {
        let lanes = used % width
        guard lanes > 0 else { return }
        let lastPanel = (used / width) * width * depth
        for matrix in 0..<count {
            for k in 0..<depth { (p + matrix * stride + lastPanel + k * width + lanes).update(repeating: 0, count: width - lanes) }
        }
    }

    /// C[p] = A[p] · B[p] for `count` products of one shape (m × k times k × n), their matrices `strideA`,
    /// `strideB`, `strideC` apart. Threads take blocks of (product, 8 column panels).
    public static func multiply(count: Int, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, strideA: Int,
                                b: UnsafePointer<Float>, strideB: Int, c: UnsafeMutablePointer<Float>, strideC: Int,
                                kind: Profile.Kind = .conv) {
        guard count > 0, m > 0, n > 0 else { return }
        let rowPanels = paddedRows(m) / panelRows, columnPanels = paddedColumns(n) / panelColumns
        let ldc = columnPanels * panelColumns
        let blocks = (columnPanels + panelsPerBlock - 1) / panelsPerBlock
        Profile.measure(kind, flops: 2 * Double(m) * Double(n) * Double(k) * Double(count)) {
            parallelFor(count * blocks, grain: 1) { range in
                for item in range {
                    let product = item / blocks, firstPanel = (item % blocks) * panelsPerBlock
                    let (pa, pb, pc) = (a + product * strideA, b + product * strideB, c + product * strideC)
                    // One pass even for k = 0, so that C is written (zeros).
                    for k0 in Swift.stride(from: 0, to: max(k, 1), by: depthBlock) {
                        let depth = min(depthBlock, k - k0)
                        for panel in firstPanel..<min(columnPanels, firstPanel + panelsPerBlock) {
                            let bPanel = pb + panel * panelColumns * k + k0 * panelColumns
                            for rowPanel in 0..<rowPanels {
                                microKernel(depth: depth, a: pa + rowPanel * panelRows * k + k0 * panelRows, b: bPanel,
                                            c: pc + rowPanel * panelRows * ldc + panel * panelColumns, ldc: ldc,
                                            accumulate: k0 > 0)
                            }
                        }
                    }
                }
            }
        }
    }

    /// C[6][16] (rows `ldc` apart) = (C if `accumulate`, else 0) + A panel [depth][6] · B panel [depth][16]:
    /// per k two loads of B, six broadcasts of A and twelve FMAs into registers.
    @inline(__always)
    static func microKernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        typealias V = SIMD8<Float>
        func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        let (r1, r2, r3, r4, r5) = (c + ldc, c + 2 * ldc, c + 3 * ldc, c + 4 * ldc, c + 5 * ldc)
        var (c00, c01, c10, c11, c20, c21) = (V(), V(), V(), V(), V(), V())
        var (c30, c31, c40, c41, c50, c51) = (V(), V(), V(), V(), V(), V())
        if accumulate {
            (c00, c01, c10, c11, c20, c21) = (load(c), load(c + 8), load(r1), load(r1 + 8), load(r2), load(r2 + 8))
            (c30, c31, c40, c41, c50, c51) = (load(r3), load(r3 + 8), load(r4), load(r4 + 8), load(r5), load(r5 + 8))
        }
        var pa = a, pb = b
        for _ in 0..<depth {
            let b0 = load(pb), b1 = load(pb + 8)
            var x = V(repeating: pa[0])
            c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = V(repeating: pa[1])
            c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = V(repeating: pa[2])
            c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = V(repeating: pa[3])
            c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = V(repeating: pa[4])
            c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = V(repeating: pa[5])
            c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
            pa += panelRows
            pb += panelColumns
        }
        store(c00, c); store(c01, c + 8); store(c10, r1); store(c11, r1 + 8); store(c20, r2); store(c21, r2 + 8)
        store(c30, r3); store(c31, r3 + 8); store(c40, r4); store(c41, r4 + 8); store(c50, r5); store(c51, r5 + 8)
    }
}
