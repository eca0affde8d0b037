import TileTransforms

/// Winograd F(2×2, 3×3) for stride-1, pad-1 3×3 convolutions (Lavin & Gray, 2015): each 2×2 output tile is
/// computed from a 4×4 input tile with 16 multiplications instead of 36, as 16 GEMMs over a chunk of tiles.
/// The same transforms give the input gradient (a convolution with the flipped kernel) and the weight
/// gradient (Σ_tiles of the transformed input times the transformed output gradient).
///
///   forward:  Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
///   weights:  dg = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙ (A dY_t Aᵀ) ] G
public enum WinogradF2: WinogradAlgorithm {
    public static let tile = 2

    /// U[ξ][o][i] = (G g[o][i] Gᵀ)[ξ] for weights [O, I, 3, 3]. With `flipped`, the kernel of the input
    /// gradient instead: g'[i][o] = g[o][i] rotated by 180°, giving U[ξ][i][o]. Eight pairs at a time, each of U's 16
    /// values one vector store (`TransformedWeights.transform`). With `packed`, each U[ξ] in the panels of `GemmAVX512`
    /// (`TransformedWeights`), `stride` of their size apart.
    public static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                        flipped: Bool, packed: Bool = false, into u: UnsafeMutablePointer<Float>) {
        let layout = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: packed)
        layout.transform(w, flipped: flipped, points: 16, into: u) { g, store in
            typealias Row = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
            let (k0, k1, k2) = (g.row(0), g.row(1), g.row(2))
            // t = G g (rows k0, ½(k0 + k1 + k2), ½(k0 − k1 + k2), k2), then u = t Gᵀ row by row.
            func emit(_ r: Int, _ t: Row) {
                store(4 * r, t.0)
                store(4 * r + 1, 0.5 * (t.0 + t.1 + t.2))
                store(4 * r + 2, 0.5 * (t.0 - t.1 + t.2))
                store(4 * r + 3, t.2)
            }
            emit(0, k0)
            emit(1, (0.5 * (k0.0 + k1.0 + k2.0), 0.5 * (k0.1 + k1.1 + k2.1), 0.5 * (k0.2 + k1.2 + k2.2)))
            emit(2, (0.5 * (k0.0 - k1.0 + k2.0), 0.5 * (k0.1 - k1.1 + k2.1), 0.5 * (k0.2 - k1.2 + k2.2)))
            emit(3, k2)
        }
    }

    /// V[ξ][c][t] = (Bᵀ d_t B)[ξ] for the 4×4 input tiles d_t of the tile rows `rows`, channel c (pad 1, zeros
    /// outside the image); t counts the chunk's tiles. `kernels.lanes` horizontally adjacent tiles are transformed
    /// at once from zero-padded copies of the four rows (`WinogradF2Rows.transformInput`).
    /// With `upsampledFrom2x`, x is half the geometry's size and the convolution sees its nearest-neighbour ×2
    /// upsampling (ldm's Upsample), read on the fly instead of materialised at 4× the memory; with `normalization`
    /// it sees the group norm (+ swish) of x, applied as the rows are read. V's rows are `rowLength` apart (default:
    /// the chunk's tiles; longer for `WinogradProducts`), its matrices `stride(channels · rowLength)`.
    public static func transformInput(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                      rows: Range<Int>, upsampledFrom2x: Bool = false, normalization: NormalizedRead? = nil,
                                      rowLength: Int? = nil, kernels requested: TransformKernels = .active,
                                      into v: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 2, "WinogradF2 needs a geometry of 2×2 tiles")
        let kernels = requested.forRows(tilesWide: g.tilesWide)
        let pw = WinogradF2Rows.inputLineWidth(tilesWide: g.tilesWide, lanes: kernels.lanes)
        transformTileRows(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x, normalization: normalization,
                          lineWidth: pw, rowLength: rowLength, into: v) { padded, row, stride in
            kernels.f2Input(padded, lineWidth: pw, tilesWide: g.tilesWide, into: row, stride: stride)
        }
    }

    /// y[n][c] = Aᵀ M_t A (+ bias) for the tiles of the tile rows `rows`, cropped to the image: M is
    /// [16][channels][chunk tiles] (`WinogradF2Rows.inverseOutput`, eight tiles at a time: 16 measured slower).
    /// With `pooledTo2x` (the adjoint of the ×2 upsampling, for the input gradient of an upsampling convolution)
    /// each tile's four outputs are summed into the one pixel of the half-size y they all came from. M's rows are
    /// `rowLength` apart (default: the chunk's tiles).
    public static func inverseOutput(_ mt: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                     rows: Range<Int>, bias: UnsafePointer<Float>?, pooledTo2x: Bool = false,
                                     rowLength: Int? = nil, kernels _: TransformKernels = .active,
                                     into y: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 2, "WinogradF2 needs a geometry of 2×2 tiles")
        forEachOutputTileRow(mt, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x, rowLength: rowLength,
                             into: y) { row, stride, bias, plane, ty in
            WinogradF2Rows.inverseOutput(SIMD8<Float>.self, row, stride: stride, bias: bias, pooledTo2x: pooledTo2x,
                                         into: plane, tileRow: ty, height: g.height, width: g.width, tilesWide: g.tilesWide)
        }
    }

    /// W[ξ][c][t] = (A dY_t Aᵀ)[ξ] for the 2×2 output-gradient tiles dY_t of the tile rows `rows` (zeros outside
    /// the image), eight tiles at a time (16 measured slower) from the zero-padded rows of `forEachPaddedTileRow`: a
    /// tile row's two rows are its lines 1 and 2.
    public static func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                               rows: Range<Int>, kernels _: TransformKernels = .active,
                                               into out: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 2, "WinogradF2 needs a geometry of 2×2 tiles")
        let pw = WinogradF2Rows.outputGradientLineWidth(tilesWide: g.tilesWide, lanes: SIMD8<Float>.lanes)
        transformTileRows(dy, channels: channels, g, rows: rows, upsampledFrom2x: false, normalization: nil, lineWidth: pw,
                          rowLength: nil, into: out) { padded, row, stride in
            WinogradF2Rows.transformOutputGradient(SIMD8<Float>.self, padded, lineWidth: pw, tilesWide: g.tilesWide,
                                                   into: row, stride: stride)
        }
    }

    /// dg[o][i] += Gᵀ M[·][o][i] G for M of shape [16][O][I], eight pairs at a time (`forEachWeightLanes`).
    public static func accumulateWeightGradient(_ mt: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                                into dw: UnsafeMutablePointer<Float>) {
        forEachWeightLanes(mt, outChannels: outChannels, inChannels: inChannels, points: 16, into: dw) { lanes in
            typealias Row = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
            func row(_ r: Int) -> Row { (lanes.sums(4 * r), lanes.sums(4 * r + 1), lanes.sums(4 * r + 2), lanes.sums(4 * r + 3)) }
            let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3))
            // Gᵀ m: rows (m0 + ½(m1 + m2), ½(m1 − m2), ½(m1 + m2) + m3), then · G on each row.
            func emit(_ r: Int, _ t: Row) {
                lanes.add(3 * r, t.0 + 0.5 * (t.1 + t.2))
                lanes.add(3 * r + 1, 0.5 * (t.1 - t.2))
                lanes.add(3 * r + 2, 0.5 * (t.1 + t.2) + t.3)
            }
            emit(0, (m0.0 + 0.5 * (m1.0 + m2.0), m0.1 + 0.5 * (m1.1 + m2.1), m0.2 + 0.5 * (m1.2 + m2.2), m0.3 + 0.5 * (m1.3 + m2.3)))
            emit(1, (0.5 * (m1.0 - m2.0), 0.5 * (m1.1 - m2.1), 0.5 * (m1.2 - m2.2), 0.5 * (m1.3 - m2.3)))
            emit(2, (0.5 * (m1.0 + m2.0) + m3.0, 0.5 * (m1.1 + m2.1) + m3.1, 0.5 * (m1.2 + m2.2) + m3.2, 0.5 * (m1.3 + m2.3) + m3.3))
        }
    }
}
