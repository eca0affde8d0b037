import Foundation

/// How one decoder layer's outputs for the two images of a pair differ.
public struct LayerDifference: Equatable, Sendable {
    public let layer: String
    /// The shape of one image's output, [1, C, H, W].
    public let shape: [Int]
    /// ‖a − b‖₂ over all elements.
    public let l2: Double
    /// 1 − a·b / (‖a‖‖b‖): 0 for outputs pointing the same way, larger = more different.
    public let cosine: Double

    public init(layer: String, shape: [Int], l2: Double, cosine: Double) {
        self.layer = layer
        self.shape = shape
        self.l2 = l2
        self.cosine = cosine
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// l2 / √numel: the root-mean-square element difference, comparable between layers of different sizes.
    public var l2PerElement: Double { l2 / Double(max(elementCount, 1)).squareRoot() }

    public func value(of metric: DifferenceMetric) -> Double {
        switch metric {
        case .l2Value: return l2
        case .l2PerElement: return l2PerElement
        case .cosineValue: return cosine
        }
    }
}

/// The per-layer numbers reported, under the names the files use.
public enum DifferenceMetric: String, CaseIterable, Sendable {
    case l2Value = "l2_value"
    case l2PerElement = "l2_per_element"
    case cosineValue = "cosine_value"
}

/// `--method`: which metrics are reported (both are always computed; they cost one pass over the output).
public enum AnalysisMethod: String, CaseIterable, Sendable {
    case l2, cosine, both

    public var metrics: [DifferenceMetric] {
        switch self {
        case .l2: return [.l2Value, .l2PerElement]
        case .cosine: return [.cosineValue]
        case .both: return DifferenceMetric.allCases
        }
    }
}

/// ‖a − b‖ over the channels at each pixel of one layer's output, rows top to bottom: where the layer differs.
public struct DifferenceMap: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let values: [Float]
}

/// Compares items 0 and 1 of a layer output [2, C, H, W], accumulating in double. Rows are summed in
/// parallel and their partial sums added in row order, so the result does not depend on the thread count.
public func compareBatchItems(_ output: Tensor, layer: String) -> (difference: LayerDifference, map: DifferenceMap) {
    let d = output.dims
    precondition(d.n == 2, "\(layer): a pair analysis decodes a batch of 2, got \(d.n)")
    let item = d.c * d.plane
    // Per row: Σ(a−b)², Σab, Σa², Σb²; per pixel: Σ over channels of (a−b)².
    var rowSums = [Double](repeating: 0, count: 4 * d.h)
    var pixelSquares = [Double](repeating: 0, count: d.plane)
    rowSums.withUnsafeMutableBufferPointer { rows in
        pixelSquares.withUnsafeMutableBufferPointer { pixels in
            parallelFor(d.h, grain: max(1, 65_536 / max(1, d.c * d.w))) { range in
                for y in range {
                    var dd = 0.0, ab = 0.0, aa = 0.0, bb = 0.0
                    for c in 0..<d.c {
                        let a = output.data + c * d.plane + y * d.w
                        let b = a + item
                        for x in 0..<d.w {
                            let va = Double(a[x]), vb = Double(b[x]), diff = va - vb
                            dd += diff * diff
                            ab += va * vb
                            aa += va * va
                            bb += vb * vb
                            pixels[y * d.w + x] += diff * diff
                        }
                    }
                    rows[4 * y] = dd
                    rows[4 * y + 1] = ab
                    rows[4 * y + 2] = aa
                    rows[4 * y + 3] = bb
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
    let difference = LayerDifference(layer: layer, shape: [1, d.c, d.h, d.w], l2: dd.squareRoot(),
                                     cosine: cosineDissimilarity(dot: ab, normSquared: (aa, bb)))
    return (difference, DifferenceMap(width: d.w, height: d.h, values: pixelSquares.map { Float($0.squareRoot()) }))
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

/// The `count` layers with the largest values of `metric`, largest first.
public func topLayers(_ layers: [LayerDifference], by metric: DifferenceMetric, count: Int = 5) -> [LayerDifference] {
    largestIndices(layers.map { $0.value(of: metric) }, count: count).map { layers[$0] }
}
