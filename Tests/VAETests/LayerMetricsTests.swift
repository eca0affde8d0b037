import Foundation
@testable import VAEAnalysis
@testable import VAECore
import XCTest

/// The per-layer metrics on outputs small enough to work out by hand.
final class LayerMetricsTests: XCTestCase {
    /// Items 0 and 1 of [2, C, H, W] as given per item in CHW order.
    func pairOutput(_ a: [Float], _ b: [Float], c: Int, h: Int, w: Int) -> Tensor {
        Tensor(shape: [2, c, h, w], values: a + b)
    }

    func testL2CosineAndPerElementOnAHandMadePair() {
        // a: channel 0 = [1, 2], channel 1 = [3, 4]; b: [1, 0], [0, 4] (one row of two pixels).
        let output = pairOutput([1, 2, 3, 4], [1, 0, 0, 4], c: 2, h: 1, w: 2)
        let (difference, map) = compareBatchItems(output.batchItems, layer: "decoder.conv_in")
        XCTAssertEqual(difference.layer, "decoder.conv_in")
        XCTAssertEqual(difference.shape, [1, 2, 1, 2])
        XCTAssertEqual(difference.elementCount, 4)
        // a − b = [0, 2, 3, 0]: ‖·‖² = 13.
        XCTAssertEqual(difference.l2, 13.0.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(difference.l2PerElement, 13.0.squareRoot() / 2, accuracy: 1e-15)
        // a·b = 1 + 16 = 17, ‖a‖² = 30, ‖b‖² = 17.
        XCTAssertEqual(difference.cosine, 1 - 17 / (30.0.squareRoot() * 17.0.squareRoot()), accuracy: 1e-15)
        XCTAssertEqual(difference.value(of: .l2Value), difference.l2)
        XCTAssertEqual(difference.value(of: .l2PerElement), difference.l2PerElement)
        XCTAssertEqual(difference.value(of: .cosineValue), difference.cosine)
        // Per pixel over channels: (0, 3) → 3 and (2, 0) → 2.
        XCTAssertEqual(map, DifferenceMap(width: 2, height: 1, values: [3, 2]))
    }

    func testMapIsRowMajorAndZeroOutputsHaveDefinedCosine() {
        let zeros = [Float](repeating: 0, count: 2 * 2 * 3)
        var b = zeros
        b[1 * 6 + 1 * 3 + 0] = 5  // channel 1, row 1, column 0
        let (difference, map) = compareBatchItems(pairOutput(zeros, b, c: 2, h: 2, w: 3).batchItems, layer: "x")
        XCTAssertEqual(map.values, [0, 0, 0, 5, 0, 0])
        XCTAssertEqual(difference.l2, 5)
        XCTAssertEqual(difference.cosine, 1, "a zero output against a non-zero one counts as orthogonal")
        let same = compareBatchItems(pairOutput(zeros, zeros, c: 2, h: 2, w: 3).batchItems, layer: "x").difference
        XCTAssertEqual(same.l2, 0)
        XCTAssertEqual(same.cosine, 0, "two zero outputs are identical")
        let opposite = compareBatchItems(pairOutput([1, -2], [-1, 2], c: 1, h: 1, w: 2).batchItems, layer: "x").difference
        XCTAssertEqual(opposite.cosine, 2, accuracy: 1e-15)
    }

    /// Large enough that rows are split over threads: the sums must not depend on how. Rows of 67 pixels: 16 groups
    /// of four in vector lanes and 3 one by one.
    func testResultsAreTheSameForAnyThreadCountAndMatchAPlainDoubleSum() {
        var rng = SplitMix64(seed: 11)
        let (c, h, w) = (64, 64, 67)
        let values = (0..<2 * c * h * w).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let output = Tensor(shape: [2, c, h, w], values: values)
        let one = ComputeContext(threads: 1).run { compareBatchItems(output.batchItems, layer: "x") }
        let three = ComputeContext(threads: 3).run { compareBatchItems(output.batchItems, layer: "x") }
        XCTAssertEqual(one.difference, three.difference)
        XCTAssertEqual(one.map, three.map)

        let item = c * h * w
        var dd = 0.0, ab = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<item {
            let a = Double(values[i]), b = Double(values[item + i])
            dd += (a - b) * (a - b)
            ab += a * b
            aa += a * a
            bb += b * b
        }
        XCTAssertEqual(one.difference.l2, dd.squareRoot(), accuracy: 1e-12 * dd.squareRoot())
        XCTAssertEqual(one.difference.cosine, 1 - ab / (aa.squareRoot() * bb.squareRoot()), accuracy: 1e-12)
        for pixel in [0, 63, 64, 66, 67, h * w - 1] {
            let squares = (0..<c).reduce(0.0) { sum, channel in
                let i = channel * h * w + pixel, diff = Double(values[i]) - Double(values[item + i])
                return sum + diff * diff
            }
            XCTAssertEqual(one.map.values[pixel], Float(squares.squareRoot()), accuracy: 1e-6 * Float(squares.squareRoot()), "pixel \(pixel)")
        }
    }

    func testLargestIndicesRankLargestFirstKeepTiesInOrderAndPutNaNLast() {
        XCTAssertEqual(largestIndices([1, 5, 3, 5, .nan, 2, 0], count: 5), [1, 3, 2, 5, 0])
        XCTAssertEqual(largestIndices([.nan, 1], count: 5), [1, 0])
        XCTAssertEqual(largestIndices([], count: 5), [])
        let layers = [("a", 1.0), ("b", 3.0), ("c", 2.0)].map { LayerDifference(layer: $0.0, shape: [1, 1, 1, 1], l2: $0.1, cosine: -$0.1) }
        XCTAssertEqual(topLayers(layers, by: .l2Value, count: 2).map(\.layer), ["b", "c"])
        XCTAssertEqual(topLayers(layers, by: .cosineValue, count: 2).map(\.layer), ["a", "c"])
    }

    /// Each method's columns, and the lesion columns only with a mask, read the numbers computed by hand.
    func testReportedMetricsReadTheirValues() {
        // 2 channels of 2×2: 8 elements, 4 pixels; l2² = 9, of which 3 inside a mask covering a quarter.
        let masked = LayerDifference(layer: "x", shape: [1, 2, 2, 2], l2: 3, cosine: 0.25,
                                     lesion: LesionEnergy(inside: 3, areaFraction: 0.25))
        let plain = LayerDifference(layer: "x", shape: [1, 2, 2, 2], l2: 3, cosine: 0.25)
        func reported(_ method: AnalysisMethod, _ layer: LayerDifference) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: DifferenceMetric.reported(method, layers: [layer]).map { ($0.rawValue, layer.value(of: $0)!) })
        }
        let perElement = 3 / 8.0.squareRoot()
        XCTAssertEqual(reported(.l2, plain), ["l2_value": 3, "l2_per_element": perElement])
        XCTAssertEqual(reported(.cosine, plain), ["cosine_value": 0.25])
        XCTAssertEqual(reported(.both, plain), ["l2_value": 3, "l2_per_element": perElement, "cosine_value": 0.25])
        let lesion = ["lesion_energy_fraction": 1.0 / 3, "lesion_area_fraction": 0.25, "lesion_enrichment": 4.0 / 3,
                      "energy_per_area_inside": 3, "energy_per_area_outside": 2]
        let got = reported(.cosine, masked)
        XCTAssertEqual(Set(got.keys), Set(lesion.keys).union(["cosine_value"]))
        for (key, value) in lesion { XCTAssertEqual(got[key]!, value, accuracy: 1e-15, key) }
        XCTAssertTrue(DifferenceMetric.lesionMetrics.allSatisfy { plain.value(of: $0) == nil }, "no mask: no lesion numbers")
    }

    /// A share of no difference is 0/0: undefined, with its reason, never NaN; what is defined stays defined.
    func testSharesOfNoDifferenceAreUndefinedWithTheirReason() {
        let silent = LayerDifference(layer: "x", shape: [1, 2, 2, 2], l2: 0, cosine: 0, lesion: LesionEnergy(inside: 0, areaFraction: 0.25))
        for metric in [DifferenceMetric.lesionEnergyFraction, .lesionEnrichment] {
            XCTAssertNil(silent.value(of: metric), metric.rawValue)
            XCTAssertEqual(silent.undefinedReason(of: metric), .noDifference, metric.rawValue)
        }
        for metric in [DifferenceMetric.l2Value, .l2PerElement, .cosineValue, .lesionAreaFraction, .energyPerAreaInside, .energyPerAreaOutside] {
            XCTAssertNotNil(silent.value(of: metric), metric.rawValue)
            XCTAssertNil(silent.undefinedReason(of: metric), metric.rawValue)
        }
        XCTAssertEqual(silent.value(of: .energyPerAreaInside), 0)
        let diverged = LayerDifference(layer: "x", shape: [1, 2, 2, 2], l2: .infinity, cosine: .nan)
        XCTAssertEqual(diverged.undefinedReason(of: .l2Value), .notFinite)
        XCTAssertEqual(diverged.undefinedReason(of: .cosineValue), .notFinite)
        let whole = LayerDifference(layer: "x", shape: [1, 2, 2, 2], l2: 1, cosine: 0, lesion: LesionEnergy(inside: 1, areaFraction: 1))
        XCTAssertEqual(whole.undefinedReason(of: .energyPerAreaOutside), .maskCoversLayer)
        XCTAssertEqual(whole.value(of: .lesionEnrichment), 1)
        // The area is context: recorded per layer, never compared.
        XCTAssertEqual(DifferenceMetric.compared(.l2, masked: true), [.l2Value, .l2PerElement, .lesionEnergyFraction, .lesionEnrichment,
                                                                       .energyPerAreaInside, .energyPerAreaOutside])
        XCTAssertEqual(topLayers([silent, whole], by: .lesionEnrichment).map(\.layer), ["x"], "undefined layers are never among the top")
        XCTAssertEqual(topLayers([silent], by: .lesionEnrichment), [])
    }

    func testAggregatesAreMeanAndPopulationStdPerLayer() {
        // Four pairs, two layers of 4 elements: l2 of the first layer 1, 2, 3, 4; cosine constant.
        let pairs = (1...4).map { k in
            [LayerDifference(layer: "first", shape: [1, 1, 2, 2], l2: Double(k), cosine: 0.25),
             LayerDifference(layer: "second", shape: [1, 1, 2, 2], l2: 10, cosine: Double(k) / 10)]
        }
        let aggregates = aggregateLayers(pairs)
        XCTAssertEqual(aggregates.map(\.layer), ["first", "second"])
        XCTAssertEqual(aggregates.map(\.n), [4, 4])
        let first = aggregates[0], second = aggregates[1]
        XCTAssertEqual(first.mean[.l2Value], 2.5)
        // numpy.std([1, 2, 3, 4]) (ddof 0) = √1.25.
        XCTAssertEqual(first.std[.l2Value]!, 1.25.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(first.mean[.l2PerElement], 1.25)
        XCTAssertEqual(first.std[.l2PerElement]!, 1.25.squareRoot() / 2, accuracy: 1e-15)
        XCTAssertEqual(first.mean[.cosineValue], 0.25)
        XCTAssertEqual(first.std[.cosineValue], 0)
        XCTAssertEqual(second.mean[.cosineValue]!, 0.25, accuracy: 1e-15)
        XCTAssertEqual(second.std[.cosineValue]!, 1.25.squareRoot() / 10, accuracy: 1e-15)
        XCTAssertEqual(second.std[.l2Value], 0)
        XCTAssertEqual(aggregateLayers([]), [])
    }
}
