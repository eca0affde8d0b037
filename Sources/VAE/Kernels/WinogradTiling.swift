/// The Winograd algorithm of a 3×3 stride-1 convolution: F(2×2, 3×3) (`Winograd`) or F(4×4, 3×3) (`WinogradF4`),
/// with the geometry and transforms of each, so that a convolution is written once for both.
public enum WinogradTiling: Sendable, CustomStringConvertible {
    case f2x2, f4x4

    /// As result files record it.
    public var description: String { self == .f2x2 ? "winograd F(2x2, 3x3)" : "winograd F(4x4, 3x3) (--fast_conv)" }

    public func geometry(batch: Int, height: Int, width: Int) -> WinogradGeometry {
        WinogradGeometry(batch: batch, height: height, width: width, tile: self == .f2x2 ? 2 : 4)
    }

    /// U[ξ] as `PackedGemm`'s A (see `forEachPackedKernel`).
    public func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool,
                                 into u: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2: Winograd.transformWeights(w, outChannels: outChannels, inChannels: inChannels, flipped: flipped, into: u)
        case .f4x4: WinogradF4.transformWeights(w, outChannels: outChannels, inChannels: inChannels, flipped: flipped, into: u)
        }
    }

    /// V[ξ] in `layout`; in `.panels` the padding tiles are zeroed too.
    public func transformInput(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                               upsampledFrom2x: Bool = false, layout: WinogradInputLayout = .rows, into v: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2: Winograd.transformInput(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x, layout: layout, into: v)
        case .f4x4: WinogradF4.transformInput(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x, layout: layout, into: v)
        }
        if layout == .panels {
            let tiles = rows.count * g.tilesWide
            PackedGemm.clearPaddingColumns(v, count: g.points, stride: Winograd.stride(layout.elements(channels: channels, tiles: tiles)),
                                           columns: tiles, depth: channels)
        }
    }

    /// From M[ξ] as `PackedGemm` writes it.
    public func inverseOutput(_ m: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                              bias: UnsafePointer<Float>?, pooledTo2x: Bool = false, into y: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2: Winograd.inverseOutput(m, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x, into: y)
        case .f4x4: WinogradF4.inverseOutput(m, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x, into: y)
        }
    }
}

/// How the transformed input tiles of a chunk lie in each ξ matrix V[ξ] (channels × the chunk's tiles).
public enum WinogradInputLayout: Sendable {
    /// Row by row, [channel][tile]: `sgemm`'s operand (the weight gradient's products).
    case rows
    /// `PackedGemm`'s B: panels of 16 tiles, [tile / 16][channel][tile % 16], tiles zero-padded to whole panels.
    case panels

    /// Floats in one ξ matrix.
    public func elements(channels: Int, tiles: Int) -> Int {
        self == .rows ? channels * tiles : channels * PackedGemm.paddedColumns(tiles)
    }

    /// Where the group of `count` (at most 8) consecutive tiles from `tile` on, channel `channel`, lies in a ξ matrix.
    @inline(__always)
    func group(channel: Int, tile: Int, count: Int, channels: Int, tiles: Int) -> TileGroupPlace {
        guard self == .panels else { return TileGroupPlace(offset: channel * tiles + tile, count: count, firstRun: count, jump: 0) }
        let width = PackedGemm.panelColumns
        // Tiles past the panel's end continue at the start of the next panel, same channel.
        return TileGroupPlace(offset: PackedGemm.offsetInB(k: channel, column: tile, depth: channels), count: count,
                              firstRun: min(count, width - tile % width), jump: width * (channels - 1))
    }
}

/// `forEachPaddedTileRow` in the order that suits `layout`. In panels a channel's consecutive tiles lie 16 ·
/// channels apart, and one channel's stores over a whole chunk touch more pages than the TLB holds; so the rows
/// are taken about a panel's worth at a time, every channel of them before the next, and the stores run forward.
@inline(__always)
func forEachPaddedTileRow(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                          upsampledFrom2x: Bool, lineWidth: Int, layout: WinogradInputLayout,
                          _ body: (_ channel: Int, _ row: Int, _ padded: UnsafeMutablePointer<Float>) -> Void) {
    let step = max(1, layout == .rows ? rows.count : PackedGemm.panelColumns / g.tilesWide)
    for first in Swift.stride(from: rows.lowerBound, to: rows.upperBound, by: step) {
        forEachPaddedTileRow(x, channels: channels, g, rows: first..<min(rows.upperBound, first + step),
                             upsampledFrom2x: upsampledFrom2x, lineWidth: lineWidth, body)
    }
}

/// A group of tiles' place in a ξ matrix: `firstRun` consecutive values from `offset`, the rest `jump` further on.
struct TileGroupPlace {
    let offset, count, firstRun, jump: Int

    /// Stores the first `count` lanes of `value` (tile by tile) into the ξ matrix at `matrix`.
    @inline(__always)
    func store(_ value: SIMD8<Float>, _ matrix: UnsafeMutablePointer<Float>) {
        if firstRun == count { storeTiles(value, matrix + offset, count: count) } else { storeAcrossPanels(value, matrix) }
    }

    /// Out of line: rare (rows of tiles not a multiple of 8 wide), and it would keep the transforms' vectors
    /// from staying in registers.
    @inline(never)
    func storeAcrossPanels(_ value: SIMD8<Float>, _ matrix: UnsafeMutablePointer<Float>) {
        for j in 0..<count { matrix[offset + j + (j < firstRun ? 0 : jump)] = value[j] }
    }
}

/// For every element of the transformed weights U[ξ] laid out as `PackedGemm`'s A — rows the convolution's output
/// channels, k its input channels (exchanged with `flipped`: the input gradient's convolution) —, in the order of
/// the packed matrix so that the `points` streams of stores run forward: `body(the element's place in U[0],
/// the distance between ξ matrices, its 3×3 kernel g[o][i])`. The padding rows are zeroed here.
@inline(__always)
func forEachPackedKernel(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool, points: Int,
                         into u: UnsafeMutablePointer<Float>,
                         _ body: (_ place: UnsafeMutablePointer<Float>, _ step: Int, _ kernel: UnsafePointer<Float>) -> Void) {
    let (rows, depth) = flipped ? (inChannels, outChannels) : (outChannels, inChannels)
    let panels = PackedGemm.paddedRows(rows) / PackedGemm.panelRows, step = Winograd.stride(panels * PackedGemm.panelRows * depth)
    Profile.measure(.winograd) {
        PackedGemm.clearPaddingRows(u, count: points, stride: step, rows: rows, depth: depth)
        // Item (panel, k) holds the panel's rows at k: places 6 · item + lane.
        parallelFor(panels * depth, grain: 16) { range in
            for item in range {
                let panel = item / depth, k = item % depth
                for lane in 0..<min(PackedGemm.panelRows, rows - panel * PackedGemm.panelRows) {
                    let row = panel * PackedGemm.panelRows + lane
                    let (o, i) = flipped ? (k, row) : (row, k)
                    body(u + PackedGemm.panelRows * item + lane, step, w + 9 * (o * inChannels + i))
                }
            }
        }
    }
}
