import Foundation
import VAEFormats
import XCTest

/// Where the commands' words go (issue #24 item 8, issue #23 item 5): logs and progress on stderr, results on
/// stdout, the folder's progress over every rank as lines when not on a terminal, and `--quiet`.
final class ConsoleCommandTests: XCTestCase {
    var dir: String!
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
    let weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")
    var modelArgs: [String] { ["--config", config, "--checkpoint", weights, "--img_size", "32"] }

    override func setUpWithError() throws {
        dir = try temporaryDirectory("console")
        for index in 0..<4 {
            let image = RGB8Image(width: 32, height: 32, pixels: (0..<3 * 32 * 32).map { UInt8(truncatingIfNeeded: $0 * (index + 3) / 7) })
            var other = image
            for p in 0..<3 * 8 * 32 { other.pixels[p] = 10 }
            try writePNG(image, to: "\(dir!)/pairs/positive/case_\(index).png")
            try writePNG(other, to: "\(dir!)/pairs/negative/case_\(index).png")
            try writePNG(image, to: "\(dir!)/train/img\(index).png")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Not on a terminal (a pipe here): the first and last progress lines at least, counting every rank's pairs, on
    /// stderr; the tables and the summary on stdout, with no log line among them.
    func testFolderProgressCountsEveryRanksPairsOnStderrAndTablesGoToStdout() throws {
        let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/pairs", "--output", "\(dir!)/out", "--bootstrap", "20"] + modelArgs,
                                      ranks: 2)
        XCTAssertEqual(r.status, 0, r.output)
        let progress = r.stderr.split(separator: "\n").filter { $0.contains(" done on 2 rank(s)") }
        XCTAssertEqual(progress.count, 2, "a line after the first round, one at the end:\n\(r.stderr)")
        XCTAssertTrue(progress[0].contains("pairs 2/4 done on 2 rank(s), ") && progress[0].contains(" elapsed, ETA "), r.stderr)
        XCTAssertTrue(progress[1].contains("pairs 4/4 done on 2 rank(s), ") && progress[1].hasSuffix("ETA 0s"), r.stderr)
        XCTAssertFalse(r.output.contains("on rank 0)"), "no progress of one rank alone:\n\(r.output)")
        assertMentions(r.stdout, ["(l2_value)", "analysed 4 pair(s) on 2 rank(s); results in \(dir!)/out/batch"])
        for logged in ["info", "pairs 2/4", "loaded"] { XCTAssertFalse(r.stdout.contains(logged), "\(logged) in stdout:\n\(r.stdout)") }
        assertMentions(r.stderr, ["loaded \(weights)", "4 pair(s) in \(dir!)/pairs"])
    }

    func testQuietLeavesOnlyWarningsErrorsAndResults() throws {
        let analysis = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/pairs", "--output", "\(dir!)/out", "--bootstrap", "20",
                                              "--quiet"] + modelArgs)
        XCTAssertEqual(analysis.status, 0, analysis.output)
        XCTAssertEqual(analysis.stderr, "", "no progress or info lines")
        assertMentions(analysis.stdout, ["(l2_value)", "analysed 4 pair(s) on 1 rank(s)"])

        let random = try VAEDistBinary.run(["analyze", "--img1", "\(dir!)/pairs/positive/case_0.png", "--img2", "\(dir!)/pairs/negative/case_0.png",
                                            "--allow_random_weights", "--config", config, "--img_size", "32", "--output", "\(dir!)/one", "--quiet"])
        XCTAssertEqual(random.status, 0, random.output)
        assertMentions(random.stderr, ["warning: random weights"])
        XCTAssertEqual(random.stderr.split(separator: "\n").count, 1, random.stderr)
        assertMentions(random.stdout, ["TOP 5 layers", "results in \(dir!)/one/single"])

        let train = try VAEDistBinary.run(["train", "--train_dir", "\(dir!)/train", "--config_path", config, "--output_dir", "\(dir!)/run",
                                           "--epochs", "1", "--batch_size", "2", "--img_size", "16", "--num_recon", "1", "--threads", "1",
                                           "--log_every", "1", "--quiet"])
        XCTAssertEqual(train.status, 0, train.output)
        XCTAssertEqual(train.stderr, "", "no step, epoch or info lines")
        XCTAssertEqual(train.stdout, "done: outputs in \(dir!)/run (final weights \(dir!)/run/vae_final.safetensors)\n")
        let loud = try VAEDistBinary.run(["train", "--train_dir", "\(dir!)/train", "--config_path", config, "--output_dir", "\(dir!)/run2",
                                          "--epochs", "1", "--batch_size", "2", "--img_size", "16", "--num_recon", "1", "--threads", "1",
                                          "--log_every", "1"])
        assertMentions(loud.stderr, ["model: ", "epoch 1/1  step 1/2", "ETA"])

        let recon = try VAEDistBinary.run(["reconstruct", "--checkpoint", "\(dir!)/run/vae_final.safetensors", "--output", "\(dir!)/recon",
                                           "--quiet", "\(dir!)/train/img0.png"])
        XCTAssertEqual(recon.status, 0, recon.output)
        XCTAssertEqual(recon.stderr, "")
        XCTAssertEqual(recon.stdout, "wrote 3 files to \(dir!)/recon\n")
    }
}
