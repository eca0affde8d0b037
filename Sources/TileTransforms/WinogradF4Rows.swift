/// Winograd F(4×4, 3×3)'s tile transforms for one channel's tile row, `V.lanes` horizontally adjacent tiles at
/// a time (VAE's `WinogradF4` hands them out over channels and tile rows, and documents the interpolation
/// points). Transformed values go to 36 matrices `stride` apart (ξ = 6 · row + column), the row's tiles at
/// consecutive columns from the pointer given.
public enum WinogradF4Rows {
    public typealias Six<V> = (V, V, V, V, V, V)
    public typealias Four<V> = (V, V, V, V)

    /// Width of the padded lines `transformInput` reads: one zero column before the image, zeros after it past
    /// the last load.
    @inlinable
    public static func inputLineWidth(tilesWide tw: Int, lanes: Int) -> Int { 4 * lanes * tileGroups(tw, lanes: lanes) + 40 }

    /// Width of the padded lines `transformOutputGradient` reads.
    @inlinable
    public static func outputGradientLineWidth(tilesWide tw: Int, lanes: Int) -> Int { 4 * lanes * tileGroups(tw, lanes: lanes) + 8 }

    /// V[ξ][t] = (Bᵀ d_t B)[ξ] for the 6×6 input tiles d_t of the tile row whose six rows are `padded`'s lines
    /// (`lineWidth` apart, zero column first): the tiles' six columns are lanes 4j + s of two loads.
    @inlinable @inline(__always)
    public static func transformInput<V: TileLanes>(_: V.Type, _ padded: UnsafePointer<Float>, lineWidth pw: Int,
                                                    tilesWide tw: Int, into v: UnsafeMutablePointer<Float>, stride: Int) {
        for first in Swift.stride(from: 0, to: tw, by: V.lanes) {
            // Columns s = 0…5 of the tiles in row r: lanes 4j + s from 4 · first and 4 · first + 4.
            @inline(__always) func columns(_ r: Int) -> Six<V> {
                let line = UnsafeRawPointer(padded + r * pw + 4 * first)
                let a = V.quads(line), b = V.quads(line + 16)
                return (a.0, a.1, a.2, a.3, b.0, b.1)
            }
            // d B on each row, then Bᵀ down the columns.
            let h0 = transform(columns(0)), h1 = transform(columns(1)), h2 = transform(columns(2))
            let h3 = transform(columns(3)), h4 = transform(columns(4)), h5 = transform(columns(5))
            let count = min(V.lanes, tw - first)
            @inline(__always) func emit(_ k: Int, _ m: Six<V>) { storeColumn(m, v + k * stride + first, stride: stride, count: count) }
            emit(0, transform((h0.0, h1.0, h2.0, h3.0, h4.0, h5.0)))
            emit(1, transform((h0.1, h1.1, h2.1, h3.1, h4.1, h5.1)))
            emit(2, transform((h0.2, h1.2, h2.2, h3.2, h4.2, h5.2)))
            emit(3, transform((h0.3, h1.3, h2.3, h3.3, h4.3, h5.3)))
            emit(4, transform((h0.4, h1.4, h2.4, h3.4, h4.4, h5.4)))
            emit(5, transform((h0.5, h1.5, h2.5, h3.5, h4.5, h5.5)))
        }
    }

    /// y = Aᵀ M_t A + bias for the tiles of tile row `ty` (M at `mt`, 36 matrices `stride` apart), into the
    /// channel's `plane` (height h × width w), cropped to it. With `pooledTo2x` (the adjoint of the ×2 upsampling)
    /// each 2×2 block of a tile's outputs is summed into the one pixel of the half-size plane it came from.
    @inlinable @inline(__always)
    public static func inverseOutput<V: TileLanes>(_: V.Type, _ mt: UnsafePointer<Float>, stride: Int, bias: Float,
                                                   pooledTo2x: Bool, into plane: UnsafeMutablePointer<Float>,
                                                   tileRow ty: Int, height h: Int, width w: Int, tilesWide tw: Int) {
        let b0 = V(repeating: bias)
        for tx0 in Swift.stride(from: 0, to: tw, by: V.lanes) {
            let count = min(V.lanes, tw - tx0)
            @inline(__always) func load(_ xi: Int) -> V { V(loading: mt + xi * stride + tx0, count: count) }
            // Aᵀ m down each column s, then · A along each of the four rows.
            @inline(__always) func column(_ s: Int) -> Four<V> {
                inverse((load(s), load(6 + s), load(12 + s), load(18 + s), load(24 + s), load(30 + s)))
            }
            let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
            let outputs = (adding(b0, inverse((c0.0, c1.0, c2.0, c3.0, c4.0, c5.0))), adding(b0, inverse((c0.1, c1.1, c2.1, c3.1, c4.1, c5.1))),
                           adding(b0, inverse((c0.2, c1.2, c2.2, c3.2, c4.2, c5.2))), adding(b0, inverse((c0.3, c1.3, c2.3, c3.3, c4.3, c5.3))))
            if pooledTo2x {
                storePooled(outputs, plane, height: h / 2, width: w / 2, tileRow: ty, firstTile: tx0, count: count)
            } else {
                storeOutputs(outputs, plane, height: h, width: w, tileRow: ty, firstTile: tx0, count: count)
            }
        }
    }

