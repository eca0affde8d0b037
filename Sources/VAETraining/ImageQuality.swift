import Foundation
import VAECore

/// Reconstruction quality on [0, 1] images, as scikit-image and pytorch-msssim compute it.
public enum ImageQuality {
    /// 10·log10(1 / MSE) over all channels and pixels of one image (data range 1); +∞ for identical images.
    public static func psnr(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.shape == b.shape, "PSNR of images of shapes \(a.shape) and \(b.shape)")
        var sum = 0.0
        Tensor.withElements(of: [a, b]) { t in
            let (x, y) = (t[0], t[1])
            for i in 0..<a.count {
                let d = Double(x[i]) - Double(y[i])
                sum += d * d
            }
        }
        return 10 * log10(1 / (sum / Double(a.count)))
    }

    /// The normalised 11-tap Gaussian of σ 1.5 (scikit-image's `gaussian_weights=True`, truncate 3.5).
    static let window: [Double] = {
        let taps = (-5...5).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let total = taps.reduce(0, +)
        return taps.map { $0 / total }
    }()

    /// Mean SSIM of one [C, H, W] image pair: per channel over the positions where the whole window fits (what
    /// scikit-image's crop and pytorch-msssim's valid convolution keep), K1 0.01, K2 0.03, population
    /// covariances, then averaged over channels. Images smaller than 11 pixels on a side have no such position.
    public static func ssim(_ a: Tensor, _ b: Tensor) throws -> Double {
        precondition(a.shape.count == 3 && a.shape == b.shape, "SSIM of images of shapes \(a.shape) and \(b.shape), not [C, H, W]")
        let (channels, height, width) = (a.shape[0], a.shape[1], a.shape[2])
        let k = window.count
        guard height >= k, width >= k else {
            throw VAEDistError("SSIM needs images of at least \(k)×\(k) pixels (an 11×11 Gaussian window), got \(width)×\(height)")
        }
        return Tensor.withElements(of: [a, b]) { t in
            ssim(t[0], t[1], channels: channels, height: height, width: width)
        }
    }

    private static func ssim(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, channels: Int, height: Int, width: Int) -> Double {
        let k = window.count
        let (c1, c2) = (0.01 * 0.01, 0.03 * 0.03)
        let (outH, outW) = (height - k + 1, width - k + 1)
        var total = 0.0
        for c in 0..<channels {
            let x = a + c * height * width, y = b + c * height * width
            // Separable filtering of x, y, x², y² and xy: rows first, then columns over the valid rows.
            var rows = [Double](repeating: 0, count: 5 * height * outW)
            let plane = height * outW
            for r in 0..<height {
                for o in 0..<outW {
                    var (sx, sy, sxx, syy, sxy) = (0.0, 0.0, 0.0, 0.0, 0.0)
                    for t in 0..<k {
                        let (u, v, w) = (Double(x[r * width + o + t]), Double(y[r * width + o + t]), window[t])
                        sx += w * u; sy += w * v; sxx += w * u * u; syy += w * v * v; sxy += w * u * v
                    }
                    let at = r * outW + o
                    (rows[at], rows[plane + at], rows[2 * plane + at], rows[3 * plane + at], rows[4 * plane + at]) =
                        (sx, sy, sxx, syy, sxy)
                }
            }
            var channelSum = 0.0
            for r in 0..<outH {
                for o in 0..<outW {
                    var (mx, my, sxx, syy, sxy) = (0.0, 0.0, 0.0, 0.0, 0.0)
                    for t in 0..<k {
                        let (at, w) = ((r + t) * outW + o, window[t])
                        mx += w * rows[at]; my += w * rows[plane + at]
                        sxx += w * rows[2 * plane + at]; syy += w * rows[3 * plane + at]; sxy += w * rows[4 * plane + at]
                    }
                    let (vx, vy, cov) = (sxx - mx * mx, syy - my * my, sxy - mx * my)
                    channelSum += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
                }
            }
            total += channelSum / Double(outH * outW)
        }
        return total / Double(channels)
    }
}
