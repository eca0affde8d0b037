import VAECore

/// How Σ KL over a sample's latent elements is reduced: ldm sums (the default); `mean` divides by
/// the number of latent elements of one sample so that kl_weight does not scale with the image size.
public enum KLReduction: String, CaseIterable, Codable, Sendable {
    case sum, mean
}

public struct Losses: Equatable, Sendable {
    public var total: Double
    public var reconstruction: Double
    public var kl: Double
}

/// recon = mean((rec − x)²) over all elements; KL = batch mean of the per-sample KL (summed or averaged over
/// the latent); total = recon + kl_weight · KL.
public struct VAELoss: Sendable {
    public var klWeight: Double
    public var klReduction: KLReduction

    public init(klWeight: Double, klReduction: KLReduction = .sum) {
        self.klWeight = klWeight
        self.klReduction = klReduction
    }

    /// The divisor applied to a sample's KL sum: 1 for `sum`, the latent elements for `mean`.
    func klDivisor(_ posterior: DiagonalGaussian) -> Double {
        klReduction == .sum ? 1 : Double(posterior.mean.count / posterior.mean.shape[0])
    }

    /// Losses, and the gradient of the total with respect to rec. `batchTotal` is the batch size the loss is
    /// averaged over (the global batch when a rank holds a share of it).
    public func evaluate(rec: Tensor, input: Tensor, posterior: DiagonalGaussian, batchTotal: Int? = nil)
        -> (losses: Losses, dRec: Tensor) {
        precondition(rec.shape == input.shape, "reconstruction \(rec.shape) vs input \(input.shape)")
        let n = input.shape[0]
        let total = batchTotal ?? n
        let elementsTotal = Double(input.count / n * total)
        var sq = 0.0
        let dRec = Tensor(shape: rec.shape)
        let scale = Float(2 / elementsTotal)
        Tensor.withElements(of: [rec, input, dRec]) { t in
            let (r, x, dr) = (t[0], t[1], t[2])
            for i in 0..<rec.count {
                let diff = r[i] - x[i]
                sq += Double(diff) * Double(diff)
                dr[i] = scale * diff
            }
        }
        let recon = sq / elementsTotal
        let kl = posterior.klPerSample().reduce(0, +) / klDivisor(posterior) / Double(total)
        return (Losses(total: recon + klWeight * kl, reconstruction: recon, kl: kl), dRec)
    }

    /// The factor on d(Σ KL)/d(moments) for one element: kl_weight / (batch · divisor).
    public func klGradientScale(_ posterior: DiagonalGaussian, batchTotal: Int) -> Float {
        Float(klWeight / klDivisor(posterior) / Double(batchTotal))
    }
}
