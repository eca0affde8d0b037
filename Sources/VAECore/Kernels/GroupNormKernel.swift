import Foundation

/// Group normalisation over NCHW, optionally fused with the swish that follows it in ldm's blocks: each
/// (sample, group) is normalised over its C/G channels and H·W pixels, then scaled and shifted per channel,
/// then (fused) y·sigmoid(y). Statistics are summed in float lanes over blocks and in double across blocks. The fused backward recomputes the
/// pre-activation from x, so neither the normalised nor the activated tensor needs keeping for backward.
public enum GroupNormKernel {
    /// Writes y and the per-(n, group) mean and reciprocal standard deviation (needed by backward).
    /// With `swish`, y is the activation and `preActivation` (if given) receives the normalised values.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, dims: Dims4, groups: Int,
                               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float, swish: Bool,
                               preActivation: UnsafeMutablePointer<Float>? = nil,
                               mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        Profile.measure(.groupNorm) {
            parallelFor(dims.n * groups, grain: 1) { range in
                for ng in range {
                    groupStatistics(ng, x: x, dims: dims, groups: groups, eps: eps, mean: mean, rstd: rstd)
                    normalizeGroup(ng, x: x, y: y, dims: dims, groups: groups, gamma: gamma, beta: beta, swish: swish,
                                   preActivation: preActivation, mean: mean[ng], rstd: rstd[ng])
                }
            }
        }
    }

    /// The statistics alone, and from them the per-(n, channel) scale and shift of the output, for a norm whose
    /// output a convolution reads fused (`NormalizedRead`) instead of it being written.
    public static func statistics(x: UnsafePointer<Float>, dims: Dims4, groups: Int, gamma: UnsafePointer<Float>,
                                  beta: UnsafePointer<Float>, eps: Float, mean: UnsafeMutablePointer<Float>,
                                  rstd: UnsafeMutablePointer<Float>, scale: UnsafeMutablePointer<Float>,
                                  shift: UnsafeMutablePointer<Float>) {
        Profile.measure(.groupNorm) {
            let cpg = dims.c / groups
            parallelFor(dims.n * groups, grain: 1) { range in
                for ng in range {
                    groupStatistics(ng, x: x, dims: dims, groups: groups, eps: eps, mean: mean, rstd: rstd)
                    let c0 = (ng % groups) * cpg
                    for cl in 0..<cpg {
                        (scale[ng * cpg + cl], shift[ng * cpg + cl]) = affine(gamma[c0 + cl], beta[c0 + cl],
                                                                              mean: mean[ng], rstd: rstd[ng])
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func groupStatistics(_ ng: Int, x: UnsafePointer<Float>, dims: Dims4, groups: Int, eps: Float,
                                        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        let span = dims.c / groups * dims.plane
        let (s, ss) = VectorMath.sumAndSquares(x + ng * span, count: span)
        let mu = s / Double(span)
        let variance = max(ss / Double(span) - mu * mu, 0)
        mean[ng] = Float(mu)
        rstd[ng] = Float(1 / (variance + Double(eps)).squareRoot())
    }

    /// A channel's output is x · scale + shift before the swish.
    @inline(__always)
    private static func affine(_ gamma: Float, _ beta: Float, mean mu: Float, rstd r: Float) -> (scale: Float, shift: Float) {
        let scale = r * gamma
        return (scale, beta - mu * scale)
    }

    @inline(__always)
    private static func normalizeGroup(_ ng: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, dims: Dims4,
                                       groups: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, swish: Bool,
                                       preActivation pre: UnsafeMutablePointer<Float>?, mean mu: Float, rstd r: Float) {
        let cpg = dims.c / groups
        let c0 = (ng % groups) * cpg
        for cl in 0..<cpg {
            let (scale, shift) = affine(gamma[c0 + cl], beta[c0 + cl], mean: mu, rstd: r)
            let off = ng * cpg * dims.plane + cl * dims.plane
            normalizeSpan(x + off, count: dims.plane, from: 0, planeSize: dims.plane, affine: (scale, shift), swish: swish,
                          preActivation: pre.map { $0 + off }, into: y + off)
        }
    }

    /// Values `from ..< from + count` of one channel's plane of `planeSize` (x and y point at value `from`):
    /// v = x · scale + shift (x itself without `affine`), then with `swish` v · sigmoid(v) — the vectorised exp in
    /// the plane's whole blocks of 8 and libm's in its last `planeSize % 8` values. Any span of a plane thus gets
    /// bitwise the values the whole plane gets, which is what lets a convolution apply a norm as it reads its rows.
    @inline(__always)
    static func normalizeSpan(_ x: UnsafePointer<Float>, count: Int, from start: Int, planeSize: Int,
                              affine: (scale: Float, shift: Float)?, swish: Bool,
                              preActivation pre: UnsafeMutablePointer<Float>? = nil, into y: UnsafeMutablePointer<Float>) {
        @inline(__always) func scalar(_ i: Int) -> Float { affine.map { x[i] * $0.scale + $0.shift } ?? x[i] }
        if !swish {
            for i in 0..<count { y[i] = scalar(i) }
            return
        }
        let vectorCount = min(count, max(0, planeSize - planeSize % 8 - start))
        @inline(__always) func activate(_ loaded: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
            let v = affine.map { loaded * $0.scale + $0.shift } ?? loaded
            return (v, v * VectorMath.sigmoid(v))
        }
        var i = 0
        while i + 8 <= vectorCount {
            let (v, out) = activate(VectorMath.load(x + i))
            if let pre { VectorMath.store(v, pre + i) }
            VectorMath.store(out, y + i)
            i += 8
        }
        if i < vectorCount {
            // A span's last values of the plane's vectorised part: part of a vector, lane by lane the same.
            let lanes = vectorCount - i
            let (v, out) = activate(VectorMath.load(x + i, count: lanes))
            if let pre { VectorMath.store(v, pre + i, count: lanes) }
            VectorMath.store(out, y + i, count: lanes)
            i = vectorCount
        }
        while i < count {
            let v = scalar(i)
            pre?[i] = v
            y[i] = v / (1 + exp(-v))
            i += 1
        }
    }

    /// dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat)) with dxhat = g · gamma, means over the group,
    /// where g = dy (plain) or dy · swish'(pre-activation) (fused); dgamma and dbeta are accumulated (+=).
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                dims: Dims4, groups: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                swish: Bool, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>) {
        Profile.measure(.groupNorm) {
            let cpg = dims.c / groups
            let span = cpg * dims.plane
            // Per-(n, channel) sums of g and g·xhat, then reduced over n serially (no write races).
            let sumG = UnsafeMutablePointer<Double>.allocate(capacity: dims.n * dims.c)
            let sumGXhat = UnsafeMutablePointer<Double>.allocate(capacity: dims.n * dims.c)
            defer { sumG.deallocate(); sumGXhat.deallocate() }
            parallelFor(dims.n * groups, grain: 1) { range in
                // The gradient at the normalised output, one group at a time.
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: swish ? span : 0)
                defer { scratch.deallocate() }
                for ng in range {
                    let n = ng / groups, c0 = (ng % groups) * cpg
                    let mu = mean[ng], r = rstd[ng]
                    let g: UnsafePointer<Float>
                    if swish {
                        for cl in 0..<cpg {
                            let c = c0 + cl
                            let off = ng * span + cl * dims.plane
                            let scale = r * gamma[c], shift = beta[c] - mu * scale
                            let out = scratch + cl * dims.plane
                            var i = 0
                            while i + 8 <= dims.plane {
                                let v = VectorMath.load(x + off + i) * scale + shift
                                let s = VectorMath.sigmoid(v)
                                VectorMath.store(VectorMath.load(dy + off + i) * (s + v * s * (1 - s)), out + i)
                                i += 8
                            }
                            while i < dims.plane {
                                let v = x[off + i] * scale + shift
                                let s = 1 / (1 + exp(-v))
                                out[i] = dy[off + i] * (s + v * s * (1 - s))
                                i += 1
                            }
                        }
                        g = UnsafePointer(scratch)
                    } else {
                        g = dy + ng * span
                    }
                    var groupDxhat = 0.0, groupDxhatXhat = 0.0
                    for cl in 0..<cpg {
                        let c = c0 + cl
                        let off = ng * span + cl * dims.plane, goff = cl * dims.plane
                        let (a, b) = VectorMath.gradientSums(g + goff, x + off, mean: mu, rstd: r, count: dims.plane)
                        sumG[n * dims.c + c] = a
                        sumGXhat[n * dims.c + c] = b
                        groupDxhat += a * Double(gamma[c])
                        groupDxhatXhat += b * Double(gamma[c])
                    }
                    let m1 = Float(groupDxhat / Double(span)), m2 = Float(groupDxhatXhat / Double(span))
                    for cl in 0..<cpg {
                        let c = c0 + cl
                        let off = ng * span + cl * dims.plane, goff = cl * dims.plane
                        let gr = gamma[c] * r
                        for i in 0..<dims.plane {
                            let xhat = (x[off + i] - mu) * r
                            dx[off + i] = gr * g[goff + i] - r * (m1 + xhat * m2)
                        }
                    }
                }
            }
            for n in 0..<dims.n {
                for c in 0..<dims.c {
                    dgamma[c] += Float(sumGXhat[n * dims.c + c])
                    dbeta[c] += Float(sumG[n * dims.c + c])
                }
            }
        }
    }
}

/// A group norm's output (+ swish) as a convolution reads it instead of a stored tensor: plane k (= n · C + c) of
/// the source is x · scale[k] + shift[k] (`GroupNormKernel.statistics`), then the swish; without `scale` and
/// `shift` the source holds the normalised values already and only the swish is left.
public struct NormalizedRead {
    public let scale, shift: UnsafePointer<Float>?
    public let swish: Bool

    public init(scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?, swish: Bool) {
        precondition((scale == nil) == (shift == nil), "a normalisation has both scale and shift or neither")
        (self.scale, self.shift, self.swish) = (scale, shift, swish)
    }

    /// Values `from ..< from + count` of plane k (`source` points at value `from`) into `y`: bitwise what the
    /// norm writes there.
    @inline(__always)
    func row(_ source: UnsafePointer<Float>, ofPlane k: Int, from start: Int, count: Int, planeSize: Int,
             into y: UnsafeMutablePointer<Float>) {
        let affine: (scale: Float, shift: Float)? = if let scale, let shift { (scale[k], shift[k]) } else { nil }
        GroupNormKernel.normalizeSpan(source, count: count, from: start, planeSize: planeSize, affine: affine, swish: swish,
                                      into: y)
    }
}
