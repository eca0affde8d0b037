import TileTransforms

/// Winograd F(4×4, 3×3) for stride-1, pad-1 3×3 convolutions (Lavin & Gray, 2015): each 4×4 output tile is computed from a 6×6 input tile with 36 multiplications instead of 144 — 2.25
/// per output against F(2×2)'s 4 — as 36 GEMMs over a chunk of tiles. Used for the forward, the input gradient
/// and the weight gradient; its larger transform constants cost some accuracy, bounded in ConvolutionAlgorithmTests. The
/// interpolation points are 0, 1, −1, 1/2, −2 and ∞ rather than the usual 0, ±1, ±2: at 512 channels they
/// halve the error (Barabasz et al., 2020, on choosing points for accuracy).
///
///   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,  dg = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙ (A dY_t Aᵀ) ] G,
///   with 6×6 transformed tiles (ξ = 6·row + column)
public enum WinogradF4: WinogradAlgorithm {
    public static let tile = 4

    /// U[ξ][o][i] = (G g[o][i] Gᵀ)[ξ] for weights [O, I, 3, 3], `WinogradGeometry.matrixStride(O · I)` apart; with `flipped`
    /// the kernel of the input gradient, U[ξ][i][o] of g[o][i] rotated by 180° (as `WinogradF2.transformWeights`).
    /// Eight pairs at a time, each of U's 36 values one vector store (`TransformedWeights.transform`). With `packed`,
    /// each U[ξ] in the panels of `GemmAVX512` (`TransformedWeights`).
    public static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                        flipped: Bool, packed: Bool = false, into u: UnsafeMutablePointer<Float>) {
        let layout = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: packed)
        layout.transform(w, flipped: flipped, points: 36, into: u) { g, store in
            // g Gᵀ row by row, then G down each of the six columns: column s gives U[6j + s].
            let (r0, r1, r2) = (g.row(0), g.row(1), g.row(2))
            let h0 = interpolate(r0.0, r0.1, r0.2), h1 = interpolate(r1.0, r1.1, r1.2), h2 = interpolate(r2.0, r2.1, r2.2)
            func emit(_ s: Int, _ column: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                store(s, column.0)
                store(6 + s, column.1)
                store(12 + s, column.2)
                store(18 + s, column.3)
                store(24 + s, column.4)
                store(30 + s, column.5)
            }
            emit(0, interpolate(h0.0, h1.0, h2.0))
            emit(1, interpolate(h0.1, h1.1, h2.1))
            emit(2, interpolate(h0.2, h1.2, h2.2))
            emit(3, interpolate(h0.3, h1.3, h2.3))
            emit(4, interpolate(h0.4, h1.4, h2.4))
            emit(5, interpolate(h0.5, h1.5, h2.5))
        }
    }

    /// V[ξ][c][t] = (Bᵀ d_t B)[ξ] for the 6×6 input tiles d_t of the tile rows `rows` of geometry `g` (tile 4),
    /// pad 1 and zeros outside the image, `kernels.lanes` horizontally adjacent tiles at once from zero-padded
    /// copies of the six rows (`WinogradF4Rows.transformInput`). With `upsampledFrom2x` x is half the geometry's
    /// size and is read as its nearest-neighbour ×2 upsampling; with `normalization` the convolution sees the group
    /// norm (+ swish) of x; V's rows are `rowLength` apart (all three as `WinogradF2.transformInput`).
    public static func transformInput(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                      rows: Range<Int>, upsampledFrom2x: Bool = false, normalization: NormalizedRead? = nil,
                                      rowLength: Int? = nil, kernels requested: TransformKernels = .active,
                                      into v: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 4, "WinogradF4 needs a geometry of 4×4 tiles")
        let kernels = requested.forRows(tilesWide: g.tilesWide)
        let pw = WinogradF4Rows.inputLineWidth(tilesWide: g.tilesWide, lanes: kernels.lanes)
        transformTileRows(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x, normalization: normalization,
                          lineWidth: pw, rowLength: rowLength, into: v) { padded, row, stride in
            kernels.f4Input(padded, lineWidth: pw, tilesWide: g.tilesWide, into: row, stride: stride)
        }
    }

    /// y[n][c] = Aᵀ M_t A (+ bias) for the tiles of the tile rows `rows`, cropped to the image: M is
    /// [36][channels][chunk tiles], `kernels.lanes` tiles at a time (`WinogradF4Rows.inverseOutput`). With
    /// `pooledTo2x` (the adjoint of the ×2 upsampling) each 2×2 block of a tile's outputs is summed into the one
    /// pixel of the half-size y it came from. M's rows are `rowLength` apart (default: the chunk's tiles).
    public static func inverseOutput(_ mt: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                     rows: Range<Int>, bias: UnsafePointer<Float>?, pooledTo2x: Bool = false,
                                     rowLength: Int? = nil, kernels requested: TransformKernels = .active,
                                     into y: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 4, "WinogradF4 needs a geometry of 4×4 tiles")
        let kernels = requested.forRows(tilesWide: g.tilesWide)
        forEachOutputTileRow(mt, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x, rowLength: rowLength,
                             into: y) { row, stride, bias, plane, ty in
            kernels.f4Inverse(row, stride: stride, bias: bias, pooledTo2x: pooledTo2x, into: plane, tileRow: ty,
                              height: g.height, width: g.width, tilesWide: g.tilesWide)
        }
    }

    /// W[ξ][c][t] = (A dY_t Aᵀ)[ξ] for the 4×4 output-gradient tiles dY_t of the tile rows `rows` (zeros outside
    /// the image), for the weight gradient dg = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙ (A dY_t Aᵀ) ] G. `kernels.lanes` tiles at a
    /// time from the zero-padded rows of `forEachPaddedTileRow`: a tile row's four rows are its lines 1…4.
    public static func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                               rows: Range<Int>, kernels requested: TransformKernels = .active,
                                               into out: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 4, "WinogradF4 needs a geometry of 4×4 tiles")
        let kernels = requested.forRows(tilesWide: g.tilesWide)
        let pw = WinogradF4Rows.outputGradientLineWidth(tilesWide: g.tilesWide, lanes: kernels.lanes)
        transformTileRows(dy, channels: channels, g, rows: rows, upsampledFrom2x: false, normalization: nil, lineWidth: pw,
                          rowLength: nil, into: out) { padded, row, stride in
            kernels.f4OutputGradient(padded, lineWidth: pw, tilesWide: g.tilesWide, into: row, stride: stride)
        }
    }

    /// dg[o][i] += Gᵀ M[·][o][i] G for M of shape [36][O][I] (`WinogradGeometry.matrixStride(O · I)` apart), eight
    /// pairs at a time (`forEachWeightLanes`).
    public static func accumulateWeightGradient(_ mt: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                                into dw: UnsafeMutablePointer<Float>) {
        forEachWeightLanes(mt, outChannels: outChannels, inChannels: inChannels, points: 36, into: dw) { lanes in
            // Gᵀ down each of the six columns, then Gᵀ along each of the three rows.
            func column(_ s: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                fold((lanes.sums(s), lanes.sums(6 + s), lanes.sums(12 + s), lanes.sums(18 + s), lanes.sums(24 + s), lanes.sums(30 + s)))
            }
            let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
            func emit(_ r: Int, _ row: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                lanes.add(3 * r, row.0)
                lanes.add(3 * r + 1, row.1)
                lanes.add(3 * r + 2, row.2)
            }
            emit(0, fold((c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)))
            emit(1, fold((c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)))
            emit(2, fold((c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)))
        }
    }

    /// G on three values, eight lanes at once: (a, (a + b + c)/3, (−a + b − c)/3, −(16a + 8b + 4c)/15, (a − 2b + 4c)/15, c).
    @inline(__always)
    private static func interpolate(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let even = a + c
        let third: Float = 1.0 / 3, fifteenth: Float = 1.0 / 15, minusFifteenth: Float = -1.0 / 15
        return (a, (even + b) * third, (b - even) * third, (a * 16 + b * 8 + c * 4) * minusFifteenth,
                (a - b * 2 + c * 4) * fifteenth, c)
    }

    /// Gᵀ on six values, the adjoint of `interpolate`, eight lanes at once: (m0 + (m1 − m2)/3 − (16m3 − m4)/15,
    /// (m1 + m2)/3 − (8m3 + 2m4)/15, (m1 − m2)/3 − (4m3 − 4m4)/15 + m5).
    @inline(__always)
    private static func fold(_ m: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>))
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let third: Float = 1.0 / 3, minusFifteenth: Float = -1.0 / 15
        let difference12 = (m.1 - m.2) * third
        return (m.0 + difference12 + (m.3 * 16 - m.4) * minusFifteenth,
                (m.1 + m.2) * third + (m.3 * 8 + m.4 * 2) * minusFifteenth,
                difference12 + (m.3 * 4 - m.4 * 4) * minusFifteenth + m.5)
    }
}
