import TileTransforms

/// Winograd F(2×2, 3×3) for stride-1, pad-1 3×3 convolutions (Lavin & Gray, 2015): each 2×2 output tile is
/// computed from a 4×4 input tile with 16 multiplications instead of 36, as 16 GEMMs over a chunk of tiles.
/// The same transforms give the input gradient (a convolution with the flipped kernel) and the weight
/// gradient (Σ_tiles of the transformed input times the transformed output gradient).
///
/// Tiles are processed in chunks of whole tile rows (`WinogradGeometry.chunks`): the transformed chunk stays
/// in cache for its GEMMs, and the scratch memory is bounded whatever the image size.
///
///   forward:  Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
///   weights:  dg = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙ (A dY_t Aᵀ) ] G
public struct WinogradGeometry: Sendable {
    public let batch, height, width: Int
    /// Output pixels on a tile's side: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3).
    public let tile: Int
    public var tilesHigh: Int { (height + tile - 1) / tile }
    public var tilesWide: Int { (width + tile - 1) / tile }
    /// Tile rows over the whole batch (row r is tile row r % tilesHigh of image r / tilesHigh).
    public var tileRows: Int { batch * tilesHigh }
    /// Transformed values per tile (ξ): 16 or 36.
    public var points: Int { (tile + 2) * (tile + 2) }

    public init(batch: Int, height: Int, width: Int, tile: Int = 2) {
        precondition(tile == 2 || tile == 4, "Winograd tiles are 2×2 or 4×4")
        (self.batch, self.height, self.width, self.tile) = (batch, height, width, tile)
    }

    /// Ranges of tile rows whose transformed tiles for `channels` channels take about 16 MiB
    /// (points × channels × tiles floats): decided by the shape alone, so results do not depend on threads.
    /// A chunk never spans two images and every image is cut the same way: a tile's GEMM column, and with it
    /// OpenBLAS's kernel and summation order, then depends on its place in its image only, so an image gives
    /// bitwise the same output in any batch slot (the layer analysis compares slots 0 and 1).
    public func chunks(channels: Int) -> [Range<Int>] {
        let tilesPerChunk = max(tilesWide, (1 << 22) / (points * max(channels, 1)))
        let rowsPerChunk = max(1, min(tilesHigh, tilesPerChunk / tilesWide))
        return (0..<batch).flatMap { n in
            Swift.stride(from: n * tilesHigh, to: (n + 1) * tilesHigh, by: rowsPerChunk)
                .map { $0..<min((n + 1) * tilesHigh, $0 + rowsPerChunk) }
        }
    }
}

public enum Winograd {
    /// Distance between consecutive ξ matrices of a transformed tensor. Padded so that the 16 matrices do not
    /// start at addresses a multiple of 4 KiB apart: a tile's 16 values go to 16 streams, which would otherwise
    /// all map to the same cache sets.
    public static func stride(_ elements: Int) -> Int { (elements + 15) / 16 * 16 + 16 }

