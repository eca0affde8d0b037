/// The Winograd algorithm of a 3×3 stride-1 convolution: F(2×2, 3×3) (`Winograd`) or F(4×4, 3×3) (`WinogradF4`),
/// with the geometry and transforms of each, so that a convolution is written once for both.
public enum WinogradTiling: Sendable, CustomStringConvertible {
    case f2x2, f4x4

    /// As result files record it.
    public var description: String { self == .f2x2 ? "winograd F(2x2, 3x3)" : "winograd F(4x4, 3x3)" }

    public func geometry(batch: Int, height: Int, width: Int) -> WinogradGeometry {
        WinogradGeometry(batch: batch, height: height, width: width, tile: self == .f2x2 ? 2 : 4)
    }

    public func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool,
                                 packed: Bool = false, into u: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2:
            Winograd.transformWeights(w, outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: packed, into: u)
        case .f4x4:
            WinogradF4.transformWeights(w, outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: packed, into: u)
        }
    }

    public func transformInput(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                               upsampledFrom2x: Bool = false, normalization: NormalizedRead? = nil, rowLength: Int? = nil,
                               into v: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2:
            Winograd.transformInput(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x,
                                    normalization: normalization, rowLength: rowLength, into: v)
        case .f4x4:
            WinogradF4.transformInput(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampledFrom2x,
                                      normalization: normalization, rowLength: rowLength, into: v)
        }
    }

    public func inverseOutput(_ m: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                              bias: UnsafePointer<Float>?, pooledTo2x: Bool = false, rowLength: Int? = nil,
                              into y: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2:
            Winograd.inverseOutput(m, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x, rowLength: rowLength, into: y)
        case .f4x4:
            WinogradF4.inverseOutput(m, channels: channels, g, rows: rows, bias: bias, pooledTo2x: pooledTo2x, rowLength: rowLength, into: y)
        }
    }

    public func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                                        into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2: Winograd.transformOutputGradient(dy, channels: channels, g, rows: rows, into: out)
        case .f4x4: WinogradF4.transformOutputGradient(dy, channels: channels, g, rows: rows, into: out)
        }
    }

    public func accumulateWeightGradient(_ m: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                         into dw: UnsafeMutablePointer<Float>) {
        switch self {
        case .f2x2: Winograd.accumulateWeightGradient(m, outChannels: outChannels, inChannels: inChannels, into: dw)
        case .f4x4: WinogradF4.accumulateWeightGradient(m, outChannels: outChannels, inChannels: inChannels, into: dw)
        }
    }
}
