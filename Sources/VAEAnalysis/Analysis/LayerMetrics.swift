import Foundation
import VAECore

/// How one decoder layer's outputs for the two images of a pair differ.
public struct LayerDifference: Equatable, Sendable {
    public let layer: String
    /// The shape of one image's output, [1, C, H, W].
    public let shape: [Int]
    /// ‖a − b‖₂ over all elements.
    public let l2: Double
    /// 1 − a·b / (‖a‖‖b‖): 0 for outputs pointing the same way, larger = more different.
    public let cosine: Double
    /// Where the difference lies relative to the lesion mask; nil without a mask.
    public let lesion: LesionEnergy?

    public init(layer: String, shape: [Int], l2: Double, cosine: Double, lesion: LesionEnergy? = nil) {
        self.layer = layer
        self.shape = shape
        self.l2 = l2
        self.cosine = cosine
        self.lesion = lesion
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// l2 / √numel: the root-mean-square element difference, comparable between layers of different sizes.
    public var l2PerElement: Double { l2 / Double(max(elementCount, 1)).squareRoot() }

}

/// Σ(a − b)² inside the lesion (each pixel weighted by its mask coverage at the layer's resolution) and the
/// mask's share of the layer's area; the outside is the rest of l2².
public struct LesionEnergy: Equatable, Sendable {
    public let inside: Double
    public let areaFraction: Double

    public init(inside: Double, areaFraction: Double) {
        (self.inside, self.areaFraction) = (inside, areaFraction)
    }
}

/// The per-layer numbers reported, under the names the files use.
public enum DifferenceMetric: String, CaseIterable, Sendable {
    case l2Value = "l2_value"
    case l2PerElement = "l2_per_element"
    case cosineValue = "cosine_value"
    /// Share of Σ(a − b)² inside the mask.
    case lesionEnergyFraction = "lesion_energy_fraction"
    /// The mask's share of the area.
    case lesionAreaFraction = "lesion_area_fraction"
    /// Energy fraction / area fraction: 1 = the difference is no denser in the lesion than elsewhere.
    case lesionEnrichment = "lesion_enrichment"
    /// Σ(a − b)² per pixel of the layer (channels summed), inside and outside the mask.
    case energyPerAreaInside = "energy_per_area_inside"
    case energyPerAreaOutside = "energy_per_area_outside"

    /// Recorded per layer when the pairs have masks, whatever the method.
    public static let lesionMetrics: [DifferenceMetric] = [.lesionEnergyFraction, .lesionAreaFraction, .lesionEnrichment,
                                                           .energyPerAreaInside, .energyPerAreaOutside]

    /// Context, not a result: the lesion's share of the area is the same at every layer (area averaging keeps
    /// it), so it is shown once per pair and never ranked, highlighted or tested.
    public var isContext: Bool { self == .lesionAreaFraction }

    /// The columns recorded per layer (pair_metrics.csv, layer_differences.json): the method's metrics, and the
    /// lesion metrics for layers measured with a mask.
    public static func reported(_ method: AnalysisMethod, masked: Bool) -> [DifferenceMetric] {
        method.metrics + (masked ? lesionMetrics : [])
    }

    public static func reported(_ method: AnalysisMethod, layers: [LayerDifference]) -> [DifferenceMetric] {
        reported(method, masked: layers.first?.lesion != nil)
    }

    /// The metrics compared between layers (aggregated, ranked, plotted): the reported ones but the context.
    public static func compared(_ method: AnalysisMethod, masked: Bool) -> [DifferenceMetric] {
        reported(method, masked: masked).filter { !$0.isContext }
    }

    public static func compared(_ method: AnalysisMethod, layers: [LayerDifference]) -> [DifferenceMetric] {
        compared(method, masked: layers.first?.lesion != nil)
    }
}

/// `--method`: which metrics are reported (both are always computed; they cost one pass over the output).
public enum AnalysisMethod: String, CaseIterable, Sendable {
    case l2, cosine, both

    public var metrics: [DifferenceMetric] {
        switch self {
        case .l2: return [.l2Value, .l2PerElement]
        case .cosine: return [.cosineValue]
        case .both: return [.l2Value, .l2PerElement, .cosineValue]
        }
    }
}

/// ‖a − b‖ over the channels at each pixel of one layer's output, rows top to bottom: where the layer differs.
public struct DifferenceMap: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let values: [Float]
}