    /// W[ξ][t] = (A dY_t Aᵀ)[ξ] for the 4×4 output-gradient tiles dY_t of one tile row, whose four rows are
    /// lines 1…4 of `padded` (`lineWidth` apart, from column 1; zeros outside the image).
    @inlinable @inline(__always)
    public static func transformOutputGradient<V: TileLanes>(_: V.Type, _ padded: UnsafePointer<Float>, lineWidth pw: Int,
                                                             tilesWide tw: Int, into out: UnsafeMutablePointer<Float>,
                                                             stride: Int) {
        for first in Swift.stride(from: 0, to: tw, by: V.lanes) {
            // Columns s = 0…3 of the tiles in row r: lanes 4j + s of one load.
            @inline(__always) func columns(_ r: Int) -> Four<V> { V.quads(UnsafeRawPointer(padded + (r + 1) * pw + 4 * first + 1)) }
            // dY Aᵀ on each row, then A down the columns.
            let h0 = interpolateOutput(columns(0)), h1 = interpolateOutput(columns(1))
            let h2 = interpolateOutput(columns(2)), h3 = interpolateOutput(columns(3))
            let count = min(V.lanes, tw - first)
            @inline(__always) func emit(_ k: Int, _ m: Six<V>) { storeColumn(m, out + k * stride + first, stride: stride, count: count) }
            emit(0, interpolateOutput((h0.0, h1.0, h2.0, h3.0)))
            emit(1, interpolateOutput((h0.1, h1.1, h2.1, h3.1)))
            emit(2, interpolateOutput((h0.2, h1.2, h2.2, h3.2)))
            emit(3, interpolateOutput((h0.3, h1.3, h2.3, h3.3)))
            emit(4, interpolateOutput((h0.4, h1.4, h2.4, h3.4)))
            emit(5, interpolateOutput((h0.5, h1.5, h2.5, h3.5)))
        }
    }

    /// Stores column k of `count` transformed 6×6 tiles, given at p = matrix k, column t: the six values go to
    /// ξ = k, 6 + k, …, 30 + k, matrices `stride` apart.
    @inlinable @inline(__always)
    static func storeColumn<V: TileLanes>(_ m: Six<V>, _ p: UnsafeMutablePointer<Float>, stride: Int, count: Int) {
        m.0.store(to: p, count: count)
        m.1.store(to: p + 6 * stride, count: count)
        m.2.store(to: p + 12 * stride, count: count)
        m.3.store(to: p + 18 * stride, count: count)
        m.4.store(to: p + 24 * stride, count: count)
        m.5.store(to: p + 30 * stride, count: count)
    }

    /// Bᵀ on six values: rows (1, −3/2, −2, 3/2, 1, 0), (0, −1, 1/2, 5/2, 1, 0), (0, 1, −5/2, 1/2, 1, 0),
    /// (0, −2, −1, 2, 1, 0), (0, 1/2, −1, −1/2, 1, 0), (0, 1, −3/2, −2, 3/2, 1).
    @inlinable @inline(__always)
    static func transform<V: TileLanes>(_ d: Six<V>) -> Six<V> {
        let p = d.4 - d.2, q = d.3 - d.1
        return (d.0 + p - d.2 + 1.5 * q,
                d.4 - d.1 + 0.5 * d.2 + 2.5 * d.3,
                d.4 + d.1 - 2.5 * d.2 + 0.5 * d.3,
                p + 2 * q,
                p - 0.5 * q,
                d.1 + d.5 - 2 * d.3 + 1.5 * p)
    }

