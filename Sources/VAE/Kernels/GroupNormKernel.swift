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
            let span = dims.c / groups * dims.plane
            parallelFor(dims.n * groups, grain: 1) { range in
                for ng in range {
                    let base = ng * span
                    let (s, ss) = VectorMath.sumAndSquares(x + base, count: span)
                    let mu = s / Double(span)
                    let variance = max(ss / Double(span) - mu * mu, 0)
                    mean[ng] = Float(mu)
                    rstd[ng] = Float(1 / (variance + Double(eps)).squareRoot())
                    normalizeGroup(ng, x: x, y: y, dims: dims, groups: groups, gamma: gamma, beta: beta, swish: swish,
                                   preActivation: preActivation, mean: mean[ng], rstd: rstd[ng])
                }
            }
        }
    }

    /// The output from known statistics (a forward again, without the statistics pass).
    public static func normalize(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, dims: Dims4, groups: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, swish: Bool,
                                 mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>) {
        Profile.measure(.groupNorm) {
            parallelFor(dims.n * groups, grain: 1) { range in
                for ng in range {
                    normalizeGroup(ng, x: x, y: y, dims: dims, groups: groups, gamma: gamma, beta: beta, swish: swish,
                                   preActivation: nil, mean: mean[ng], rstd: rstd[ng])
                }
            }
        }
    }

    @inline(__always)
    private static func normalizeGroup(_ ng: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, dims: Dims4,
                                       groups: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, swish: Bool,
                                       preActivation pre: UnsafeMutablePointer<Float>?, mean mu: Float, rstd r: Float) {
        let cpg = dims.c / groups
        let c0 = (ng % groups) * cpg
        for cl in 0..<cpg {
            let scale = r * gamma[c0 + cl]
            let shift = beta[c0 + cl] - mu * scale
            let off = ng * cpg * dims.plane + cl * dims.plane
            if !swish {
                for i in 0..<dims.plane { y[off + i] = x[off + i] * scale + shift }
                continue
            }
            var i = 0
            while i + 8 <= dims.plane {
                let v = VectorMath.load(x + off + i) * scale + shift
                if let pre { VectorMath.store(v, pre + off + i) }
                VectorMath.store(v * VectorMath.sigmoid(v), y + off + i)
                i += 8
            }
            while i < dims.plane {
                let v = x[off + i] * scale + shift
                pre?[off + i] = v
                y[off + i] = v / (1 + exp(-v))
                i += 1
            }
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
