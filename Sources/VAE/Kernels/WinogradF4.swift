/// Winograd F(4×4, 3×3) for stride-1, pad-1 3×3 convolutions (Lavin & Gray, 2015): each 4×4 output tile is computed from a 6×6 input tile with 36 multiplications instead of 144 — 2.25
/// per output against F(2×2)'s 4 — as 36 GEMMs over a chunk of tiles. Used for the forward, the input gradient
/// and the weight gradient; its larger transform constants cost some accuracy, bounded in ConvolutionAlgorithmTests. The
/// interpolation points are 0, 1, −1, 1/2, −2 and ∞ rather than the usual 0, ±1, ±2: at 512 channels they
/// halve the error (Barabasz et al., 2020, on choosing points for accuracy).
///
///   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,  dg = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙ (A dY_t Aᵀ) ] G,
///   with 6×6 transformed tiles (ξ = 6·row + column)
public enum WinogradF4 {
    /// U[ξ][o][i] = (G g[o][i] Gᵀ)[ξ] for weights [O, I, 3, 3], `Winograd.stride(O · I)` apart; with `flipped`
    /// the kernel of the input gradient, U[ξ][i][o] of g[o][i] rotated by 180° (as `Winograd.transformWeights`).
    /// Pairs are taken in the order of U's columns, so that the 36 streams of stores run forward.
    public static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                        flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels, step = Winograd.stride(pairs)
        Profile.measure(.winograd) {
            parallelFor(pairs, grain: 64) { range in
                for dst in range {
                    let g = w + 9 * (flipped ? (dst % outChannels) * inChannels + dst / outChannels : dst)
                    // g Gᵀ row by row (rotated by 180° for the flipped kernel), then G down each of the six columns.
                    let h0 = flipped ? interpolate(g[8], g[7], g[6]) : interpolate(g[0], g[1], g[2])
                    let h1 = flipped ? interpolate(g[5], g[4], g[3]) : interpolate(g[3], g[4], g[5])
                    let h2 = flipped ? interpolate(g[2], g[1], g[0]) : interpolate(g[6], g[7], g[8])
                    func emit(_ k: Int, _ column: (Float, Float, Float, Float, Float, Float)) {
                        let p = u + k * step + dst
                        p[0] = column.0
                        p[6 * step] = column.1
                        p[12 * step] = column.2
                        p[18 * step] = column.3
                        p[24 * step] = column.4
                        p[30 * step] = column.5
                    }
                    emit(0, interpolate(h0.0, h1.0, h2.0))
                    emit(1, interpolate(h0.1, h1.1, h2.1))
                    emit(2, interpolate(h0.2, h1.2, h2.2))
                    emit(3, interpolate(h0.3, h1.3, h2.3))
                    emit(4, interpolate(h0.4, h1.4, h2.4))
                    emit(5, interpolate(h0.5, h1.5, h2.5))
                }
            }
        }
    }

    /// V[ξ][c][t] = (Bᵀ d_t B)[ξ] for the 6×6 input tiles d_t of the tile rows `rows` of geometry `g` (tile 4),
    /// pad 1 and zeros outside the image. Eight horizontally adjacent tiles at once: their six columns are lanes
    /// 4j + s of two 32-wide loads from zero-padded copies of the six rows. With `upsampledFrom2x` x is half the
    /// geometry's size and is read as its nearest-neighbour ×2 upsampling; with `normalization` the convolution sees
    /// the group norm (+ swish) of x (both as `Winograd.transformInput`).
    public static func transformInput(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                      rows: Range<Int>, upsampledFrom2x: Bool = false, normalization: NormalizedRead? = nil,
                                      into v: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 4, "WinogradF4 needs a geometry of 4×4 tiles")
        let tw = g.tilesWide
        let tiles = rows.count * tw
        let stride = Winograd.stride(channels * tiles)
        // Padded rows: one zero column before the image, zeros after it up to the last 32-wide load.
        let groups = (tw + 7) / 8
        let pw = 32 * groups + 40
        Profile.measure(.winograd) {
            forEachPaddedTileRow(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x,
                                 normalization: normalization, lineWidth: pw) { c, row, padded in
                let base = c * tiles + (row - rows.lowerBound) * tw
                for group in 0..<groups {
                    // Columns s = 0…5 of the 8 tiles in row r: lanes 4j + s from col and col + 4.
                    func columns(_ r: Int) -> Six {
                        let line = UnsafeRawPointer(padded + r * pw + 32 * group)
                        let a = line.loadUnaligned(as: SIMD32<Float>.self)
                        let b = line.loadUnaligned(fromByteOffset: 16, as: SIMD32<Float>.self)
                        return (a.evenHalf.evenHalf, a.oddHalf.evenHalf, a.evenHalf.oddHalf, a.oddHalf.oddHalf,
                                b.evenHalf.evenHalf, b.oddHalf.evenHalf)
                    }
                    // d B on each row, then Bᵀ down the columns.
                    let h0 = transform(columns(0)), h1 = transform(columns(1)), h2 = transform(columns(2))
                    let h3 = transform(columns(3)), h4 = transform(columns(4)), h5 = transform(columns(5))
                    let t = base + 8 * group
                    let count = min(8, tw - 8 * group)
                    func emit(_ k: Int, _ m: Six) { storeColumn(m, v + k * stride + t, stride: stride, count: count) }
                    emit(0, transform((h0.0, h1.0, h2.0, h3.0, h4.0, h5.0)))
                    emit(1, transform((h0.1, h1.1, h2.1, h3.1, h4.1, h5.1)))
                    emit(2, transform((h0.2, h1.2, h2.2, h3.2, h4.2, h5.2)))
                    emit(3, transform((h0.3, h1.3, h2.3, h3.3, h4.3, h5.3)))
                    emit(4, transform((h0.4, h1.4, h2.4, h3.4, h4.4, h5.4)))
                    emit(5, transform((h0.5, h1.5, h2.5, h3.5, h4.5, h5.5)))
                }
            }
        }
    }

    /// y[n][c] = Aᵀ M_t A (+ bias) for the tiles of the tile rows `rows`, cropped to the image: M is
    /// [36][channels][chunk tiles], eight tiles at a time. With `pooledTo2x` (the adjoint of the ×2 upsampling)
    /// each 2×2 block of a tile's outputs is summed into the one pixel of the half-size y it came from.
    public static func inverseOutput(_ mt: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                     rows: Range<Int>, bias: UnsafePointer<Float>?, pooledTo2x: Bool = false,
                                     into y: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 4, "WinogradF4 needs a geometry of 4×4 tiles")
        let (h, w) = (g.height, g.width)
        let stride = Winograd.stride(channels * rows.count * g.tilesWide)
        Profile.measure(.winograd) {
            forEachOutputTileGroup(y, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x) { b0, plane, ty, tx0, count, t in
                func load(_ xi: Int) -> SIMD8<Float> { VectorMath.load(mt + xi * stride + t, count: count) }
                // Aᵀ m down each column s, then · A along each of the four rows.
                func column(_ s: Int) -> Four {
                    inverse((load(s), load(6 + s), load(12 + s), load(18 + s), load(24 + s), load(30 + s)))
                }
                let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
                let outputs = (inverse((c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)) + b0, inverse((c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)) + b0,
                               inverse((c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)) + b0, inverse((c0.3, c1.3, c2.3, c3.3, c4.3, c5.3)) + b0)
                if pooledTo2x {
                    storePooled(outputs, plane, height: h / 2, width: w / 2, tileRow: ty, firstTile: tx0, count: count)
                } else {
                    storeOutputs(outputs, plane, height: h, width: w, tileRow: ty, firstTile: tx0, count: count)
                }
            }
        }
    }

    /// W[ξ][c][t] = (A dY_t Aᵀ)[ξ] for the 4×4 output-gradient tiles dY_t of the tile rows `rows` (zeros outside
    /// the image), for the weight gradient dg = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙ (A dY_t Aᵀ) ] G. Eight tiles at a time from
    /// the zero-padded rows of `forEachPaddedTileRow`: a tile row's four rows are its lines 1…4, from column 1.
    public static func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                               rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 4, "WinogradF4 needs a geometry of 4×4 tiles")
        let tw = g.tilesWide
        let tiles = rows.count * tw
        let stride = Winograd.stride(channels * tiles)
        let groups = (tw + 7) / 8
        let pw = 32 * groups + 8
        Profile.measure(.winograd) {
            forEachPaddedTileRow(dy, channels: channels, g, rows: rows, upsampledFrom2x: false, normalization: nil,
                                 lineWidth: pw) { c, row, padded in
                let base = c * tiles + (row - rows.lowerBound) * tw
                for group in 0..<groups {
                    // Columns s = 0…3 of the 8 tiles in row r: lanes 4j + s of one 32-wide load.
                    func columns(_ r: Int) -> Four {
                        let a = UnsafeRawPointer(padded + (r + 1) * pw + 32 * group + 1).loadUnaligned(as: SIMD32<Float>.self)
                        return (a.evenHalf.evenHalf, a.oddHalf.evenHalf, a.evenHalf.oddHalf, a.oddHalf.oddHalf)
                    }
                    // dY Aᵀ on each row, then A down the columns.
                    let h0 = interpolateOutput(columns(0)), h1 = interpolateOutput(columns(1))
                    let h2 = interpolateOutput(columns(2)), h3 = interpolateOutput(columns(3))
                    let t = base + 8 * group
                    let count = min(8, tw - 8 * group)
                    func emit(_ k: Int, _ m: Six) { storeColumn(m, out + k * stride + t, stride: stride, count: count) }
                    emit(0, interpolateOutput((h0.0, h1.0, h2.0, h3.0)))
                    emit(1, interpolateOutput((h0.1, h1.1, h2.1, h3.1)))
                    emit(2, interpolateOutput((h0.2, h1.2, h2.2, h3.2)))
                    emit(3, interpolateOutput((h0.3, h1.3, h2.3, h3.3)))
                    emit(4, interpolateOutput((h0.4, h1.4, h2.4, h3.4)))
                    emit(5, interpolateOutput((h0.5, h1.5, h2.5, h3.5)))
                }
            }
        }
    }

    /// dg[o][i] += Gᵀ M[·][o][i] G for M of shape [36][O][I] (`Winograd.stride(O · I)` apart).
    public static func accumulateWeightGradient(_ mt: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                                into dw: UnsafeMutablePointer<Float>) {
        forEachWeightPair(mt, outChannels: outChannels, inChannels: inChannels, into: dw) { m, step, out in
            // Gᵀ down each of the six columns, then Gᵀ along each of the three rows.
            func column(_ s: Int) -> (Float, Float, Float) {
                fold((m[s * step], m[(6 + s) * step], m[(12 + s) * step], m[(18 + s) * step], m[(24 + s) * step], m[(30 + s) * step]))
            }
            let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
            func emit(_ r: Int, _ row: (Float, Float, Float)) {
                out[3 * r] += row.0
                out[3 * r + 1] += row.1
                out[3 * r + 2] += row.2
            }
            emit(0, fold((c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)))
            emit(1, fold((c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)))
            emit(2, fold((c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)))
        }
    }

    /// Stores column k of `count` transformed 6×6 tiles, given at p = matrix k, column t: the six values go to
    /// ξ = k, 6 + k, …, 30 + k, matrices `stride` apart.
    @inline(__always)
    private static func storeColumn(_ m: Six, _ p: UnsafeMutablePointer<Float>, stride: Int, count: Int) {
        VectorMath.store(m.0, p, count: count)
        VectorMath.store(m.1, p + 6 * stride, count: count)
        VectorMath.store(m.2, p + 12 * stride, count: count)
        VectorMath.store(m.3, p + 18 * stride, count: count)
        VectorMath.store(m.4, p + 24 * stride, count: count)
        VectorMath.store(m.5, p + 30 * stride, count: count)
    }

    typealias Six = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    typealias Four = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// G on three values: (a, (a + b + c)/3, (−a + b − c)/3, −(16a + 8b + 4c)/15, (a − 2b + 4c)/15, c).
    @inline(__always)
    private static func interpolate(_ a: Float, _ b: Float, _ c: Float) -> (Float, Float, Float, Float, Float, Float) {
        let even = a + c
        return (a, (even + b) * (1.0 / 3), (b - even) * (1.0 / 3), (a * 16 + b * 8 + c * 4) * (-1.0 / 15),
                (a - b * 2 + c * 4) * (1.0 / 15), c)
    }

    /// Bᵀ on six values: rows (1, −3/2, −2, 3/2, 1, 0), (0, −1, 1/2, 5/2, 1, 0), (0, 1, −5/2, 1/2, 1, 0),
    /// (0, −2, −1, 2, 1, 0), (0, 1/2, −1, −1/2, 1, 0), (0, 1, −3/2, −2, 3/2, 1).
    @inline(__always)
    private static func transform(_ d: Six) -> Six {
        let p = d.4 - d.2, q = d.3 - d.1
        return (d.0 + p - d.2 + 1.5 * q,
                d.4 - d.1 + 0.5 * d.2 + 2.5 * d.3,
                d.4 + d.1 - 2.5 * d.2 + 0.5 * d.3,
                p + 2 * q,
                p - 0.5 * q,
                d.1 + d.5 - 2 * d.3 + 1.5 * p)
    }

    /// Aᵀ on six values: rows (1, 1, 1, 1, 1, 0), (0, 1, −1, 1/2, −2, 0), (0, 1, 1, 1/4, 4, 0), (0, 1, −1, 1/8, −8, 1).
    @inline(__always)
    private static func inverse(_ m: Six) -> Four {
        let sum12 = m.1 + m.2, difference12 = m.1 - m.2
        return (m.0 + sum12 + m.3 + m.4, difference12 + 0.5 * m.3 - 2 * m.4, sum12 + 0.25 * m.3 + 4 * m.4,
                difference12 + 0.125 * m.3 - 8 * m.4 + m.5)
    }

    /// A on four values, the adjoint of `inverse`: (y0, y0 + y1 + y2 + y3, y0 − y1 + y2 − y3,
    /// y0 + y1/2 + y2/4 + y3/8, y0 − 2y1 + 4y2 − 8y3, y3).
    @inline(__always)
    private static func interpolateOutput(_ y: Four) -> Six {
        let even = y.0 + y.2, odd = y.1 + y.3
        return (y.0, even + odd, even - odd, (y.0 + 0.25 * y.2) + (0.5 * y.1 + 0.125 * y.3),
                (y.0 + 4 * y.2) - (2 * y.1 + 8 * y.3), y.3)
    }

    /// Gᵀ on six values, the adjoint of `interpolate`: (m0 + (m1 − m2)/3 − (16m3 − m4)/15,
    /// (m1 + m2)/3 − (8m3 + 2m4)/15, (m1 − m2)/3 − (4m3 − 4m4)/15 + m5).
    @inline(__always)
    private static func fold(_ m: (Float, Float, Float, Float, Float, Float)) -> (Float, Float, Float) {
        let difference12 = (m.1 - m.2) * (1.0 / 3)
        return (m.0 + difference12 + (m.3 * 16 - m.4) * (-1.0 / 15),
                (m.1 + m.2) * (1.0 / 3) + (m.3 * 8 + m.4 * 2) * (-1.0 / 15),
                difference12 + (m.3 * 4 - m.4 * 4) * (-1.0 / 15) + m.5)
    }

    /// Writes the 4×4 outputs of `count` tiles (row i, element j, lane t: pixel (4·tileRow + i, 4·(firstTile + t) + j)),
    /// cropped to the image; whole tiles inside it without per-pixel checks.
    @inline(__always)
    private static func storeOutputs(_ rows: (Four, Four, Four, Four), _ plane: UnsafeMutablePointer<Float>, height h: Int,
                                     width w: Int, tileRow ty: Int, firstTile tx0: Int, count: Int) {
        let oy = 4 * ty, ox0 = 4 * tx0
        func store(_ i: Int, _ r: Four) {
            guard oy + i < h else { return }
            let line = plane + (oy + i) * w + ox0
            if count == 8 && ox0 + 32 <= w {
                for t in 0..<8 {
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
    @inline(__always)
    private static func storePooled(_ rows: (Four, Four, Four, Four), _ plane: UnsafeMutablePointer<Float>, height h: Int,
                                    width w: Int, tileRow ty: Int, firstTile tx0: Int, count: Int) {
        func store(_ a: Int, _ top: Four, _ bottom: Four) {
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

/// The four vectors of a row of outputs, each plus the bias.
private func + (row: WinogradF4.Four, bias: SIMD8<Float>) -> WinogradF4.Four {
    (row.0 + bias, row.1 + bias, row.2 + bias, row.3 + bias)
}