    /// Aᵀ on six values: rows (1, 1, 1, 1, 1, 0), (0, 1, −1, 1/2, −2, 0), (0, 1, 1, 1/4, 4, 0), (0, 1, −1, 1/8, −8, 1).
    @inlinable @inline(__always)
    static func inverse<V: TileLanes>(_ m: Six<V>) -> Four<V> {
        let sum12 = m.1 + m.2, difference12 = m.1 - m.2
        return (m.0 + sum12 + m.3 + m.4, difference12 + 0.5 * m.3 - 2 * m.4, sum12 + 0.25 * m.3 + 4 * m.4,
                difference12 + 0.125 * m.3 - 8 * m.4 + m.5)
    }

    /// A on four values, the adjoint of `inverse`: (y0, y0 + y1 + y2 + y3, y0 − y1 + y2 − y3,
    /// y0 + y1/2 + y2/4 + y3/8, y0 − 2y1 + 4y2 − 8y3, y3).
    @inlinable @inline(__always)
    static func interpolateOutput<V: TileLanes>(_ y: Four<V>) -> Six<V> {
        let even = y.0 + y.2, odd = y.1 + y.3
        return (y.0, even + odd, even - odd, (y.0 + 0.25 * y.2) + (0.5 * y.1 + 0.125 * y.3),
                (y.0 + 4 * y.2) - (2 * y.1 + 8 * y.3), y.3)
    }

    /// The four vectors of a row of outputs, each plus the bias.
    @inlinable @inline(__always)
    static func adding<V: TileLanes>(_ bias: V, _ row: Four<V>) -> Four<V> {
        (row.0 + bias, row.1 + bias, row.2 + bias, row.3 + bias)
    }

    /// Writes the 4×4 outputs of `count` tiles (row i, element j, lane t: pixel (4·tileRow + i, 4·(firstTile + t) + j)),
    /// cropped to the image; whole tiles inside it without per-pixel checks.
    @inlinable @inline(__always)
    static func storeOutputs<V: TileLanes>(_ rows: (Four<V>, Four<V>, Four<V>, Four<V>), _ plane: UnsafeMutablePointer<Float>,
                                           height h: Int, width w: Int, tileRow ty: Int, firstTile tx0: Int, count: Int) {
        let oy = 4 * ty, ox0 = 4 * tx0
        @inline(__always) func store(_ i: Int, _ r: Four<V>) {
            guard oy + i < h else { return }
            let line = plane + (oy + i) * w + ox0
            if count == V.lanes && ox0 + 4 * V.lanes <= w {
                for t in 0..<V.lanes {
                    line[4 * t] = r.0[t]; line[4 * t + 1] = r.1[t]; line[4 * t + 2] = r.2[t]; line[4 * t + 3] = r.3[t]
                }
                return
            }
            for t in 0..<count {
                let ox = 4 * t
                if ox0 + ox < w { line[ox] = r.0[t] }
                if ox0 + ox + 1 < w { line[ox + 1] = r.1[t] }
                if ox0 + ox + 2 < w { line[ox + 2] = r.2[t] }
                if ox0 + ox + 3 < w { line[ox + 3] = r.3[t] }
            }
        }
        store(0, rows.0); store(1, rows.1); store(2, rows.2); store(3, rows.3)
    }

    /// Sums each 2×2 block of the tiles' outputs into the half-size plane (height h × width w): pixel
    /// (2·tileRow + a, 2·(firstTile + t) + b), cropped to the plane.
    @inlinable @inline(__always)
    static func storePooled<V: TileLanes>(_ rows: (Four<V>, Four<V>, Four<V>, Four<V>), _ plane: UnsafeMutablePointer<Float>,
                                          height h: Int, width w: Int, tileRow ty: Int, firstTile tx0: Int, count: Int) {
        @inline(__always) func store(_ a: Int, _ top: Four<V>, _ bottom: Four<V>) {
            guard 2 * ty + a < h else { return }
            let left = top.0 + top.1 + bottom.0 + bottom.1, right = top.2 + top.3 + bottom.2 + bottom.3
            let line = plane + (2 * ty + a) * w
            for t in 0..<count {
                let x = 2 * (tx0 + t)
                line[x] = left[t]
                if x + 1 < w { line[x + 1] = right[t] }
            }
        }
        store(0, rows.0, rows.1)
        store(1, rows.2, rows.3)
    }
}
