/// What both Winograd algorithms (`WinogradF2`, `WinogradF4`) share: the tile geometry, the distance between
/// transformed matrices, and the loops that frame their per-tile-row transforms.
///
/// Tiles are processed in chunks of whole tile rows (`WinogradGeometry.chunks`): the transformed chunk stays
/// in cache for its GEMMs, and the scratch memory is bounded whatever the image size.
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
    /// bitwise the same output in any batch slot (the layer analysis compares slots 0 and 1). With `acrossImages`
    /// (products whose every column is one FMA chain, whatever its place: `WinogradProducts` on our own kernel) the
    /// batch's tile rows are cut into equal chunks instead: small images then share a chunk, and the products meet
    /// U with more columns at a time.
    public func chunks(channels: Int, acrossImages: Bool = false) -> [Range<Int>] {
        // The budget in whole tile rows, at least one.
        let budget = max(tilesWide, (1 << 22) / (points * max(channels, 1))) / tilesWide
        if acrossImages {
            let count = (tileRows + budget - 1) / budget
            let rowsPerChunk = (tileRows + count - 1) / count
            return Swift.stride(from: 0, to: tileRows, by: rowsPerChunk).map { $0..<min(tileRows, $0 + rowsPerChunk) }
        }
        let rowsPerChunk = max(1, min(tilesHigh, budget))
        return (0..<batch).flatMap { n in
            Swift.stride(from: n * tilesHigh, to: (n + 1) * tilesHigh, by: rowsPerChunk)
                .map { $0..<min((n + 1) * tilesHigh, $0 + rowsPerChunk) }
        }
    }

    /// Distance between consecutive ξ matrices of a transformed tensor. Padded so that the matrices do not start at
    /// addresses a multiple of 4 KiB apart: a tile's values go to 16 or 36 streams, which would otherwise all map to
    /// the same cache sets.
    public static func matrixStride(_ elements: Int) -> Int { (elements + 15) / 16 * 16 + 16 }
}

/// The frame of the row-wise transforms (the input and output-gradient transforms of
/// `WinogradF2` and `WinogradF4`): each channel's tile row, read into padded lines `lineWidth` apart
/// (`forEachPaddedTileRow`), goes to `transform(padded lines, the row's first column of out, distance between ξ)`,
/// out being [points][channels][chunk tiles] with rows `rowLength` apart (nil: the chunk's tiles).
@inline(__always)
func transformTileRows(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                       upsampledFrom2x: Bool, normalization: NormalizedRead?, lineWidth: Int, rowLength: Int?,
                       into out: UnsafeMutablePointer<Float>,
                       _ transform: (_ padded: UnsafeMutablePointer<Float>, _ row: UnsafeMutablePointer<Float>, _ stride: Int) -> Void) {
    let tiles = rowLength ?? rows.count * g.tilesWide
    let stride = WinogradGeometry.matrixStride(channels * tiles)
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

/// The frame of the inverse transforms (`inverseOutput` of `WinogradF2` and `WinogradF4`): for every channel of
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
    let stride = WinogradGeometry.matrixStride(channels * tiles)
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

/// For the (output, input) channel pairs of the summed products M of a weight gradient ([points][O][I],
/// `WinogradGeometry.matrixStride(O · I)` apart), eight consecutive pairs at a time, one per lane: `body(lanes)`
/// (`WeightGradientLanes`: the pairs' values of M[ξ], and their 3×3 gradients to add to). The last group, when partial,
/// runs on copies padded with zeros, so that `body` always works on whole vectors.
@inline(__always)
func forEachWeightLanes(_ mt: UnsafePointer<Float>, outChannels: Int, inChannels: Int, points: Int,
                        into dw: UnsafeMutablePointer<Float>, _ body: (_ lanes: WeightGradientLanes) -> Void) {
    let pairs = outChannels * inChannels, step = WinogradGeometry.matrixStride(pairs), lanes = SIMD8<Float>.lanes
    Profile.measure(.winograd) {
        parallelFor((pairs + lanes - 1) / lanes, grain: 16) { range in
            // The group's nine values per pair as `body` gives them (element-major), added to the pairs' gradients.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 9 * lanes) { values in
                let values = values.baseAddress!
                func run(_ m: UnsafePointer<Float>, step: Int, count: Int, gradients: UnsafeMutablePointer<Float>) {
                    body(WeightGradientLanes(m: m, step: step, values: values))
                    for lane in 0..<count {
                        for e in 0..<9 { gradients[9 * lane + e] += values[lanes * e + lane] }
                    }
                }
                for group in range {
                    let first = group * lanes, count = min(lanes, pairs - first)
                    if count == lanes {
                        run(mt + first, step: step, count: lanes, gradients: dw + 9 * first)
                    } else {
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: points * lanes) { padded in
                            let padded = padded.baseAddress!
                            padded.initialize(repeating: 0, count: points * lanes)
                            for point in 0..<points { (padded + point * lanes).update(from: mt + point * step + first, count: count) }
                            run(padded, step: lanes, count: count, gradients: dw + 9 * first)
                        }
                    }
                }
            }
        }
    }
}

/// Eight consecutive pairs of a weight gradient's summed products (`forEachWeightLanes`), one per lane.
struct WeightGradientLanes {
    let m: UnsafePointer<Float>
    let step: Int
    /// The values `add` was given, element-major.
    let values: UnsafeMutablePointer<Float>

    /// The pairs' values of M[ξ].
    @inline(__always)
    func sums(_ point: Int) -> SIMD8<Float> { SIMD8(loading: m + point * step, count: SIMD8<Float>.lanes) }

    /// Element e (row-major) of the pairs' 3×3 gradients, to be added to them.
    @inline(__always)
    func add(_ e: Int, _ value: SIMD8<Float>) { value.store(to: values + SIMD8<Float>.lanes * e, count: SIMD8<Float>.lanes) }
}
