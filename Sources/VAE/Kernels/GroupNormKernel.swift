import Foundation

/// Group normalisation over NCHW: each (sample, group) is normalised over its C/G channels and H·W pixels,
/// then scaled and shifted per channel. Statistics are accumulated in double.
public enum GroupNormKernel {
    /// Writes y and the per-(n, group) mean and reciprocal standard deviation (needed by backward).
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, dims: Dims4, groups: Int,
                               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
                               mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        Profile.measure(.groupNorm) {
            let cpg = dims.c / groups
            let span = cpg * dims.plane
            parallelFor(dims.n * groups, grain: 1) { range in
                for ng in range {
                    let base = ng * span
                    var s = 0.0, ss = 0.0
                    for i in 0..<span { let v = Double(x[base + i]); s += v; ss += v * v }
                    let mu = s / Double(span)
                    let variance = max(ss / Double(span) - mu * mu, 0)
                    let r = 1 / (variance + Double(eps)).squareRoot()
                    mean[ng] = Float(mu)
                    rstd[ng] = Float(r)
                    let c0 = (ng % groups) * cpg
                    for cl in 0..<cpg {
                        let scale = Float(r) * gamma[c0 + cl]
                        let shift = beta[c0 + cl] - Float(mu) * scale
                        let off = base + cl * dims.plane
                        for i in 0..<dims.plane { y[off + i] = x[off + i] * scale + shift }
                    }
                }
            }
    
        }
    }

    /// dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat)) with dxhat = dy · gamma, means over the group;
    /// dgamma and dbeta are accumulated (+=).
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                dims: Dims4, groups: Int, gamma: UnsafePointer<Float>,
                                mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>) {
        Profile.measure(.groupNorm) {
            let cpg = dims.c / groups
            let span = cpg * dims.plane
            // Per-(n, channel) sums of dy and dy·xhat, then reduced over n serially (no write races).
            let sumDy = UnsafeMutablePointer<Double>.allocate(capacity: dims.n * dims.c)
            let sumDyXhat = UnsafeMutablePointer<Double>.allocate(capacity: dims.n * dims.c)
            defer { sumDy.deallocate(); sumDyXhat.deallocate() }
            parallelFor(dims.n * groups, grain: 1) { range in
                for ng in range {
                    let n = ng / groups, c0 = (ng % groups) * cpg
                    let mu = mean[ng], r = rstd[ng]
                    var groupDxhat = 0.0, groupDxhatXhat = 0.0
                    for cl in 0..<cpg {
                        let c = c0 + cl
                        let off = ng * span + cl * dims.plane
                        var a = 0.0, b = 0.0
                        for i in 0..<dims.plane {
                            let g = Double(dy[off + i])
                            a += g
                            b += g * Double((x[off + i] - mu) * r)
                        }
                        sumDy[n * dims.c + c] = a
                        sumDyXhat[n * dims.c + c] = b
                        groupDxhat += a * Double(gamma[c])
                        groupDxhatXhat += b * Double(gamma[c])
                    }
                    let m1 = Float(groupDxhat / Double(span)), m2 = Float(groupDxhatXhat / Double(span))
                    for cl in 0..<cpg {
                        let c = c0 + cl
                        let off = ng * span + cl * dims.plane
                        let gr = gamma[c] * r
                        for i in 0..<dims.plane {
                            let xhat = (x[off + i] - mu) * r
                            dx[off + i] = gr * dy[off + i] - r * (m1 + xhat * m2)
                        }
                    }
                }
            }
            for n in 0..<dims.n {
                for c in 0..<dims.c {
                    dgamma[c] += Float(sumDyXhat[n * dims.c + c])
                    dbeta[c] += Float(sumDy[n * dims.c + c])
                }
            }
    
        }
    }
}
