import TileTransforms

/// The Winograd tile transforms that paid with 16 tiles per vector, compiled for x86-64-v4 (AVX-512): call them only
/// where the CPU runs that code (VAE's `TransformKernels` decides). Each call does one channel's tile row, so that
/// the call costs little next to the work; the arguments are those of `WinogradF2Rows` and `WinogradF4Rows`, whose
/// code this module compiles for its width. Not inlinable, so that no caller compiles them with other flags; and
/// everything else is inlined into them, so that no code of this module can stand in for a shared copy that an AVX2
/// CPU would run (`scripts/check-avx512-confined.sh`, run by the tests, holds this for the linked binary).
public enum TileTransformsAVX512 {
    public typealias Lanes = SIMD16<Float>

    @inline(never)
    public static func f2Input(_ padded: UnsafePointer<Float>, lineWidth: Int, tilesWide: Int,
                               into v: UnsafeMutablePointer<Float>, stride: Int) {
        WinogradF2Rows.transformInput(Lanes.self, padded, lineWidth: lineWidth, tilesWide: tilesWide, into: v, stride: stride)
    }

    @inline(never)
    public static func f4Input(_ padded: UnsafePointer<Float>, lineWidth: Int, tilesWide: Int,
                               into v: UnsafeMutablePointer<Float>, stride: Int) {
        WinogradF4Rows.transformInput(Lanes.self, padded, lineWidth: lineWidth, tilesWide: tilesWide, into: v, stride: stride)
    }

    @inline(never)
    public static func f4Inverse(_ mt: UnsafePointer<Float>, stride: Int, bias: Float, pooledTo2x: Bool,
                                 into plane: UnsafeMutablePointer<Float>, tileRow: Int, height: Int, width: Int, tilesWide: Int) {
        WinogradF4Rows.inverseOutput(Lanes.self, mt, stride: stride, bias: bias, pooledTo2x: pooledTo2x, into: plane,
                                     tileRow: tileRow, height: height, width: width, tilesWide: tilesWide)
    }

    @inline(never)
    public static func f4OutputGradient(_ padded: UnsafePointer<Float>, lineWidth: Int, tilesWide: Int,
                                        into out: UnsafeMutablePointer<Float>, stride: Int) {
        WinogradF4Rows.transformOutputGradient(Lanes.self, padded, lineWidth: lineWidth, tilesWide: tilesWide, into: out, stride: stride)
    }
}
