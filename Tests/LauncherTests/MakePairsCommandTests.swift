import Foundation
import VAEFormats
import XCTest

final class MakePairsCommandTests: XCTestCase {
    /// synth-data's lesion images and masks → make-pairs → analyze-folder runs on the result.
    func testMakesPairsThatAnalyzeFolderReads() throws {
        let dir = try temporaryDirectory("make-pairs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let synth = try VAEDistBinary.run(["synth-data", "--output", "\(dir)/ph", "--count", "1", "--pairs", "2", "--img_size", "64"])
        XCTAssertEqual(synth.status, 0, synth.output)
        let r = try VAEDistBinary.run(["make-pairs", "--images", "\(dir)/ph/pairs/positive", "--masks", "\(dir)/ph/pairs/masks",
                                       "--output", "\(dir)/made", "--dilate", "3"])
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["wrote 2 pair(s)", "analyze-folder --folder \(dir)/made"])
        for folder in ["positive", "negative", "masks"] {
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/made/\(folder)").sorted(),
                           ["case_0001.png", "case_0002.png"], folder)
        }
        XCTAssertNotEqual(try loadImage(path: "\(dir)/made/positive/case_0001.png"),
                          try loadImage(path: "\(dir)/made/negative/case_0001.png"), "the lesion is filled")
        let analysis = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir)/made", "--allow_random_weights",
                                              "--config", VAEDistBinary.fixture("vae-tiny-g8/config.yaml"), "--img_size", "32",
                                              "--bootstrap", "100", "--output", "\(dir)/out"])
        XCTAssertEqual(analysis.status, 0, analysis.output)
        assertMentions(analysis.stdout, ["(lesion_enrichment)"])

        let bad = try VAEDistBinary.run(["make-pairs", "--images", "\(dir)/nowhere", "--output", "\(dir)/x", "--dilate", "-1"])
        XCTAssertNotEqual(bad.status, 0)
        assertMentions(bad.output, ["--dilate"])
        let missing = try VAEDistBinary.run(["make-pairs", "--images", "\(dir)/nowhere", "--output", "\(dir)/x"])
        XCTAssertNotEqual(missing.status, 0)
        assertMentions(missing.output, ["--images", "\(dir)/nowhere"])
    }
}
