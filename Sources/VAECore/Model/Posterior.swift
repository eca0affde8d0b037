import Foundation

/// ldm's DiagonalGaussianDistribution over the moments [N, 2·E, h, w]: mean and logvar halves,
/// logvar clamped to [-30, 20].
public struct DiagonalGaussian {
    public let moments: Tensor
    public let mean: Tensor
    public let logvar: Tensor
    /// Whether each logvar element lies inside the clamp range (the clamp passes its gradient there only).
    private let unclamped: [Bool]

    public static let logvarRange: ClosedRange<Float> = -30...20

    public init(moments: Tensor) {
        let d = moments.dims
        let e = d.c / 2
        self.moments = moments
        mean = Tensor(shape: [d.n, e, d.h, d.w])
        logvar = Tensor(shape: [d.n, e, d.h, d.w])
        var inside = [Bool](repeating: true, count: logvar.count)
        let half = e * d.plane
        for n in 0..<d.n {
            let src = moments.data + n * 2 * half
            (mean.data + n * half).update(from: src, count: half)
            for i in 0..<half {
                let raw = src[half + i]
                inside[n * half + i] = Self.logvarRange.contains(raw)
                logvar.data[n * half + i] = min(max(raw, Self.logvarRange.lowerBound), Self.logvarRange.upperBound)
            }
        }
        unclamped = inside
    }

    /// The posterior mode: the mean.
    public var mode: Tensor { mean }

    /// z = mean + exp(logvar / 2) · eps
    public func sample(eps: Tensor) -> Tensor {
        precondition(eps.shape == mean.shape, "noise shape \(eps.shape) differs from the latent \(mean.shape)")
        let z = Tensor(shape: mean.shape)
        for i in 0..<z.count { z.data[i] = mean.data[i] + exp(0.5 * logvar.data[i]) * eps.data[i] }
        return z
    }

    /// Per-sample KL to N(0, I): 0.5 · Σ(mean² + exp(logvar) − 1 − logvar) over C, H, W.
    public func klPerSample() -> [Double] {
        let n = mean.shape[0], per = mean.count / n
        return (0..<n).map { s in
            var acc = 0.0
            for i in s * per..<(s + 1) * per {
                let m = Double(mean.data[i]), lv = Double(logvar.data[i])
                acc += m * m + exp(lv) - 1 - lv
            }
            return 0.5 * acc
        }
    }

    /// Gradient with respect to the moments, given the gradient flowing into z (through the sample) and
    /// the weight on Σ KL (kl_weight divided by the batch and, for the mean reduction, the latent size).
    public func momentsGradient(dz: Tensor?, eps: Tensor?, klScale: Float) -> Tensor {
        let d = moments.dims
        let half = d.c / 2 * d.plane
        let g = Tensor(shape: moments.shape)
        for n in 0..<d.n {
            let gm = g.data + n * 2 * half, gl = gm + half
            for i in 0..<half {
                let j = n * half + i
                let lv = logvar.data[j]
                var dMean = klScale * mean.data[j]
                var dLogvar = klScale * 0.5 * (exp(lv) - 1)
                if let dz, let eps {
                    dMean += dz.data[j]
                    dLogvar += dz.data[j] * eps.data[j] * 0.5 * exp(0.5 * lv)
                }
                gm[i] = dMean
                gl[i] = unclamped[j] ? dLogvar : 0
            }
        }
        return g
    }
}
