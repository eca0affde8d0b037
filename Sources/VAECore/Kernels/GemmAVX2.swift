import CSIMD
import GemmAVX512

/// The AVX2/FMA micro-kernels: of `PackedGemm` (compiled with the rest of VAECore for x86-64-v3): a 6 × 16 block of C in
/// twelve 8-float registers, per k two loads of B's packed row, six broadcasts of A and twelve FMAs, with two
/// registers left for B and one for the broadcast (16 in all: no spills). The same contract as
/// `GemmAVX512.packedBlock`, bit for bit.
enum GemmAVX2 {
    static let panelRows = 6
    static let panelColumns = 16

    /// `GemmAVX512.multiply` (the Winograd products, on the same layouts: A in panels of 8 rows, B's rows padded to
    /// 32 columns) with the same FMA chain per element, so both paths give bitwise the same convolutions: each 8 × 32
    /// block as four 4 × 16 quarters (eight accumulators, two loads of B, one broadcast: no spills).
    static func multiply(m: Int, depth: Int, columns: Range<Int>, a: UnsafePointer<Float>,
                         b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let (rows, width) = (GemmAVX512.panelRows, GemmAVX512.panelColumns)
        for p in Swift.stride(from: 0, to: m, by: rows) {
            for j in Swift.stride(from: columns.lowerBound, to: columns.upperBound, by: width) {
                for quarter in Swift.stride(from: 0, to: min(rows, m - p), by: 4) {
                    for half in Swift.stride(from: 0, to: width, by: 16) {
                        quarterBlock(depth: depth, a: a + p * depth + quarter, b: b + j + half, ldb: ldb,
                                     c: c + (p + quarter) * ldc + j + half, ldc: ldc, rows: min(4, m - p - quarter))
                    }
                }
            }
        }
    }

    /// Rows `rows` (≤ 4) of a 4 × 16 block of C: A's four rows at stride `GemmAVX512.panelRows` per k.
    @inline(never)
    static func quarterBlock(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int) {
        var c00 = Vector(), c01 = Vector(), c10 = Vector(), c11 = Vector()
        var c20 = Vector(), c21 = Vector(), c30 = Vector(), c31 = Vector()
        var ap = a, bp = b
        let ahead = GemmAVX512.prefetchRows * ldb
        for _ in 0..<depth {
            vd_prefetch(bp + ahead)
            let b0 = load(bp), b1 = load(bp + 8)
            var s = Vector(repeating: ap[0])
            c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
            s = Vector(repeating: ap[1])
            c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
            s = Vector(repeating: ap[2])
            c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
            s = Vector(repeating: ap[3])
            c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
            ap += GemmAVX512.panelRows
            bp += ldb
        }
        store(c00, c); store(c01, c + 8)
        guard rows > 1 else { return }
        store(c10, c + ldc); store(c11, c + ldc + 8)
        guard rows > 2 else { return }
        store(c20, c + 2 * ldc); store(c21, c + 2 * ldc + 8)
        guard rows > 3 else { return }
        store(c30, c + 3 * ldc); store(c31, c + 3 * ldc + 8)
    }

    typealias Vector = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self) }

    @inline(__always)
    static func finish(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) -> Vector {
        let scaled = v * alpha
        return beta == 0 ? scaled : scaled + beta * load(p)
    }

    /// `GemmAVX512.packedBlock` for 6 × 16 panels.
    @inline(never)
    static func packedBlock(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, sums: UnsafeMutablePointer<Float>,
                            earlier: Bool, final: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int,
                            alpha: Float, beta: Float) {
        let t = Tile(depth: depth, a: a, b: b, ldb: panelColumns)
        let row = { (r: Int) -> (Vector, Vector) in
            let (v0, v1) = t.row(r)
            guard earlier else { return (v0, v1) }
            let s = sums + r * panelColumns
            return (load(s) + v0, load(s + 8) + v1)
        }
        guard final else {
            for r in 0..<panelRows {
                let (v0, v1) = row(r)
                store(v0, sums + r * panelColumns); store(v1, sums + r * panelColumns + 8)
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
                store(finish(v0, p, alpha, beta), p); store(finish(v1, p + 8, alpha, beta), p + 8)
                continue
            }
            for j in 0..<columns {
                var value = alpha * (j < 8 ? v0[j] : v1[j - 8])
                if beta != 0 { value = value + beta * p[j] }
                p[j] = value
            }
        }
    }

    struct Tile {
        var c00 = Vector(), c01 = Vector(), c10 = Vector(), c11 = Vector(), c20 = Vector(), c21 = Vector()
        var c30 = Vector(), c31 = Vector(), c40 = Vector(), c41 = Vector(), c50 = Vector(), c51 = Vector()

        @inline(__always)
        init(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int) {
            var ap = a, bp = b
            for _ in 0..<depth {
                let b0 = load(bp), b1 = load(bp + 8)
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
            default: (c50, c51)
            }
        }
    }
}
