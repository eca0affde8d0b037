import Foundation
import VAEFormats
import VAETools
import XCTest

final class SynthDataCommandTests: XCTestCase {
    func testWritesTrainingImagesPairsMasksAndLesionsJSON() throws {
        let out = try temporaryDirectory("synth-data") + "/phantoms"
        let r = try VAEDistBinary.run(["synth-data", "--output", out, "--count", "4", "--pairs", "2", "--img_size", "64", "--seed", "3"])
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["4 training images", "\(out)/train", "2 pairs", "\(out)/pairs/positive", "\(out)/pairs/negative",
                                  "\(out)/pairs/masks", "\(out)/pairs/lesions.json", "--train_dir \(out)/train"])

        let trainNames = try FileManager.default.contentsOfDirectory(atPath: "\(out)/train").sorted()
        XCTAssertEqual(trainNames, ["case_0001.png", "case_0002.png", "case_0003.png", "case_0004.png"])
        let pairNames = ["case_0001.png", "case_0002.png"]
        for folder in ["positive", "negative", "masks"] {
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(out)/pairs/\(folder)").sorted(), pairNames, folder)
        }
        let paths = trainNames.map { "\(out)/train/\($0)" }
            + ["positive", "negative", "masks"].flatMap { folder in pairNames.map { "\(out)/pairs/\(folder)/\($0)" } }
        for path in paths {
            let image = try loadImage(path: path)
            XCTAssertEqual([image.width, image.height], [64, 64], path)
        }
        let lesions = try JSONDecoder().decode(PhantomLesionsFile.self,
                                               from: Data(contentsOf: URL(fileURLWithPath: "\(out)/pairs/lesions.json")))
        XCTAssertEqual(lesions.pairs.map(\.name), pairNames)
        XCTAssertEqual(lesions.imageSize, 64)
        XCTAssertEqual(lesions.seed, 3)
        for pair in lesions.pairs {
            XCTAssertFalse(try loadImage(path: "\(out)/pairs/positive/\(pair.name)")
                           == loadImage(path: "\(out)/pairs/negative/\(pair.name)"), pair.name)
            XCTAssertGreaterThan(pair.lesion.areaPixels, 0)
        }
    }

    func testKebabSpellingAndNoPairs() throws {
        let out = try temporaryDirectory("synth-data-kebab")
        let r = try VAEDistBinary.run(["synth-data", "--output", out, "--count", "2", "--pairs", "0", "--img-size", "32",
                                       "--lesion-fraction", "1"])
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["2 training images (2 with a lesion)"])
        XCTAssertEqual(try loadImage(path: "\(out)/train/case_0002.png").width, 32)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/pairs"))
    }

    func testBadOptionsNameTheFlagAndExitNonZero() throws {
        let out = try temporaryDirectory("synth-data-bad")
        let cases: [([String], [String])] = [
            (["--count", "0"], ["--count", "at least 1"]),
            (["--img_size", "8"], ["--img_size", "at least 16"]),
            (["--img-size", "5000"], ["--img_size", "at most 4096"]),
            (["--pairs=-1"], ["--pairs", "0 or more"]),
            (["--lesion_fraction", "1.5"], ["--lesion_fraction", "between 0 and 1"]),
            (["--seed", "-3"], ["--seed"]),
        ]
        for (args, parts) in cases {
            let r = try VAEDistBinary.run(["synth-data", "--output", out] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            assertMentions(r.stderr, parts)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/train"), "nothing is written when the options are wrong")
    }

    func testAFolderFromALargerRunIsReportedNotMixedIn() throws {
        let out = try temporaryDirectory("synth-data-rerun")
        XCTAssertEqual(try VAEDistBinary.run(["synth-data", "--output", out, "--count", "3", "--pairs", "1", "--img_size", "16"]).status, 0)
        let smaller = try VAEDistBinary.run(["synth-data", "--output", out, "--count", "2", "--pairs", "1", "--img_size", "16"])
        XCTAssertNotEqual(smaller.status, 0)
        assertMentions(smaller.stderr, ["Error:", "\(out)/train", "case_0003.png"])
    }

    func testAnOutputThatIsAFileIsReportedInWords() throws {
        let file = try temporaryDirectory("synth-data-file") + "/notes.txt"
        try "hello".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try VAEDistBinary.run(["synth-data", "--output", file, "--count", "1", "--img_size", "16"])
        XCTAssertNotEqual(r.status, 0)
        assertMentions(r.stderr, ["Error: cannot create the directory \(file)/train", "Not a directory"])
    }

    func testHelpDocumentsEveryOption() throws {
        let r = try VAEDistBinary.run(["synth-data", "--help"])
        XCTAssertEqual(r.status, 0)
        assertMentions(r.stdout, ["--output", "--count", "--pairs", "--img_size", "--seed", "--lesion_fraction", "lesions.json"])
        let root = try VAEDistBinary.run(["--help"])
        assertMentions(root.stdout, ["synth-data"])
    }
}
