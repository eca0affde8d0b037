import CCPUFeatures
import Foundation
import TileTransforms
import TileTransformsAVX512

/// Which build of the Winograd tile transforms, and which GEMM micro-kernels, run, decided per `ComputeContext`: AVX2
/// (8 tiles per vector, with the flags of the rest of the kernels; the products on `GemmAVX2`) or AVX-512 where the CPU
/// has it (16 tiles per vector, the `TileTransformsAVX512` target; the products on `GemmAVX512`): the forward and
/// input-gradient Winograd products through `WinogradProducts`, every other product through `PackedGemm`. Both builds
/// of a transform do the same operations on each tile (`KernelDispatchTests`), and both kernels the same FMA chains
/// (`WinogradProductsTests`, `PackedGemmTests`), so the two paths compute bitwise the same results.
/// The launcher's context takes `VAE_DIST_KERNELS=avx2` (or `avx512`) when it is set, for measurements; tests make a context of each; off x86-64 OpenBLAS runs every product.
public enum TransformKernels: String, Sendable, CaseIterable {
    case avx2, avx512

    public static let environmentVariable = "VAE_DIST_KERNELS"

    /// Whether this CPU (and its OS) runs code built for x86-64-v4.
    public static let cpuRunsAVX512 = vd_cpu_runs_x86_64_v4() != 0

    /// The widest kernels this CPU runs.
    public static var widest: TransformKernels { cpuRunsAVX512 ? .avx512 : .avx2 }

    /// What `VAE_DIST_KERNELS` asks for, else the widest; an unknown value, or avx512 where the CPU lacks it, is an
    /// error naming the variable.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TransformKernels {
        guard let value = environment[environmentVariable], !value.isEmpty else { return widest }
        guard let kernels = TransformKernels(rawValue: value.lowercased()) else {
            throw VAEDistError("\(environmentVariable)=\(value): expected avx2 or avx512 (or unset: the widest this CPU runs)")
        }
        guard kernels != .avx512 || cpuRunsAVX512 else {
            throw VAEDistError("\(environmentVariable)=avx512: this CPU (or its OS) does not run AVX-512 code; use avx2 or leave it unset")
        }
        return kernels
    }

    /// The kernels of the context bound on this thread (`ComputeContext.current`): what every transform runs
    /// unless told otherwise.
    public static var active: TransformKernels { ComputeContext.current.kernels }

    /// Whether the forward and input-gradient Winograd products run on our own kernel, `GemmAVX512` or `GemmAVX2`
    /// (else OpenBLAS): on x86-64, so that both paths compute the same convolutions bit for bit.
    var multipliesWinograd: Bool { gemmKernel != nil }

    /// Tiles per vector.
    public var lanes: Int { self == .avx2 ? SIMD8<Float>.lanes : TileTransformsAVX512.Lanes.lanes }

    /// The kernels for tile rows `tilesWide` tiles wide: narrower than one vector of 16, a row stays with 8 per
    /// vector (a small model's deep levels and small images measured slower with half-empty 16-tile vectors).
    func forRows(tilesWide: Int) -> TransformKernels {
        self == .avx512 && tilesWide >= TransformKernels.avx512.lanes ? .avx512 : .avx2
    }

    // One channel's tile row per call; the arguments are those of `WinogradF2Rows` and `WinogradF4Rows`.

    func f2Input(_ padded: UnsafePointer<Float>, lineWidth: Int, tilesWide: Int, into v: UnsafeMutablePointer<Float>, stride: Int) {
        switch self {
        case .avx2: WinogradF2Rows.transformInput(SIMD8<Float>.self, padded, lineWidth: lineWidth, tilesWide: tilesWide, into: v, stride: stride)
        case .avx512: TileTransformsAVX512.f2Input(padded, lineWidth: lineWidth, tilesWide: tilesWide, into: v, stride: stride)
        }
    }

    func f4Input(_ padded: UnsafePointer<Float>, lineWidth: Int, tilesWide: Int, into v: UnsafeMutablePointer<Float>, stride: Int) {
        switch self {
        case .avx2: WinogradF4Rows.transformInput(SIMD8<Float>.self, padded, lineWidth: lineWidth, tilesWide: tilesWide, into: v, stride: stride)
        case .avx512: TileTransformsAVX512.f4Input(padded, lineWidth: lineWidth, tilesWide: tilesWide, into: v, stride: stride)
        }
    }

    func f4OutputGradient(_ padded: UnsafePointer<Float>, lineWidth: Int, tilesWide: Int, into out: UnsafeMutablePointer<Float>, stride: Int) {
        switch self {
        case .avx2:
            WinogradF4Rows.transformOutputGradient(SIMD8<Float>.self, padded, lineWidth: lineWidth, tilesWide: tilesWide, into: out, stride: stride)
        case .avx512: TileTransformsAVX512.f4OutputGradient(padded, lineWidth: lineWidth, tilesWide: tilesWide, into: out, stride: stride)
        }
    }

    func f4Inverse(_ mt: UnsafePointer<Float>, stride: Int, bias: Float, pooledTo2x: Bool, into plane: UnsafeMutablePointer<Float>,
                   tileRow: Int, height: Int, width: Int, tilesWide: Int) {
        switch self {
        case .avx2:
            WinogradF4Rows.inverseOutput(SIMD8<Float>.self, mt, stride: stride, bias: bias, pooledTo2x: pooledTo2x, into: plane,
                                         tileRow: tileRow, height: height, width: width, tilesWide: tilesWide)
        case .avx512:
            TileTransformsAVX512.f4Inverse(mt, stride: stride, bias: bias, pooledTo2x: pooledTo2x, into: plane,
                                           tileRow: tileRow, height: height, width: width, tilesWide: tilesWide)
        }
    }
}
