import Foundation
import VAEAnalysis
import VAEFormats
import XCTest

/// report.html from `analyze-folder` as users run it: phantoms from `synth-data`, two ranks (the pictures of
/// rank 1's pairs travel to rank 0).
extension AnalyzeCommandTests {
    func testFolderAnalysisWritesASelfContainedReport() throws {
        let phantoms = "\(dir!)/phantoms"
        let synth = try VAEDistBinary.run(["synth-data", "--output", phantoms, "--count", "1", "--pairs", "3", "--img_size", "40",
                                           "--seed", "5"])
        XCTAssertEqual(synth.status, 0, synth.output)
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(phantoms)/pairs/positive").sorted()
        XCTAssertEqual(names.count, 3)

        let out = "\(dir!)/reported"
        let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(phantoms)/pairs", "--output", out, "--bootstrap", "100"]
                                      + modelArgs, ranks: 2)
        XCTAssertEqual(r.status, 0, r.output)
        let page = try String(contentsOfFile: "\(out)/batch/report.html", encoding: .utf8)

        for name in names.map({ ($0 as NSString).deletingPathExtension }) {
            XCTAssertTrue(page.contains("<tr data-pair=\"\(name)\"><td data-v=\"\(name)\">\(name)</td>"), name)
            for picture in ["positive", "negative", "mask", "difference map"] {
                XCTAssertTrue(page.contains("alt=\"\(picture) of \(name)\""), "\(picture) of \(name)")
            }
        }
        let sources = try NSRegularExpression(pattern: "<img src=\"([^\"]*)\"")
            .matches(in: page, range: NSRange(page.startIndex..., in: page)).map { String(page[Range($0.range(at: 1), in: page)!]) }
        XCTAssertEqual(sources.count, 1 + 4 * names.count, "the aggregated plot and four pictures per pair")
        for (index, source) in sources.enumerated() {
            let prefix = "data:image/png;base64,"
            XCTAssertTrue(source.hasPrefix(prefix), "image \(index)")
            let path = "\(dir!)/inline-\(index).png"
            try XCTUnwrap(Data(base64Encoded: String(source.dropFirst(prefix.count))), "image \(index)").write(to: URL(fileURLWithPath: path))
            let image = try loadImage(path: path)
            if index == 0 {
                XCTAssertEqual(image, try loadImage(path: "\(out)/batch/aggregated_differences.png"))
            } else {
                XCTAssertEqual([image.width, image.height], [32, 32], "image \(index)")
            }
        }
        for metric in ["l2_value", "l2_per_element", "cosine_value", "lesion_energy_fraction",
                       "lesion_enrichment", "energy_per_area_inside", "energy_per_area_outside"] {
            // The heading says the metric in words; its title attribute gives the key.
            XCTAssertTrue(page.contains("(\(metric)): ") && page.contains("data-type=\"num\">\(DifferenceMetric(rawValue: metric)!.shortTitle)</button>"),
                          "sort control for \(metric)")
            XCTAssertTrue(page.contains("<small>(\(metric))</small></summary>"), "ranking of \(metric)")
        }
        // The lesion's area is context: a column once per pair, never ranked.
        XCTAssertTrue(page.contains("data-type=\"num\">lesion area</button>"), "the pairs' lesion area")
        XCTAssertFalse(page.contains("(lesion_area_fraction)</small></summary>"), "the area is not ranked")
        XCTAssertTrue(page.contains("<h2>Lesion enrichment</h2>"), "the pooled enrichment and its correlation with area")
        XCTAssertFalse(page.contains("http"), "no external URL")
    }
}
