import Foundation
import VAEFormats
import XCTest

/// `analyze --mask`, `analyze-folder` with masks/ under mpirun, and identical inputs giving exactly zero.
extension AnalyzeCommandTests {
    /// The disc that `pattern(seed:blob:)` darkens, white on black.
    func blobMask(seed: Int) -> RGB8Image {
        let size = 40
        let (cx, cy) = (Double(12 + 4 * seed), Double(24 - 3 * seed))
        let pixels = (0..<size * size).flatMap { p -> [UInt8] in
            let v: UInt8 = hypot(Double(p % size) - cx, Double(p / size) - cy) < 7 ? 255 : 0
            return [v, v, v]
        }
        return RGB8Image(width: size, height: size, pixels: pixels)
    }

    /// report.html: self-contained (no http, no external file), a row per pair with its thumbnails, every
    /// inline image a decodable PNG, and the sorting script.
    func checkReport(_ path: String, pairs: [String], imagesPerPair: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let html = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("<link"), "external references", file: file, line: line)
        XCTAssertTrue(html.contains("<script>") && html.contains("addEventListener('click'"), "sorting script", file: file, line: line)
        let rows = html.components(separatedBy: "<tr data-pair=\"").dropFirst()
        XCTAssertEqual(rows.map { String($0.prefix { $0 != "\"" }) }, pairs, file: file, line: line)
        for row in rows {
            XCTAssertEqual(row.prefix { $0 != "\n" }.components(separatedBy: "data:image/png;base64,").count - 1, imagesPerPair,
                           "thumbnails of \(row.prefix(20))", file: file, line: line)
        }
        let images = html.components(separatedBy: "data:image/png;base64,").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        XCTAssertEqual(images.count, 1 + pairs.count * imagesPerPair, "the plot and the thumbnails", file: file, line: line)
        let scratch = (path as NSString).deletingLastPathComponent + "/decoded.png"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for encoded in images {
            let data = try XCTUnwrap(Data(base64Encoded: encoded), "base64", file: file, line: line)
            try data.write(to: URL(fileURLWithPath: scratch))
            XCTAssertGreaterThan(try loadImage(path: scratch).width, 0, file: file, line: line)
        }
    }

    func testTheSameImageTwiceGivesExactlyZeroAtEveryLayer() throws {
        let image = "\(dir!)/pairs/positive/case_2.png"
        let r = try VAEDistBinary.run(["analyze", "--img1", image, "--img2", image, "--output", "\(dir!)/same"] + modelArgs)
        XCTAssertEqual(r.status, 0, r.output)
        let differences = try parseJSON("\(dir!)/same/single/layer_differences.json")
        XCTAssertEqual(differences.count, 13)
        for (layer, entry) in differences {
            let values = try XCTUnwrap(entry as? [String: Any])
            for key in ["l2_value", "l2_per_element", "cosine_value"] {
                XCTAssertEqual(values[key] as? Double, 0, "\(layer) \(key)")
            }
        }
    }

    func testSinglePairWithAMaskReportsTheLesionMetrics() throws {
        try writePNG(blobMask(seed: 1), to: "\(dir!)/mask.png")
        let r = try VAEDistBinary.run(["analyze", "--img1", "\(dir!)/pairs/positive/case_1.png", "--img2",
                                       "\(dir!)/pairs/negative/case_1.png", "--mask", "\(dir!)/mask.png",
                                       "--output", "\(dir!)/out"] + modelArgs)
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["TOP 5 layers with largest differences (lesion_enrichment)"])
        let differences = try parseJSON("\(dir!)/out/single/layer_differences.json")
        for (layer, entry) in differences {
            let values = try XCTUnwrap(entry as? [String: Any])
            let fraction = try XCTUnwrap(values["lesion_energy_fraction"] as? Double, layer)
            let area = try XCTUnwrap(values["lesion_area_fraction"] as? Double, layer)
            XCTAssertEqual(try XCTUnwrap(values["lesion_enrichment"] as? Double), fraction / area, accuracy: 1e-12, layer)
            XCTAssertNotNil(values["energy_per_area_inside"] as? Double, layer)
            XCTAssertNotNil(values["energy_per_area_outside"] as? Double, layer)
        }
        let bad = try VAEDistBinary.run(["analyze", "--img1", "\(dir!)/pairs/positive/case_1.png", "--img2",
                                         "\(dir!)/pairs/negative/case_1.png", "--mask", "\(dir!)/missing.png",
                                         "--output", "\(dir!)/out"] + modelArgs)
        XCTAssertNotEqual(bad.status, 0)
        assertMentions(bad.output, ["missing.png"])
    }

    /// np 1, 2 and 5 with masks in pairs/masks/ and the encoder's layers too: the lesion aggregates exist and
    /// are bitwise the same.
    func testFolderWithMasksGivesTheSameLesionAggregatesOnAnyRankCount() throws {
        for (index, name) in pairNames.enumerated() { try writePNG(blobMask(seed: index), to: "\(dir!)/pairs/masks/\(name).png") }
        // lonely.png has no pair, so it needs no mask.
        var results: [Int: Aggregated] = [:]
        for ranks in [1, 2, 5] {
            let out = "\(dir!)/masked\(ranks)"
            let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/pairs", "--layers", "both", "--output", out] + modelArgs,
                                          ranks: ranks)
            XCTAssertEqual(r.status, 0, "np \(ranks):\n\(r.output)")
            assertMentions(r.output, ["TOP 5 layers with largest differences (lesion_enrichment)"])
            results[ranks] = try readAggregates("\(out)/batch")
            try checkReport("\(out)/batch/report.html", pairs: pairNames, imagesPerPair: 4)
            let csv = try String(contentsOfFile: "\(out)/batch/pair_metrics.csv", encoding: .utf8)
            XCTAssertEqual(csv.split(separator: "\n").first.map(String.init),
                           "pair,layer,l2_value,l2_per_element,cosine_value,lesion_energy_fraction,lesion_area_fraction,lesion_enrichment,energy_per_area_inside,energy_per_area_outside")
        }
        let reference = try XCTUnwrap(results[1])
        let model = try model()
        XCTAssertEqual(Set(reference.layers.keys), Set(model.encoderLayerNames + model.decoder.layerNames))
        for (layer, values) in reference.layers {
            for key in ["lesion_energy_fraction", "lesion_enrichment", "energy_per_area_inside", "energy_per_area_outside"] {
                XCTAssertNotNil(values["\(key)_mean"], "\(layer) \(key)_mean")
                XCTAssertNotNil(values["\(key)_std"], "\(layer) \(key)_std")
                XCTAssertEqual(values["\(key)_n"], Double(pairNames.count), "\(layer) \(key)_n")
            }
            XCTAssertNotNil(values["lesion_enrichment_pooled"], "\(layer) pooled enrichment")
            XCTAssertNil(values["lesion_area_fraction_mean"], "\(layer): the area is context, not aggregated per layer")
            for ranks in [2, 5] { XCTAssertEqual(results[ranks]?.layers[layer], values, "np \(ranks) \(layer)") }
        }
    }
}

extension AnalyzeCommandTests {
    func testLayersBothReportsEncoderThenDecoderLayers() throws {
        let r = try VAEDistBinary.run(["analyze", "--img1", "\(dir!)/pairs/positive/case_0.png", "--img2",
                                       "\(dir!)/pairs/negative/case_0.png", "--layers", "both", "--output", "\(dir!)/both"] + modelArgs)
        XCTAssertEqual(r.status, 0, r.output)
        let model = try model()
        let names = model.encoderLayerNames + model.decoder.layerNames
        XCTAssertEqual(names.first, "encoder.conv_in")
        XCTAssertEqual(try keysInFileOrder("\(dir!)/both/single/layer_differences.json", among: names), names)
        XCTAssertEqual(try parseJSON("\(dir!)/both/single/summary.json")["layers"] as? Int, names.count)
        let bad = try VAEDistBinary.run(["analyze", "--img1", "a.png", "--img2", "b.png", "--layers", "middle"] + modelArgs)
        XCTAssertNotEqual(bad.status, 0)
        assertMentions(bad.output, ["--layers", "middle"])
    }
}
