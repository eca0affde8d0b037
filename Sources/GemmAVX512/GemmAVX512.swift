import CSIMD

/// A GEMM micro-kernel compiled for x86-64-v4 (AVX-512): for the Winograd products C = A · B (`multiply`), A pre-packed
/// in panels of `panelRows` rows (`packedIndex`), B and C plain row-major with a row length of at least the columns
/// rounded up to `panelColumns`; and for every other product with both operands packed (`packedBlock`). Call it only
/// where the CPU runs AVX-512 (VAE's `TransformKernels` decides).
///
/// Each element of C is one FMA chain over k = 0, 1, … in order, started from zero, whatever its row, column or
/// block: results do not depend on how a product is cut into blocks or shared out over threads.
public enum GemmAVX512 {
    /// Rows of A and C per panel: the micro-kernel keeps a panelRows × panelColumns block of C in 16 registers.
    public static let panelRows = 8
    /// Columns of B and C per micro-kernel call: two 16-float vectors.
    public static let panelColumns = 32
    /// Rows of B ahead that `multiply` prefetches: B's rows lie a page or more apart, where the hardware's prefetchers
    /// do not follow; 8 to 16 ahead measured alike (docs/PERFORMANCE-LOG.md).
    public static let prefetchRows = 8

    /// Where element (row, k) of an m × k matrix lies in its packed form: panels of `panelRows` rows, each k-major
    /// (the panel's rows side by side for each k). The rows of the last panel past m are zero.
    @inlinable
    public static func packedIndex(row: Int, k: Int, depth: Int) -> Int {
        (row / panelRows) * panelRows * depth + k * panelRows + row % panelRows
    }

    /// Floats of an m × depth matrix in packed form.
    @inlinable
    public static func packedCount(rows m: Int, depth: Int) -> Int { (m + panelRows - 1) / panelRows * panelRows * depth }

    /// C[0..<m][columns] = A · B[·][columns] for A packed (m × depth), B (depth × ·) rows `ldb` apart, C rows `ldc`
    /// apart. `columns` starts at a multiple of `panelColumns`; its last panel is computed whole, so B's rows must
    /// hold finite values up to the next multiple of `panelColumns` and C's rows room for them. Rows 64-byte aligned
    /// run fastest (a vector load across two cache lines costs two).
    @inline(never)
    public static func multiply(m: Int, depth: Int, columns: Range<Int>, a: UnsafePointer<Float>,
                                b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // A's panel (8 · depth floats) stays in L1 while it meets every column panel of the block; the block's
        // columns of B stay in L2 for the next panel of A. Blocking k as well measured slower.
        for p in Swift.stride(from: 0, to: m, by: panelRows) {
            for j in Swift.stride(from: columns.lowerBound, to: columns.upperBound, by: panelColumns) {
                block(depth: depth, a: a + p * depth, b: b + j, ldb: ldb, c: c + p * ldc + j, ldc: ldc, rows: min(panelRows, m - p))
            }
        }
    }