    /// All transformed tensors are 16 matrices `stride(rows · columns)` apart.
    ///
    /// U[ξ][o][i] = (G g[o][i] Gᵀ)[ξ] for weights [O, I, 3, 3]. With `flipped`, the kernel of the input
    /// gradient instead: g'[i][o] = g[o][i] rotated by 180°, giving U[ξ][i][o]. With `packed`, each U[ξ] in the panels
    /// of `GemmAVX512` (`TransformedWeights`), `stride` of their size apart.
    public static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                        flipped: Bool, packed: Bool = false, into u: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels
        let layout = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: packed)
        let step = layout.step
        layout.zeroPadding(u, points: 16)
        Profile.measure(.winograd) {
            parallelFor(pairs, grain: 64) { range in
                for pair in range {
                    let o = pair / inChannels, i = pair % inChannels
                    let g = w + pair * 9
                    // The kernel's rows (rotated by 180° for the flipped kernel).
                    func kernelRow(_ r: Int) -> SIMD3<Float> {
                        flipped ? SIMD3(g[8 - 3 * r], g[7 - 3 * r], g[6 - 3 * r]) : SIMD3(g[3 * r], g[3 * r + 1], g[3 * r + 2])
                    }
                    let (k0, k1, k2) = (kernelRow(0), kernelRow(1), kernelRow(2))
                    // t = G g (rows k0, ½(k0 + k1 + k2), ½(k0 − k1 + k2), k2), then u = t Gᵀ row by row.
                    let dst = layout.index(flipped ? i * outChannels + o : o * inChannels + i)
                    func emit(_ r: Int, _ t: SIMD3<Float>) {
                        u[(4 * r + 0) * step + dst] = t[0]
                        u[(4 * r + 1) * step + dst] = 0.5 * (t[0] + t[1] + t[2])
                        u[(4 * r + 2) * step + dst] = 0.5 * (t[0] - t[1] + t[2])
                        u[(4 * r + 3) * step + dst] = t[2]
                    }
                    emit(0, k0)
                    emit(1, 0.5 * (k0 + k1 + k2))
                    emit(2, 0.5 * (k0 - k1 + k2))
                    emit(3, k2)
                }
            }
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
        precondition(g.tile == 2, "Winograd (F(2×2)) needs a geometry of 2×2 tiles")
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
                                     rowLength: Int? = nil, into y: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 2, "Winograd (F(2×2)) needs a geometry of 2×2 tiles")
        forEachOutputTileRow(mt, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x, rowLength: rowLength,
                             into: y) { row, stride, bias, plane, ty in
            WinogradF2Rows.inverseOutput(SIMD8<Float>.self, row, stride: stride, bias: bias, pooledTo2x: pooledTo2x,
                                         into: plane, tileRow: ty, height: g.height, width: g.width, tilesWide: g.tilesWide)
        }
    }

    /// W[ξ][c][t] = (A dY_t Aᵀ)[ξ] for the 2×2 output-gradient tiles dY_t of the tile rows `rows` (zeros outside
    /// the image), eight tiles at a time (16 measured slower) from zero-padded copies of the two rows.
    public static func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                               rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(g.tile == 2, "Winograd (F(2×2)) needs a geometry of 2×2 tiles")
        let (h, w, th, tw) = (g.height, g.width, g.tilesHigh, g.tilesWide)
        let tiles = rows.count * tw
        let stride = Winograd.stride(channels * tiles)
        let pw = WinogradF2Rows.outputGradientLineWidth(tilesWide: tw, lanes: SIMD8<Float>.lanes)
        Profile.measure(.winograd) {
            parallelFor(channels, grain: 1) { range in
                let padded = UnsafeMutablePointer<Float>.allocate(capacity: 2 * pw)
                defer { padded.deallocate() }
                padded.initialize(repeating: 0, count: 2 * pw)
                for c in range {
                    for row in rows {
                        let n = row / th, ty = row % th
                        let plane = dy + (n * channels + c) * h * w
                        for r in 0..<2 {
                            let y = 2 * ty + r
                            if y < h { (padded + r * pw).update(from: plane + y * w, count: w) } else { (padded + r * pw).update(repeating: 0, count: w) }
                        }
                        WinogradF2Rows.transformOutputGradient(SIMD8<Float>.self, padded, lineWidth: pw, tilesWide: tw,
                                                               into: out + c * tiles + (row - rows.lowerBound) * tw, stride: stride)
                    }
                }
            }
        }
    }

    /// dg[o][i] += Gᵀ M[·][o][i] G for M of shape [16][O][I].
    public static func accumulateWeightGradient(_ mt: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                                into dw: UnsafeMutablePointer<Float>) {
        forEachWeightPair(mt, outChannels: outChannels, inChannels: inChannels, into: dw) { m, step, out in
            func row(_ r: Int) -> SIMD4<Float> {
                SIMD4(m[(4 * r) * step], m[(4 * r + 1) * step], m[(4 * r + 2) * step], m[(4 * r + 3) * step])
            }
            let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3))
            // Gᵀ m: rows (m0 + ½(m1 + m2), ½(m1 − m2), ½(m1 + m2) + m3), then · G on each row.
            func emit(_ r: Int, _ t: SIMD4<Float>) {
                out[3 * r] += t[0] + 0.5 * (t[1] + t[2])
                out[3 * r + 1] += 0.5 * (t[1] - t[2])
                out[3 * r + 2] += 0.5 * (t[1] + t[2]) + t[3]
            }
            emit(0, m0 + 0.5 * (m1 + m2))
            emit(1, 0.5 * (m1 - m2))
            emit(2, 0.5 * (m1 + m2) + m3)
        }
    }
}

/// The frame of the row-wise transforms (`Winograd.transformInput`, `WinogradF4.transformInput`,
/// `WinogradF4.transformOutputGradient`): each channel's tile row, read into padded lines `lineWidth` apart
/// (`forEachPaddedTileRow`), goes to `transform(padded lines, the row's first column of out, distance between ξ)`,
/// out being [points][channels][chunk tiles] with rows `rowLength` apart (nil: the chunk's tiles).
@inline(__always)
func transformTileRows(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                       upsampledFrom2x: Bool, normalization: NormalizedRead?, lineWidth: Int, rowLength: Int?,
                       into out: UnsafeMutablePointer<Float>,
                       _ transform: (_ padded: UnsafeMutablePointer<Float>, _ row: UnsafeMutablePointer<Float>, _ stride: Int) -> Void) {
    let tiles = rowLength ?? rows.count * g.tilesWide
    let stride = Winograd.stride(channels * tiles)
    Profile.measure(.winograd) {
        forEachPaddedTileRow(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x,
                             normalization: normalization, lineWidth: lineWidth) { c, row, padded in
            transform(padded, out + c * tiles + (row - rows.lowerBound) * g.tilesWide, stride)
        }
    }
}

