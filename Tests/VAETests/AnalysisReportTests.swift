import Foundation
@testable import VAEAnalysis
@testable import VAECore
@testable import VAEFormats
import XCTest

/// The analysis files: ordered JSON that parses back to the same numbers, CSV rows, and the pair folder layout.
final class AnalysisReportTests: XCTestCase {
    let layerNames = AutoencoderKL(.sdV1).decoder.layerNames
    /// Doubles that need all 17 digits, tiny, huge and subnormal ones.
    let awkward = [0.1, 1.0 / 3, 1e-300, 123456789.123456789, .leastNonzeroMagnitude, 2.5, 1e21, 0.0]

    func layers() -> [LayerDifference] {
        layerNames.enumerated().map { index, name in
            LayerDifference(layer: name, shape: [1, 4 * (index + 1), 8, 8], l2: awkward[index % awkward.count] * Double(index + 1),
                            cosine: awkward[(index + 3) % awkward.count])
        }
    }

    func parse(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// JSONSerialization on Linux reads numbers as NSDecimalNumber and rounds some in the last bit on the way
    /// to Double; JSONDecoder reads them exactly (as Python's json does), so exactness is checked through it.
    struct LayerEntry: Decodable {
        let l2_value: Double?
        let l2_per_element: Double?
        let cosine_value: Double?
        let shape: [Int]
    }

    struct AggregatedResults: Decodable {
        let pairs: [String]
        let layers: [String: [String: Double]]
    }

    struct TopLayers: Decodable {
        struct Row: Decodable {
            let layer: String
            let l2_value: Double?
        }
        let top5_by_mean: [String: [Row]]
    }

    /// Where each key appears in the text: increasing positions mean the keys are written in that order.
    func assertKeysInOrder(_ text: String, _ keys: [String], file: StaticString = #filePath, line: UInt = #line) {
        var position = text.startIndex
        for key in keys {
            guard let found = text.range(of: "\"\(key)\":", range: position..<text.endIndex) else {
                return XCTFail("\(key) missing or out of order", file: file, line: line)
            }
            position = found.upperBound
        }
    }

    func testLayerDifferencesKeepDecoderOrderAndParseBackExactly() throws {
        let layers = layers()
        let text = AnalysisReport.layerDifferencesJSON(layers, method: .both).text
        assertKeysInOrder(text, layerNames)
        let keys = try XCTUnwrap(try parse(text) as? [String: [String: Any]])
        let parsed = try JSONDecoder().decode([String: LayerEntry].self, from: Data(text.utf8))
        XCTAssertEqual(Set(parsed.keys), Set(layerNames))
        for layer in layers {
            XCTAssertEqual(Set(try XCTUnwrap(keys[layer.layer]).keys), ["l2_value", "l2_per_element", "cosine_value", "shape"])
            let entry = try XCTUnwrap(parsed[layer.layer])
            XCTAssertEqual(entry.l2_value, layer.l2, layer.layer)
            XCTAssertEqual(entry.l2_per_element, layer.l2PerElement, layer.layer)
            XCTAssertEqual(entry.cosine_value, layer.cosine, layer.layer)
            XCTAssertEqual(entry.shape, layer.shape)
        }
        assertKeysInOrder(text, ["l2_value", "l2_per_element", "cosine_value", "shape"])
    }

    func testOnlyTheChosenMethodsKeysAreWritten() throws {
        for (method, keys) in [(AnalysisMethod.l2, ["l2_value", "l2_per_element", "shape"]), (.cosine, ["cosine_value", "shape"])] {
            let parsed = try XCTUnwrap(try parse(AnalysisReport.layerDifferencesJSON(layers(), method: method).text) as? [String: [String: Any]])
            for (layer, entry) in parsed { XCTAssertEqual(Set(entry.keys), Set(keys), "\(method) \(layer)") }
        }
    }

    func testJSONEscapesStringsAndWritesNonFiniteNumbersAsNull() throws {
        let name = "quote \" backslash \\ newline \n tab \t bell \u{07} é 🩻"
        let json = JSONValue.object([
            (name, .array([.double(.nan), .double(.infinity), .double(-0.5), .integer(-3), .bool(true), .null, .string(name)])),
            ("empty", .object([])), ("nested", .array([.object([("a", .array([]))])])),
        ])
        let parsed = try XCTUnwrap(try parse(json.text) as? [String: Any])
        let values = try XCTUnwrap(parsed[name] as? [Any])
        XCTAssertTrue(values[0] is NSNull)
        XCTAssertTrue(values[1] is NSNull)
        XCTAssertEqual(values[2] as? Double, -0.5)
        XCTAssertEqual(values[3] as? Int, -3)
        XCTAssertEqual(values[4] as? Bool, true)
        XCTAssertTrue(values[5] is NSNull)
        XCTAssertEqual(values[6] as? String, name)
        XCTAssertEqual((parsed["empty"] as? [String: Any])?.count, 0)
        XCTAssertEqual(((parsed["nested"] as? [[String: Any]])?.first?["a"] as? [Any])?.count, 0)
    }

    func testAggregatedResultsListPairsAndEveryLayerInOrder() throws {
        let pairs = [layers(), layers().map { LayerDifference(layer: $0.layer, shape: $0.shape, l2: $0.l2 * 2, cosine: $0.cosine) }]
        let aggregates = aggregateLayers(pairs)
        let model = AutoencoderKL(.sdV1)
        let settings = AnalysisSettings(method: .both, imageSize: 64, checkpoint: "w.safetensors")
        let text = AggregateReport.resultsJSON(pairNames: ["b", "a"], aggregates: aggregates, settings: settings, model: model).text
        let parsed = try XCTUnwrap(try parse(text) as? [String: Any])
        XCTAssertEqual(parsed["pairs"] as? [String], ["b", "a"])
        XCTAssertEqual(parsed["img_size"] as? Int, 64)
        XCTAssertEqual(parsed["checkpoint"] as? String, "w.safetensors")
        XCTAssertEqual(parsed["convolution"] as? String, "winograd F(2x2, 3x3)")
        model.arithmetic = .fast
        let fast = AggregateReport.resultsJSON(pairNames: ["b", "a"], aggregates: aggregates, settings: settings, model: model).text
        XCTAssertEqual((try parse(fast) as? [String: Any])?["convolution"] as? String, "winograd F(4x4, 3x3) (--fast_conv)")
        let perLayer = try JSONDecoder().decode(AggregatedResults.self, from: Data(text.utf8)).layers
        XCTAssertEqual(Set(perLayer.keys), Set(layerNames))
        assertKeysInOrder(text, layerNames)
        for aggregate in aggregates {
            let entry = try XCTUnwrap(perLayer[aggregate.layer])
            XCTAssertEqual(Set(entry.keys), ["l2_mean", "l2_std", "l2_n", "cosine_mean", "cosine_std", "cosine_n", "l2_per_element_mean",
                                             "l2_per_element_std", "l2_per_element_n", "n"])
            for metric in AnalysisMethod.both.metrics {
                XCTAssertEqual(entry["\(metric.aggregateKey)_mean"], aggregate.mean[metric], "\(aggregate.layer) \(metric)")
                XCTAssertEqual(entry["\(metric.aggregateKey)_std"], aggregate.std[metric], "\(aggregate.layer) \(metric)")
            }
            XCTAssertEqual(entry["n"], 2)
        }
        // The five largest mean l2 values, largest first, found here by sorting (no ties among them).
        let expectedTop = aggregates.sorted { $0.mean[.l2Value]! > $1.mean[.l2Value]! }.prefix(5)
        XCTAssertEqual(Set(expectedTop.map { $0.mean[.l2Value]! }).count, 5, "the fixture must not tie in the top 5")
        let top = try XCTUnwrap(try JSONDecoder().decode(TopLayers.self, from: Data(text.utf8)).top5_by_mean["l2_value"])
        XCTAssertEqual(top.map(\.layer), expectedTop.map(\.layer))
        XCTAssertEqual(top.map(\.l2_value), expectedTop.map { $0.mean[.l2Value] })
    }

    func testPairMetricsCSVHasOneRowPerPairAndLayer() throws {
        let pairs = [(name: "case, \"one\"", layers: layers()), (name: "case2", layers: layers())]
        let csv = AggregateReport.pairMetricsCSV(pairs, method: .both)
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.first, "pair,layer,l2_value,l2_per_element,cosine_value")
        XCTAssertEqual(lines.last, "", "the file ends with a newline")
        XCTAssertEqual(lines.count, 1 + 2 * layerNames.count + 1)
        XCTAssertTrue(lines[1].hasPrefix("\"case, \"\"one\"\"\",decoder.conv_in,"), lines[1])
        for (row, line) in lines[(1 + layerNames.count)..<(1 + 2 * layerNames.count)].enumerated() {
            let fields = line.split(separator: ",").map(String.init)
            let layer = pairs[1].layers[row]
            XCTAssertEqual(fields, ["case2", layer.layer, "\(layer.l2)", "\(layer.l2PerElement)", "\(layer.cosine)"])
            XCTAssertEqual(Double(fields[2]), layer.l2, "numbers read back exactly")
        }
        let cosineOnly = AggregateReport.pairMetricsCSV(pairs, method: .cosine)
        XCTAssertTrue(cosineOnly.hasPrefix("pair,layer,cosine_value\n"))
        XCTAssertEqual(AggregateReport.csvNumber(.nan), "", "undefined: an empty cell")
        XCTAssertEqual(AggregateReport.csvNumber(nil), "")
        XCTAssertEqual(AggregateReport.csvNumber(-.infinity), "-Inf")
    }

