import TileTransforms

/// Vectorised building blocks for the elementwise kernels: 8 floats at a time.
public enum VectorMath {
    /// e^x to about 2 ulp: 2^n · p(r) with x = n·ln 2 + r, |r| ≤ ln2/2, p a degree-6 Taylor polynomial.
    /// Written with lane-wise arithmetic only: Swift's generic SIMD conversions and rounding run lane by lane.
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var clamped = x.replacing(with: -87.3, where: x .< -87.3)
        clamped.replace(with: 88.3, where: clamped .> 88.3)
        // Adding 1.5·2^23 rounds to an integer (to nearest) and leaves it in the low mantissa bits.
        let shifted = clamped * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        // ln 2 split in two so that n·ln2 is exact to float precision
        let r = clamped - n * 0.693_145_75 - n * 1.428_606_8e-6
        var p = SIMD8<Float>(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let exponent = (integer &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    }

    /// 1 / (1 + e^-x)
    @inline(__always)
    public static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + exp(-x)) }

    @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    public static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// The first `count` (≤ 8) values into the first lanes, zeros in the rest: a row's last, partial vector.
    @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, count: Int) -> SIMD8<Float> { SIMD8(loading: p, count: count) }

    /// The first `count` (≤ 8) lanes only.
    @inline(__always)
    public static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) { v.store(to: p, count: count) }

    /// Σx and Σx² over `count` floats, in float lanes over blocks of 512 and in double across blocks, in a fixed
    /// order (the result does not depend on threads).
    public static func sumAndSquares(_ x: UnsafePointer<Float>, count: Int) -> (Double, Double) {
        var s = 0.0, ss = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + 512)
            var a = SIMD8<Float>.zero, b = SIMD8<Float>.zero
            var i = start
            while i + 8 <= end {
                let v = load(x + i)
                a += v
                b += v * v
                i += 8
            }
            var tailS: Float = 0, tailSS: Float = 0
            while i < end { tailS += x[i]; tailSS += x[i] * x[i]; i += 1 }
            s += Double(a.sum() + tailS)
            ss += Double(b.sum() + tailSS)
            start = end
        }
        return (s, ss)
    }

    /// Σg and Σg·(x − mean)·rstd over `count` floats, blocked like `sumAndSquares`.
    public static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mean: Float, rstd: Float,
                                    count: Int) -> (Double, Double) {
        var s = 0.0, sx = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + 512)
            var a = SIMD8<Float>.zero, b = SIMD8<Float>.zero
            var i = start
            while i + 8 <= end {
                let gv = load(g + i)
                a += gv
                b += gv * ((load(x + i) - mean) * rstd)
                i += 8
            }
            var tailS: Float = 0, tailSX: Float = 0
            while i < end { tailS += g[i]; tailSX += g[i] * ((x[i] - mean) * rstd); i += 1 }
            s += Double(a.sum() + tailS)
            sx += Double(b.sum() + tailSX)
            start = end
        }
        return (s, sx)
    }
}
