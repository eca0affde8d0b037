import Foundation
import VAECore
import VAEJobs

/// An independent seed for a labelled part of a phantom run (a case, or the tissue, speckle or lesion of a case),
/// so that each draws from its own stream: adding a lesion never changes the tissue it is drawn on.
func derivedSeed(_ seed: UInt64, _ label: UInt64) -> UInt64 {
    SampleOrder.mix(seed, label, 0x5048_414E_544F_4D53)  // "PHANTOMS"
}

@inline(__always)
func smoothstep(_ edge0: Double, _ edge1: Double, _ x: Double) -> Double {
    let t = min(max((x - edge0) / (edge1 - edge0), 0), 1)
    return t * t * (3 - 2 * t)
}

extension SplitMix64 {
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUniform() }
    mutating func chance(_ probability: Double) -> Bool { nextUniform() < probability }
    /// Two independent standard normals from one Box–Muller step (`nextNormal` keeps only one).
    mutating func normalPair() -> (Double, Double) {
        let radius = (-2 * log(max(nextUniform(), .leastNonzeroMagnitude))).squareRoot()
        let angle = 2 * Double.pi * nextUniform()
        return (radius * cos(angle), radius * sin(angle))
    }

    /// Our own mapping rather than `Int.random(in:using:)`, whose algorithm the standard library may change:
    /// a seed must keep giving the same images.
    mutating func integer(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + min(Int(nextUniform() * Double(range.count)), range.count - 1)
    }
}

/// Smooth random field on the unit square (gradient noise): random unit gradients on a coarse lattice, blended
/// with a quintic fade. Gradient rather than value noise, whose thresholded blobs come out square.
/// Used for slowly varying echogenicity (fat lobules, glandular mottling) where speckle alone looks too uniform.
struct SmoothNoise {
    let cells: Int
    private let gradients: [(x: Double, y: Double)]

    init(cells: Int, using generator: inout SplitMix64) {
        self.cells = max(cells, 1)
        gradients = (0..<(self.cells + 1) * (self.cells + 1)).map { _ in
            let angle = generator.uniform(0, 2 * .pi)
            return (cos(angle), sin(angle))
        }
    }

    /// A value in [-1, 1], mostly within ±0.5, at (u, v) ∈ [0, 1]²; coordinates outside are clamped.
    func callAsFunction(_ u: Double, _ v: Double) -> Double {
        let x = min(max(u, 0), 1) * Double(cells), y = min(max(v, 0), 1) * Double(cells)
        let i = min(Int(x), cells - 1), j = min(Int(y), cells - 1)
        let fx = x - Double(i), fy = y - Double(j)
        func dot(_ di: Int, _ dj: Int) -> Double {
            let g = gradients[(j + dj) * (cells + 1) + i + di]
            return g.x * (fx - Double(di)) + g.y * (fy - Double(dj))
        }
        let sx = fade(fx), sy = fade(fy)
        let top = dot(0, 0) + (dot(1, 0) - dot(0, 0)) * sx
        let bottom = dot(0, 1) + (dot(1, 1) - dot(0, 1)) * sx
        // Gradient noise stays within ±√2/2.
        return min(max((top + (bottom - top) * sy) * 2.squareRoot(), -1), 1)
    }

    private func fade(_ t: Double) -> Double { t * t * t * (t * (t * 6 - 15) + 10) }
}

/// A gently wavy line: a sum of a few sinusoids across the field, for tissue boundaries that are never straight.
struct Undulation {
    private let waves: [(amplitude: Double, frequency: Double, phase: Double)]

    /// `amplitude` bounds the total excursion.
    init(amplitude: Double, using generator: inout SplitMix64) {
        let weights = (0..<3).map { _ in generator.nextUniform() }
        let total = max(weights.reduce(0, +), 1e-9)
        waves = weights.map { weight in
            (amplitude * weight / total, generator.uniform(0.5, 2.5), generator.uniform(0, 2 * .pi))
        }
    }

    func callAsFunction(_ u: Double) -> Double {
        waves.reduce(0) { $0 + $1.amplitude * sin(2 * .pi * $1.frequency * u + $1.phase) }
    }
}

/// Separable Gaussian blur of a row-major plane with edges clamped. The kernel is normalised; returns Σ k²
/// over both directions, the factor by which the blur scales the variance of white noise.
@discardableResult
func gaussianBlur(_ plane: inout [Float], width: Int, height: Int, sigmaX: Double, sigmaY: Double) -> Double {
    let kx = gaussianKernel(sigmaX), ky = gaussianKernel(sigmaY)
    var scratch = [Float](repeating: 0, count: plane.count)
    convolveRows(plane, into: &scratch, width: width, height: height, kernel: kx, stride: 1, count: width)
    convolveRows(scratch, into: &plane, width: width, height: height, kernel: ky, stride: width, count: height)
    return kx.reduce(0) { $0 + Double($1 * $1) } * ky.reduce(0) { $0 + Double($1 * $1) }
}

private func gaussianKernel(_ sigma: Double) -> [Float] {
    guard sigma > 0.05 else { return [1] }
    let radius = Int((3 * sigma).rounded(.up))
    let raw = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
    let sum = raw.reduce(0, +)
    return raw.map { Float($0 / sum) }
}

/// Convolves along one axis: `stride` steps along that axis, `count` samples in it.
private func convolveRows(_ src: [Float], into dst: inout [Float], width: Int, height: Int,
                          kernel: [Float], stride: Int, count: Int) {
    let radius = kernel.count / 2
    let lines = stride == 1 ? height : width
    let lineStep = stride == 1 ? width : 1
    src.withUnsafeBufferPointer { s in
        dst.withUnsafeMutableBufferPointer { d in
            for line in 0..<lines {
                let base = line * lineStep
                for i in 0..<count {
                    var acc: Float = 0
                    if i >= radius && i + radius < count {
                        // Away from the edges no clamping is needed: the hot loop.
                        var j = base + (i - radius) * stride
                        for k in 0..<kernel.count {
                            acc += kernel[k] * s[j]
                            j += stride
                        }
                    } else {
                        for k in 0..<kernel.count {
                            acc += kernel[k] * s[base + min(max(i + k - radius, 0), count - 1) * stride]
                        }
                    }
                    d[base + i * stride] = acc
                }
            }
        }
    }
}

/// Speckle in dB. The magnitude of a complex Gaussian field blurred to the resolution cell is Rayleigh-distributed,
/// as the envelope of many random scatterers is; averaging the intensities of `looks` independent patterns
/// (compounding, as breast scanners do) makes the grain less harsh. Scaled to an RMS amplitude of 1, so it
/// multiplies the echogenicity without changing its average power. The grain is wider than tall: ultrasound
/// resolves better along the beam than across it.
func speckleDecibels(width: Int, height: Int, lateralSigma: Double, axialSigma: Double, looks: Int,
                     using generator: inout SplitMix64) -> [Float] {
    let n = width * height
    var intensity = [Float](repeating: 0, count: n)
    var meanIntensity = 0.0
    for _ in 0..<(2 * looks) {
        var component = [Float](repeating: 0, count: n)
        for i in stride(from: 0, to: n, by: 2) {
            let (a, b) = generator.normalPair()
            component[i] = Float(a)
            if i + 1 < n { component[i + 1] = Float(b) }
        }
        meanIntensity += gaussianBlur(&component, width: width, height: height, sigmaX: lateralSigma, sigmaY: axialSigma)
        for i in 0..<n { intensity[i] += component[i] * component[i] }
    }
    let scale = Float(1 / meanIntensity)
    return intensity.map { 10 * log10(max($0 * scale, 1e-8)) }
}