    func testPairFolderPairsByIdenticalNamesAndListsTheRest() throws {
        let root = try makeScratchDirectory(self)
        for (side, names) in [("positive", ["b.png", "a.png", "c.jpg", "c.png", "only_pos.JPG", "notes.txt"]),
                              ("negative", ["a.png", "c.jpg", "c.png", "b.jpeg", "only_neg.png"])] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(side)", withIntermediateDirectories: true)
            for name in names { XCTAssertTrue(FileManager.default.createFile(atPath: "\(root)/\(side)/\(name)", contents: Data([0]))) }
        }
        let folder = try PairFolder.scan(root)
        XCTAssertEqual(folder.pairs.map(\.name), ["a", "c.jpg", "c.png"], "stems shared by two pairs keep their extension")
        XCTAssertEqual(folder.pairs[0].positive, "\(root)/positive/a.png")
        XCTAssertEqual(folder.pairs[0].negative, "\(root)/negative/a.png")
        XCTAssertEqual(folder.unpaired, ["\(root)/positive/b.png", "\(root)/positive/only_pos.JPG",
                                         "\(root)/negative/b.jpeg", "\(root)/negative/only_neg.png"])
        let warning = try XCTUnwrap(folder.unpairedWarning)
        for path in folder.unpaired { XCTAssertTrue(warning.contains(path), warning) }
    }

    func testPairFolderProblemsAreExplained() throws {
        let root = try makeScratchDirectory(self)
        func message(_ folder: String) -> String {
            do { _ = try PairFolder.scan(folder); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("\(root)/missing").contains("--folder \(root)/missing: no such directory"))
        try FileManager.default.createDirectory(atPath: "\(root)/positive", withIntermediateDirectories: true)
        XCTAssertTrue(message(root).contains("no negative/ sub-folder"), message(root))
        try FileManager.default.createDirectory(atPath: "\(root)/negative", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(root)/positive/a.png", contents: Data([0])))
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(root)/negative/b.png", contents: Data([0])))
        XCTAssertTrue(message(root).contains("no pairs"), message(root))
        XCTAssertTrue(message(root).contains("positive/ (1 images) and negative/ (1 images)"), message(root))
    }
}

/// Figures and report.html name metrics in words with units and layers with their resolution.
final class MetricLabelTests: XCTestCase {
    func testEveryMetricHasWordsAndAUnit() {
        for metric in DifferenceMetric.allCases {
            for text in [metric.title, metric.shortTitle, metric.unit] {
                XCTAssertFalse(text.isEmpty, metric.rawValue)
                XCTAssertFalse(text.contains("_"), "\(metric.rawValue): \(text) is a key, not words")
            }
        }
        XCTAssertEqual(Set(DifferenceMetric.allCases.map(\.title)).count, DifferenceMetric.allCases.count)
        let layer = LayerDifference(layer: "decoder.up.1.block.0", shape: [1, 128, 64, 32], l2: 1, cosine: 0)
        XCTAssertEqual(layer.labelWithResolution, "decoder.up.1.block.0 (64×32)")
        XCTAssertEqual(LayerDifference(layer: "x", shape: [3], l2: 1, cosine: 0).labelWithResolution, "x")
    }
}