    typealias Vector = SIMD16<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }


    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self) }

    /// One 8 × 32 block of C from B's rows `ldb` apart: only the first `rows` rows are stored.
    @inline(__always)
    static func block(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                      c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int) {
        let t = Tile(depth: depth, a: a, b: b, ldb: ldb, prefetch: prefetchRows * ldb)
        for r in 0..<rows {
            let (v0, v1) = t.row(r)
            store(v0, c + r * ldc); store(v1, c + r * ldc + 16)
        }
    }

    /// One panel of A (`panelRows` floats per k) times one panel of B (`panelColumns` floats per k), both packed (VAECore's
    /// `PackedGemm`), over one block of k (`PackedGemm.depthBlock`): each element one FMA chain over the block's k in order
    /// from zero, plus (`earlier`) the sum of the earlier blocks kept in `sums` (a dense panelRows × panelColumns tile).
    /// Unless `final` the sum goes to `sums`; the final block writes C[0..<rows][0..<columns] = alpha · sum + beta · C
    /// (C unread where beta is zero); rows ≤ 8, columns ≤ 32. The blocks of k keep a product deep in k accurate (a single
    /// chain over thousands of terms, the weight gradient's tiles, lost what OpenBLAS's blocking of k kept) and its
    /// operands in cache.
    @inline(never)
    public static func packedBlock(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, sums: UnsafeMutablePointer<Float>,
                            earlier: Bool, final: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int,
                            alpha: Float, beta: Float) {
        let t = Tile(depth: depth, a: a, b: b, ldb: panelColumns, prefetch: 0)
        let row = { (r: Int) -> (Vector, Vector) in
            let (v0, v1) = t.row(r)
            guard earlier else { return (v0, v1) }
            let s = sums + r * panelColumns
            return (load(s) + v0, load(s + 16) + v1)
        }
        guard final else {
            for r in 0..<panelRows {
                let (v0, v1) = row(r)
                store(v0, sums + r * panelColumns); store(v1, sums + r * panelColumns + 16)
            }
            return
        }
        finish(rows: rows, columns: columns, c: c, ldc: ldc, alpha: alpha, beta: beta, row)
    }

    /// C's rows = alpha · the block's sums + beta · C (C unread where beta is zero); a partial panel of columns element
    /// by element with the same operations.
    @inline(__always)
    static func finish(rows: Int, columns: Int, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                       _ row: (Int) -> (Vector, Vector)) {
        for r in 0..<rows {
            let (v0, v1) = row(r), p = c + r * ldc
            if columns == panelColumns {
                store(finish(v0, p, alpha, beta), p); store(finish(v1, p + 16, alpha, beta), p + 16)
                continue
            }
            for j in 0..<columns {
                var value = alpha * (j < 16 ? v0[j] : v1[j - 16])
                if beta != 0 { value = value + beta * p[j] }
                p[j] = value
            }
        }
    }

    @inline(__always)
    static func finish(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) -> Vector {
        let scaled = v * alpha
        return beta == 0 ? scaled : scaled + beta * load(p)
    }

    /// An 8 × 32 block of A · B in 16 registers: per k two loads of B's row, eight broadcasts of A, sixteen FMAs; with
    /// `prefetch` > 0 also the row that many floats ahead into L1 (B packed and contiguous needs none).
    struct Tile {
        var c00 = Vector(), c01 = Vector(), c10 = Vector(), c11 = Vector()
        var c20 = Vector(), c21 = Vector(), c30 = Vector(), c31 = Vector()
        var c40 = Vector(), c41 = Vector(), c50 = Vector(), c51 = Vector()
        var c60 = Vector(), c61 = Vector(), c70 = Vector(), c71 = Vector()

        @inline(__always)
        init(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, prefetch: Int) {
            var ap = a, bp = b
            for _ in 0..<depth {
                if prefetch > 0 { vd_prefetch(bp + prefetch); vd_prefetch(bp + prefetch + 16) }
                let b0 = load(bp), b1 = load(bp + 16)
                var s = Vector(repeating: ap[0])
                c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
                s = Vector(repeating: ap[1])
                c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
                s = Vector(repeating: ap[2])
                c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
                s = Vector(repeating: ap[3])
                c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
                s = Vector(repeating: ap[4])
                c40 = c40.addingProduct(s, b0); c41 = c41.addingProduct(s, b1)
                s = Vector(repeating: ap[5])
                c50 = c50.addingProduct(s, b0); c51 = c51.addingProduct(s, b1)
                s = Vector(repeating: ap[6])
                c60 = c60.addingProduct(s, b0); c61 = c61.addingProduct(s, b1)
                s = Vector(repeating: ap[7])
                c70 = c70.addingProduct(s, b0); c71 = c71.addingProduct(s, b1)
                ap += panelRows
                bp += ldb
            }
        }

        @inline(__always)
        func row(_ r: Int) -> (Vector, Vector) {
            switch r {
            case 0: (c00, c01)
            case 1: (c10, c11)
            case 2: (c20, c21)
            case 3: (c30, c31)
            case 4: (c40, c41)
            case 5: (c50, c51)
            case 6: (c60, c61)
            default: (c70, c71)
            }
        }
    }
}
