/// A Winograd algorithm F(m×m, 3×3) for 3×3 stride-1, pad-1 convolutions: the transforms around the products
/// (`WinogradProducts`), each over the tile rows of one chunk (`WinogradGeometry.chunks`). Transformed tensors are
/// `points` matrices `WinogradGeometry.matrixStride` of their element count apart. `WinogradF2` and `WinogradF4`
/// conform; a convolution is written once for both.
public protocol WinogradAlgorithm {
    /// Output pixels on a tile's side.
    static var tile: Int { get }
    /// U = G g Gᵀ for weights [O, I, 3, 3] (with `flipped`, of the input gradient's kernel: U[ξ][i][o]).
    static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool, packed: Bool,
                                 into u: UnsafeMutablePointer<Float>)
    /// V = Bᵀ d B for the input tiles of the tile rows `rows` (read ×2 upsampled, or through a group norm).
    static func transformInput(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                               upsampledFrom2x: Bool, normalization: NormalizedRead?, rowLength: Int?,
                               kernels: TransformKernels, into v: UnsafeMutablePointer<Float>)
    /// y = Aᵀ M A (+ bias), cropped to the image (or summed 2×2 into half size).
    static func inverseOutput(_ m: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                              bias: UnsafePointer<Float>?, pooledTo2x: Bool, rowLength: Int?, kernels: TransformKernels,
                              into y: UnsafeMutablePointer<Float>)
    /// W = A dY Aᵀ for the output-gradient tiles of the tile rows `rows`.
    static func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                                        kernels: TransformKernels, into out: UnsafeMutablePointer<Float>)
    /// dg += Gᵀ M G for the summed products M of a weight gradient.
    static func accumulateWeightGradient(_ m: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                         into dw: UnsafeMutablePointer<Float>)
}

/// Which Winograd algorithm a 3×3 stride-1 convolution uses: the choice as configs, options and result files name it.
public enum WinogradTiling: Sendable, CustomStringConvertible {
    case f2x2, f4x4

    /// As result files record it.
    public var description: String { self == .f2x2 ? "winograd F(2x2, 3x3)" : "winograd F(4x4, 3x3)" }

    public var algorithm: any WinogradAlgorithm.Type { self == .f2x2 ? WinogradF2.self : WinogradF4.self }

    public func geometry(batch: Int, height: Int, width: Int) -> WinogradGeometry {
        WinogradGeometry(batch: batch, height: height, width: width, tile: algorithm.tile)
    }
}
