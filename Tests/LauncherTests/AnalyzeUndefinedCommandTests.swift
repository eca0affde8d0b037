import Foundation
import VAEFormats
import XCTest

/// `analyze-folder` with a degenerate pair (the same image as positive and negative) among normal ones, on two
/// ranks: the lesion shares are undefined for it and left out, everything else stays finite over the defined
/// pairs, and the console, JSON, CSV and report say so.
extension AnalyzeCommandTests {
    func testADegeneratePairIsLeftOutOfTheLesionSharesAndNamed() throws {
        for (index, name) in pairNames.enumerated() { try writePNG(blobMask(seed: index), to: "\(dir!)/pairs/masks/\(name).png") }
        let same = pattern(seed: 4, blob: true)
        try writePNG(same, to: "\(dir!)/pairs/positive/same.png")
        try writePNG(same, to: "\(dir!)/pairs/negative/same.png")
        try writePNG(blobMask(seed: 4), to: "\(dir!)/pairs/masks/same.png")
        let out = "\(dir!)/degenerate"
        let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/pairs", "--output", out, "--bootstrap", "200"] + modelArgs,
                                      ranks: 2)
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.output, ["same: lesion_energy_fraction, lesion_enrichment undefined at every layer, left out of their aggregates: identical images",
                                  "n 4/5", "LESION ENRICHMENT per layer"])
        XCTAssertFalse(printsNaN(r.output), r.output)
        XCTAssertFalse(r.output.contains("(lesion_area_fraction)"), "the area is context, never ranked")

        let batch = "\(out)/batch"
        let json = try parseJSON("\(batch)/aggregated_results.json")
        let layers = try XCTUnwrap(json["layers"] as? [String: [String: Any]])
        let defined = pairNames
        let perPair = try defined.map { try parseJSON("\(batch)/\($0)/layer_differences.json") }
        let sameValues = try parseJSON("\(batch)/same/layer_differences.json")
        XCTAssertEqual(layers.count, 13)
        for (layer, values) in layers {
            XCTAssertTrue((sameValues[layer] as? [String: Any])?["lesion_enrichment"] is NSNull, "\(layer): null for the same image")
            for key in ["lesion_energy_fraction", "lesion_enrichment"] {
                XCTAssertEqual(values["\(key)_n"] as? Int, defined.count, "\(layer) \(key)_n")
                for stat in ["mean", "std", "ci_low", "ci_high", "median", "iqr"] {
                    let value = try XCTUnwrap(values["\(key)_\(stat)"] as? Double, "\(layer) \(key)_\(stat)")
                    XCTAssertTrue(value.isFinite, "\(layer) \(key)_\(stat)")
                }
                // The median of the 4 defined pairs (numpy's: the mean of the middle two).
                let sorted = try perPair.map { try XCTUnwrap(($0[layer] as? [String: Any])?[key] as? Double, "\(layer) \(key)") }.sorted()
                assertRelativelyClose(try XCTUnwrap(values["\(key)_median"] as? Double), (sorted[1] + sorted[2]) / 2, "\(layer) \(key)_median")
                assertRelativelyClose(try XCTUnwrap(values["\(key)_mean"] as? Double), sorted.reduce(0, +) / 4, "\(layer) \(key)_mean")
            }
            XCTAssertEqual(values["l2_n"] as? Int, 5, "\(layer): the same image's l2 of 0 is a value")
            XCTAssertEqual(values["lesion_enrichment_pooled_n"] as? Int, 4, layer)
            XCTAssertTrue((values["lesion_enrichment_pooled"] as? Double)?.isFinite ?? false, layer)
        }
        let leftOut = try XCTUnwrap(json["left_out"] as? [[String: Any]])
        XCTAssertEqual(leftOut.map { $0["pair"] as? String }, ["same"])
        XCTAssertEqual(leftOut.first?["reason"] as? String, "identical images (no difference at any layer)")
        XCTAssertEqual(((json["lesion_area_fraction"] as? [String: Any])?["pairs"] as? [String: Any])?.count, 5, "the area once per pair")

        let csv = try String(contentsOfFile: "\(batch)/pair_metrics.csv", encoding: .utf8)
        XCTAssertFalse(csv.contains("NaN"))
        let rows = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let enrichment = try XCTUnwrap(rows.first?.firstIndex(of: "lesion_enrichment"))
        for row in rows.dropFirst() { XCTAssertEqual(row[enrichment].isEmpty, row[0] == "same", row.joined(separator: ",")) }

        let page = try String(contentsOfFile: "\(batch)/report.html", encoding: .utf8)
        XCTAssertTrue(page.contains("<li><b>same</b>: lesion_energy_fraction, lesion_enrichment undefined at every layer, left out of their aggregates: identical images"),
                      "named in the report")
        XCTAssertFalse(printsNaN(try XCTUnwrap(page.components(separatedBy: "<script>").first)), "no number shown as nan")
    }

    /// One pair of identical images with a mask: the lesion shares are null per layer, said in words on the
    /// console, and the lesion's area is in summary.json once.
    func testASinglePairOfIdenticalImagesSaysTheLesionSharesAreUndefined() throws {
        try writePNG(blobMask(seed: 1), to: "\(dir!)/mask.png")
        let image = "\(dir!)/pairs/positive/case_1.png"
        let r = try VAEDistBinary.run(["analyze", "--img1", image, "--img2", image, "--mask", "\(dir!)/mask.png",
                                       "--output", "\(dir!)/same"] + modelArgs)
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["lesion_enrichment: undefined at every layer: identical images (no difference at any layer)",
                                  "lesion_energy_fraction: undefined at every layer: identical images"])
        XCTAssertFalse(printsNaN(r.output), r.output)
        XCTAssertFalse(r.stdout.contains("(lesion_area_fraction)"), "the area is context, never ranked")
        let summary = try parseJSON("\(dir!)/same/single/summary.json")
        XCTAssertEqual(try XCTUnwrap(summary["lesion_area_fraction"] as? Double), 0.1, accuracy: 0.05)
        XCTAssertNil((summary["top5"] as? [String: Any])?["lesion_area_fraction"])
        XCTAssertEqual(((summary["top5"] as? [String: Any])?["lesion_enrichment"] as? [Any])?.count, 0)
        for (layer, entry) in try parseJSON("\(dir!)/same/single/layer_differences.json") {
            XCTAssertTrue((entry as? [String: Any])?["lesion_enrichment"] is NSNull, layer)
        }
    }

    /// Whether `text` has "nan" (any case, any sign) as a word, inline images left aside.
    func printsNaN(_ text: String) -> Bool {
        let plain = text.replacingOccurrences(of: "data:image/png;base64,[A-Za-z0-9+/=]*", with: "", options: .regularExpression)
        return plain.range(of: "\\bnan\\b", options: [.regularExpression, .caseInsensitive]) != nil
    }
}