/// Compares a layer's outputs [1, C, H, W] for the two items of a pair, accumulating in double. Rows are
/// summed in parallel and their partial sums added in row order, so the result does not depend on the thread
/// count. `mask` (the lesion at the analysis size) adds where the difference lies relative to it.
public func compareBatchItems(_ outputs: [Tensor], layer: String, mask: LesionMask? = nil) -> (difference: LayerDifference, map: DifferenceMap) {
    precondition(outputs.count == 2, "\(layer): a pair analysis compares 2 items, got \(outputs.count)")
    let d = outputs[0].dims
    precondition(d.n == 1 && outputs[1].shape == outputs[0].shape,
                 "\(layer): the items' outputs must share one shape [1, C, H, W], got \(outputs.map(\.shape))")
    // Per row: Σ(a−b)², Σab, Σa², Σb²; per pixel: Σ over channels of (a−b)².
    var rowSums = [Double](repeating: 0, count: 4 * d.h)
    var pixelSquares = [Double](repeating: 0, count: d.plane)
    outputs[0].withUnsafeBufferPointer { first in
        outputs[1].withUnsafeBufferPointer { second in
            rowSums.withUnsafeMutableBufferPointer { rows in
                pixelSquares.withUnsafeMutableBufferPointer { pixels in
                    parallelFor(d.h, grain: max(1, 65_536 / max(1, d.c * d.w))) { range in
                        for y in range {
                            let sums = pairSums(first.baseAddress! + y * d.w, second.baseAddress! + y * d.w, channels: d.c,
                                                planeSize: d.plane, width: d.w, pixelSquares: pixels.baseAddress! + y * d.w)
                            for k in 0..<4 { rows[4 * y + k] = sums[k] }
                        }
                    }
                }
            }
        }
    }
    var dd = 0.0, ab = 0.0, aa = 0.0, bb = 0.0
    for y in 0..<d.h {
        dd += rowSums[4 * y]
        ab += rowSums[4 * y + 1]
        aa += rowSums[4 * y + 2]
        bb += rowSums[4 * y + 3]
    }
    let lesion = mask.map { mask in
        let coverage = mask.resampled(width: d.w, height: d.h)
        let inside = zip(coverage, pixelSquares).reduce(0) { $0 + $1.0 * $1.1 }
        return LesionEnergy(inside: inside, areaFraction: coverage.reduce(0, +) / Double(d.plane))
    }
    let difference = LayerDifference(layer: layer, shape: [1, d.c, d.h, d.w], l2: dd.squareRoot(),
                                     cosine: cosineDissimilarity(dot: ab, normSquared: (aa, bb)), lesion: lesion)
    return (difference, DifferenceMap(width: d.w, height: d.h, values: pixelSquares.map { Float($0.squareRoot()) }))
}

/// Σ(a−b)², Σab, Σa², Σb² over one row of every channel plane (the planes `planeSize` apart), and Σ over the
/// channels of (a−b)² into `pixelSquares`, in double: four pixels at a time in vector lanes (about four times fewer
/// instructions than one by one), the row's lanes and its last `width % 4` pixels added at the end, always in
/// that order.
private func pairSums(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, channels: Int, planeSize: Int, width: Int,
                     pixelSquares pixels: UnsafeMutablePointer<Double>) -> SIMD4<Double> {
    typealias Lanes = SIMD4<Double>
    var (dd, ab, aa, bb) = (Lanes(), Lanes(), Lanes(), Lanes())
    var tail = Lanes()
    let vectorWidth = width - width % 4
    for c in 0..<channels {
        let (ac, bc) = (a + c * planeSize, b + c * planeSize)
        for x in Swift.stride(from: 0, to: vectorWidth, by: 4) {
            let va = Lanes(UnsafeRawPointer(ac + x).loadUnaligned(as: SIMD4<Float>.self))
            let vb = Lanes(UnsafeRawPointer(bc + x).loadUnaligned(as: SIMD4<Float>.self))
            let diff = va - vb
            dd += diff * diff
            ab += va * vb
            aa += va * va
            bb += vb * vb
            let pixel = UnsafeMutableRawPointer(pixels + x)
            pixel.storeBytes(of: pixel.loadUnaligned(as: Lanes.self) + diff * diff, as: Lanes.self)
        }
        for x in vectorWidth..<width {
            let va = Double(ac[x]), vb = Double(bc[x]), diff = va - vb
            tail += Lanes(diff * diff, va * vb, va * va, vb * vb)
            pixels[x] += diff * diff
        }
    }
    return Lanes(dd.sum(), ab.sum(), aa.sum(), bb.sum()) + tail
}

/// 1 − cos. Two zero outputs are identical (0); a zero against a non-zero output has no direction and counts
/// as orthogonal (1), as PyTorch's cosine_similarity gives 0 similarity there.
/// √(‖a‖²‖b‖²) rather than ‖a‖‖b‖: √(x·x) is exactly x, so identical outputs give exactly 0.
func cosineDissimilarity(dot: Double, normSquared: (Double, Double)) -> Double {
    let norms = (normSquared.0 * normSquared.1).squareRoot()
    guard norms > 0 else { return normSquared.0 == 0 && normSquared.1 == 0 ? 0 : 1 }
    return 1 - dot / norms
}

/// The positions of the `count` largest values, largest first; ties keep their order and non-finite values
/// (a diverged model) come last. Picks the top layers of a pair or of the means over pairs.
public func largestIndices(_ values: [Double], count: Int = 5) -> [Int] {
    let ranked = values.indices.sorted { i, j in
        let (a, b) = (values[i], values[j])
        if a.isFinite != b.isFinite { return a.isFinite }
        if a != b, a.isFinite { return a > b }
        return i < j
    }
    return Array(ranked.prefix(count))
}

/// The `count` layers with the largest values of `metric`, largest first; layers where it is undefined are
/// never among them.
public func topLayers(_ layers: [LayerDifference], by metric: DifferenceMetric, count: Int = 5) -> [LayerDifference] {
    let defined = layers.compactMap { layer in layer.value(of: metric).map { (layer, $0) } }
    return largestIndices(defined.map(\.1), count: count).map { defined[$0].0 }
}