/// For every channel of x and tile row of `rows`: the tile row's `g.tile + 2` input rows (from row tile · ty − 1)
/// in a per-thread buffer of rows `lineWidth` apart, with a zero column before the image and zeros after it, then
/// `body(channel, tile row, buffer)`. Channels are shared out over the threads. With `normalization` the rows are
/// those of the norm's output (`NormalizedRead`); zeros outside the image stay zero (the padding of that output).
@inline(__always)
func forEachPaddedTileRow(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                          upsampledFrom2x: Bool, normalization: NormalizedRead?, lineWidth pw: Int,
                          _ body: (_ channel: Int, _ row: Int, _ padded: UnsafeMutablePointer<Float>) -> Void) {
    precondition(normalization == nil || !upsampledFrom2x, "no group norm feeds an upsampling convolution")
    let lines = g.tile + 2
    let (h, w, th) = (g.height, g.width, g.tilesHigh)
    let planeSize = upsampledFrom2x ? (h / 2) * (w / 2) : h * w
    parallelFor(channels, grain: 1) { range in
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: lines * pw)
        defer { padded.deallocate() }
        padded.initialize(repeating: 0, count: lines * pw)
        for c in range {
            for row in rows {
                let n = row / th, ty = row % th
                let k = n * channels + c
                // The next tile row of the same image starts with this one's last two rows: moved up, not read
                // (or normalised) again.
                let kept = row > rows.lowerBound && ty > 0 ? 2 : 0
                if kept > 0 { padded.update(from: padded + g.tile * pw, count: kept * pw) }
                for r in kept..<lines {
                    copyPaddedRow(x + k * planeSize, row: g.tile * ty - 1 + r, height: h, width: w,
                                  upsampledFrom2x: upsampledFrom2x, normalization: normalization.map { ($0, k) },
                                  into: padded + r * pw)
                }
                body(c, row, padded)
            }
        }
    }
}

/// The frame of the inverse transforms (`Winograd.inverseOutput`, `WinogradF4.inverseOutput`): for every channel of
/// y and every tile row of `rows`, `body(the row's first tile in M, the distance between ξ, bias of the channel, the
/// image's plane of that channel, tile row in the image)`, M being [points][channels][chunk tiles] with rows
/// `rowLength` apart (nil: the chunk's tiles). With `pooledTo2x` the planes are half size.
@inline(__always)
func forEachOutputTileRow(_ mt: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                          bias: UnsafePointer<Float>?, pooledTo2x: Bool, rowLength: Int?, into y: UnsafeMutablePointer<Float>,
                          _ body: (_ row: UnsafePointer<Float>, _ stride: Int, _ bias: Float, _ plane: UnsafeMutablePointer<Float>,
                                   _ tileRow: Int) -> Void) {
    let (th, tw) = (g.tilesHigh, g.tilesWide)
    let planeSize = pooledTo2x ? (g.height / 2) * (g.width / 2) : g.height * g.width
    let tiles = rowLength ?? rows.count * tw
    let stride = Winograd.stride(channels * tiles)
    Profile.measure(.winograd) {
        parallelFor(channels, grain: 1) { range in
            for c in range {
                let b = bias.map { $0[c] } ?? 0
                for row in rows {
                    let n = row / th, ty = row % th
                    body(mt + c * tiles + (row - rows.lowerBound) * tw, stride, b, y + (n * channels + c) * planeSize, ty)
                }
            }
        }
    }
}

/// Row y of a convolution input plane into line[1...w] (zeros outside the image; with `upsampledFrom2x` the plane
/// is w/2 wide and the row that of its nearest-neighbour ×2 upsampling, read on the fly; with `normalization`, the
/// row of plane k of the norm's output).
@inline(__always)
func copyPaddedRow(_ plane: UnsafePointer<Float>, row y: Int, height h: Int, width w: Int, upsampledFrom2x: Bool,
                   normalization: (read: NormalizedRead, plane: Int)?, into line: UnsafeMutablePointer<Float>) {
    if y < 0 || y >= h {
        (line + 1).update(repeating: 0, count: w)
    } else if upsampledFrom2x {
        let sw = w / 2, source = plane + (y / 2) * sw
        for i in 0..<sw { line[1 + 2 * i] = source[i]; line[2 + 2 * i] = source[i] }
    } else if let normalization {
        normalization.read.row(plane + y * w, ofPlane: normalization.plane, from: y * w, count: w, planeSize: h * w,
                               into: line + 1)
    } else {
        (line + 1).update(from: plane + y * w, count: w)
    }
}

/// For every (output, input) channel pair of the summed products M of a weight gradient ([points][O][I],
/// `Winograd.stride(O · I)` apart): `body(the pair's value of M[0], the distance between ξ, its 3×3 gradient)`.
@inline(__always)
func forEachWeightPair(_ mt: UnsafePointer<Float>, outChannels: Int, inChannels: Int, into dw: UnsafeMutablePointer<Float>,
                       _ body: (_ m: UnsafePointer<Float>, _ step: Int, _ gradient: UnsafeMutablePointer<Float>) -> Void) {
    let pairs = outChannels * inChannels, step = Winograd.stride(pairs)
    Profile.measure(.winograd) {
        parallelFor(pairs, grain: 64) { range in
            for pair in range { body(mt + pair, step, dw + 9 * pair) }
        }
    }
}
