import Foundation
import VAECore
import VAEJobs

/// Held-out reconstruction quality: the loss terms as training computes them, and PSNR / SSIM on [0, 1].
public struct ValidationMetrics: Codable, Equatable, Sendable {
    public var reconLoss: Double
    public var klLoss: Double
    public var psnr: Double
    public var ssim: Double

    enum CodingKeys: String, CodingKey {
        case reconLoss = "val_recon_loss", klLoss = "val_kl_loss", psnr = "val_psnr", ssim = "val_ssim"
    }

    /// The same weighting as the training loss: what --keep_best ranks by.
    public func total(klWeight: Double) -> Double { reconLoss + klWeight * klLoss }

    /// The metrics when `decoder`'s object has them (epochs without validation have none).
    static func decodeIfPresent(from decoder: Swift.Decoder) throws -> ValidationMetrics? {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        return c.contains(.reconLoss) ? try ValidationMetrics(from: decoder) : nil
    }
}

/// Reconstructs the validation images (posterior mode, as analysis and the grids do) with each rank taking a
/// contiguous share; sums are combined over ranks so every rank gets the same means.
public struct Validator {
    let images: ImageSource
    let loss: VAELoss
    let batchSize: Int

    public init(images: ImageSource, loss: VAELoss, batchSize: Int) {
        (self.images, self.loss, self.batchSize) = (images, loss, batchSize)
    }

    public func evaluate(_ model: AutoencoderKL, replicas: ReplicaGroup) throws -> ValidationMetrics {
        let count = images.count
        let mine = Array(SampleOrder.share(of: count, rank: replicas.rank, ranks: replicas.size))
        var sums = [0.0, 0.0, 0.0, 0.0]
        let s = images.size, plane = 3 * s * s
        for start in stride(from: 0, to: mine.count, by: batchSize) {
            let indices = Array(mine[start..<min(start + batchSize, mine.count)])
            let x = try images.batch(indices, upcoming: [])
            let posterior = model.encode(x, train: false)
            let rec = model.decode(posterior.mode, train: false)
            // Weighted by the whole set, so that the sums over ranks are means over the validation images.
            let (losses, _) = loss.evaluate(rec: rec, input: x, posterior: posterior, batchTotal: count)
            sums[0] += losses.reconstruction
            sums[1] += losses.kl
            let original = Tensor(shape: [3, s, s]), restored = Tensor(shape: [3, s, s])
            for slot in indices.indices {
                x.withItem(slot) { x in
                    rec.withItem(slot) { rec in
                        Tensor.withElements(of: [original, restored]) { t in
                            let (o, r) = (t[0], t[1])
                            for i in 0..<plane {
                                o[i] = (x[i] + 1) / 2
                                r[i] = min(max((rec[i] + 1) / 2, 0), 1)
                            }
                        }
                    }
                }
                sums[2] += ImageQuality.psnr(original, restored)
                sums[3] += try ImageQuality.ssim(original, restored)
            }
        }
        replicas.sum(&sums)
        let n = Double(count)
        return ValidationMetrics(reconLoss: sums[0], klLoss: sums[1], psnr: sums[2] / n, ssim: sums[3] / n)
    }
}
