/// Winograd F(2×2, 3×3)'s tile transforms for one channel's tile row, `V.lanes` horizontally adjacent tiles at
/// a time (VAE's `Winograd` hands them out over channels and tile rows). Transformed values go to 16 matrices
/// `stride` apart, the row's tiles at consecutive columns from the pointer given.
public enum WinogradF2Rows {
    /// Width of the padded lines `transformInput` reads: one zero column before the image, zeros after it past
    /// the last load.
    @inlinable
    public static func inputLineWidth(tilesWide tw: Int, lanes: Int) -> Int { 2 * lanes * tileGroups(tw, lanes: lanes) + 2 + 16 }

    /// Width of the padded lines `transformOutputGradient` reads (a zero column, the image's row, zeros after it).
    @inlinable
    public static func outputGradientLineWidth(tilesWide tw: Int, lanes: Int) -> Int { 2 * lanes * tileGroups(tw, lanes: lanes) + 8 }

    /// V[ξ][t] = (Bᵀ d_t B)[ξ] for the 4×4 input tiles d_t of the tile row whose four rows are `padded`'s lines
    /// (`lineWidth` apart, zero column first). Column s of the tiles are the even and odd lanes of two loads.
    @inlinable @inline(__always)
    public static func transformInput<V: TileLanes>(_: V.Type, _ padded: UnsafePointer<Float>, lineWidth pw: Int,
                                                    tilesWide tw: Int, into v: UnsafeMutablePointer<Float>, stride: Int) {
        for first in Swift.stride(from: 0, to: tw, by: V.lanes) {
            // Column s of the tiles, row r: lanes of the loads at 2 · first and 2 · first + 2.
            @inline(__always) func columns(_ r: Int) -> (V, V, V, V) {
                let line = UnsafeRawPointer(padded + r * pw + 2 * first)
                let a = V.pairs(line), b = V.pairs(line + 8)
                return (a.0, a.1, b.0, b.1)
            }
            let d0 = columns(0), d1 = columns(1), d2 = columns(2), d3 = columns(3)
            let count = min(V.lanes, tw - first)
            @inline(__always) func store(_ xi: Int, _ value: V) { value.store(to: v + xi * stride + first, count: count) }
            // Bᵀ d on rows: (d0 − d2, d1 + d2, d2 − d1, d1 − d3); then the same on columns.
            @inline(__always) func emit(_ r: Int, _ m: (V, V, V, V)) {
                store(4 * r + 0, m.0 - m.2)
                store(4 * r + 1, m.1 + m.2)
                store(4 * r + 2, m.2 - m.1)
                store(4 * r + 3, m.1 - m.3)
            }
            emit(0, (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3))
            emit(1, (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3))
            emit(2, (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3))
            emit(3, (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3))
        }
    }

    /// y = Aᵀ M_t A + bias for the tiles of tile row `ty` (M at `mt`, 16 matrices `stride` apart), into the
    /// channel's `plane` (height h × width w), cropped to it. With `pooledTo2x` (the adjoint of the ×2 upsampling)
    /// each tile's four outputs are summed into the one pixel of the half-size plane they all came from.
    @inlinable @inline(__always)
    public static func inverseOutput<V: TileLanes>(_: V.Type, _ mt: UnsafePointer<Float>, stride: Int, bias: Float,
                                                   pooledTo2x: Bool, into plane: UnsafeMutablePointer<Float>,
                                                   tileRow ty: Int, height h: Int, width w: Int, tilesWide tw: Int) {
        let b0 = V(repeating: bias), lanes = V.lanes
        for tx0 in Swift.stride(from: 0, to: tw, by: lanes) {
            let count = min(lanes, tw - tx0)
            @inline(__always) func load(_ xi: Int) -> V { V(loading: mt + xi * stride + tx0, count: count) }
            // Aᵀ m: rows (m0 + m1 + m2, m1 − m2 − m3) for each column s, then the same on columns.
            @inline(__always) func rows(_ s: Int) -> (V, V) {
                let (m0, m1, m2, m3) = (load(s), load(4 + s), load(8 + s), load(12 + s))
                return (m0 + m1 + m2, m1 - m2 - m3)
            }
            let c0 = rows(0), c1 = rows(1), c2 = rows(2), c3 = rows(3)
            let y00 = c0.0 + c1.0 + c2.0 + b0, y01 = c1.0 - c2.0 - c3.0 + b0
            let y10 = c0.1 + c1.1 + c2.1 + b0, y11 = c1.1 - c2.1 - c3.1 + b0
            if pooledTo2x {
                let sum = y00 + y01 + y10 + y11
                for j in 0..<count { plane[ty * tw + tx0 + j] = sum[j] }
                continue
            }
            let oy = 2 * ty
            if count == lanes && 2 * (tx0 + lanes) <= w && oy + 1 < h {
                // Whole tiles inside the image: interleave without per-pixel bounds checks.
                let top = plane + oy * w + 2 * tx0, bottom = top + w
                for j in 0..<lanes {
                    top[2 * j] = y00[j]
                    top[2 * j + 1] = y01[j]
                    bottom[2 * j] = y10[j]
                    bottom[2 * j + 1] = y11[j]
                }
                continue
            }
            for j in 0..<count {
                let ox = 2 * (tx0 + j)
                plane[oy * w + ox] = y00[j]
                if ox + 1 < w { plane[oy * w + ox + 1] = y01[j] }
                if oy + 1 < h {
                    plane[(oy + 1) * w + ox] = y10[j]
                    if ox + 1 < w { plane[(oy + 1) * w + ox + 1] = y11[j] }
                }
            }
        }
    }

    /// W[ξ][t] = (A dY_t Aᵀ)[ξ] for the 2×2 output-gradient tiles dY_t of one tile row, whose two rows are
    /// `padded`'s lines 1 and 2 (`lineWidth` apart, zero column first, zeros after the image).
    @inlinable @inline(__always)
    public static func transformOutputGradient<V: TileLanes>(_: V.Type, _ padded: UnsafePointer<Float>, lineWidth pw: Int,
                                                             tilesWide tw: Int, into out: UnsafeMutablePointer<Float>,
                                                             stride: Int) {
        for first in Swift.stride(from: 0, to: tw, by: V.lanes) {
            // The tile row's two rows are lines 1 and 2, from column 1 (after the zero column).
            let (a, b) = V.pairs(UnsafeRawPointer(padded + pw + 2 * first + 1))
            let (e, f) = V.pairs(UnsafeRawPointer(padded + 2 * pw + 2 * first + 1))
            let count = min(V.lanes, tw - first)
            @inline(__always) func store(_ xi: Int, _ value: V) { value.store(to: out + xi * stride + first, count: count) }
            // A dY (4×2): rows (a, b), (a + e, b + f), (a − e, b − f), (−e, −f); then · Aᵀ.
            @inline(__always) func emit(_ r: Int, _ p: V, _ q: V) {
                store(4 * r + 0, p)
                store(4 * r + 1, p + q)
                store(4 * r + 2, p - q)
                store(4 * r + 3, -q)
            }
            emit(0, a, b)
            emit(1, a + e, b + f)
            emit(2, a - e, b - f)
            emit(3, -e, -f)
        }
    }
}
