import Foundation
import VAECore
import VAEFormats
import VAETraining
import XCTest

/// `vae-dist train` as users run it: one process, and under mpirun with several ranks.
final class TrainCommandTests: XCTestCase {
    var dir: String!
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")

    override func setUpWithError() throws {
        dir = try temporaryDirectory("train")
        try FileManager.default.createDirectory(atPath: "\(dir!)/images", withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 3)
        for i in 0..<7 {
            // Smooth random blobs: something a VAE can learn in a few steps.
            let (cx, cy) = (Double(rng.next() % 24), Double(rng.next() % 24))
            let pixels = (0..<24 * 24).flatMap { p -> [UInt8] in
                let d = hypot(Double(p % 24) - cx, Double(p / 24) - cy)
                let v = UInt8(max(0, min(255, 255 - d * 12)))
                return [v, v / 2, 255 - v]
            }
            try writePNG(RGB8Image(width: 24, height: 24, pixels: pixels), to: "\(dir!)/images/img\(i).png")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func args(_ output: String, epochs: Int = 2, extra: [String] = []) -> [String] {
        ["train", "--train_dir", "\(dir!)/images", "--config_path", config, "--output_dir", "\(dir!)/\(output)",
         "--batch_size", "3", "--epochs", "\(epochs)", "--lr", "1e-3", "--kl_weight", "0.01", "--img_size", "16",
         "--save_interval", "1", "--num_recon", "4", "--threads", "1"] + extra
    }

    func finalWeights(_ output: String) throws -> [String: [Float]] {
        let file = try SafeTensors.read(path: "\(dir!)/\(output)/vae_final.safetensors")
        return Dictionary(uniqueKeysWithValues: file.names.filter { !$0.hasPrefix("optimizer.") }.map { ($0, file[$0]!.values) })
    }

    func testAnyRankCountGivesTheSameTraining() throws {
        for ranks in [1, 2, 3] {
            let r = try VAEDistBinary.run(args("np\(ranks)"), ranks: ranks)
            XCTAssertEqual(r.status, 0, "np \(ranks):\n\(r.output)")
        }
        let reference = try finalWeights("np1")
        for ranks in [2, 3] {
            let other = try finalWeights("np\(ranks)")
            XCTAssertEqual(Set(other.keys), Set(reference.keys))
            var worst: Float = 0
            for (name, values) in reference {
                for (a, b) in zip(values, other[name]!) { worst = max(worst, abs(a - b)) }
            }
            XCTAssertLessThanOrEqual(worst, 1e-4, "np \(ranks) vs np 1: max weight difference \(worst)")
        }
    }

    /// A run checkpointed with 2 ranks and resumed with 3 ends where a 1-rank run of the same length ends.
    func testResumingWithAnotherRankCountGivesTheSameTraining() throws {
        XCTAssertEqual(try VAEDistBinary.run(args("whole", epochs: 4), ranks: 1).status, 0)
        XCTAssertEqual(try VAEDistBinary.run(args("moved", epochs: 2), ranks: 2).status, 0)
        let resumed = try VAEDistBinary.run(args("moved", epochs: 4, extra: ["--resume", "\(dir!)/moved/checkpoints/vae_epoch_2.safetensors"]), ranks: 3)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        // Rank 0 read the checkpoint; the others got its bytes (other hosts need not see --output_dir).
        assertMentions(resumed.output, ["checkpoint \(dir!)/moved/checkpoints/vae_epoch_2.safetensors: ", "bytes read on rank 0, sent to 2 ranks (XXH64 "])
        let (a, b) = (try finalWeights("whole"), try finalWeights("moved"))
        var worst: Float = 0
        for (name, values) in a { for (x, y) in zip(values, b[name]!) { worst = max(worst, abs(x - y)) } }
        XCTAssertLessThanOrEqual(worst, 1e-4, "max weight difference \(worst)")
        XCTAssertEqual(try TrainingReport.readHistory(path: "\(dir!)/moved/training_history.json").map(\.epoch), [1, 2, 3, 4])
    }

    func testOutputsAreCompleteAndParse() throws {
        let r = try VAEDistBinary.run(args("out"), ranks: 2)
        XCTAssertEqual(r.status, 0, r.output)
        let out = "\(dir!)/out"
        let history = try TrainingReport.readHistory(path: "\(out)/training_history.json")
        XCTAssertEqual(history.map(\.epoch), [1, 2])
        XCTAssertTrue(history.allSatisfy { $0.commShare >= 0 && $0.commShare < 1 && $0.imagesPerSecond > 0 })
        for epoch in [1, 2] {
            let contents = try TrainingCheckpoint.read(path: "\(out)/checkpoints/vae_epoch_\(epoch).safetensors")
            XCTAssertEqual(contents.position.epoch, epoch)
            let grid = try loadImage(path: "\(out)/reconstructions/recon_epoch_\(epoch).png")
            XCTAssertGreaterThan(grid.width, 4 * 128, "4 images of 16 px, enlarged 8 times")
            XCTAssertGreaterThan(grid.height, 2 * 128)
        }
        let curves = try loadImage(path: "\(out)/training_curves.png")
        XCTAssertGreaterThan(curves.width, 200)
        XCTAssertEqual(try TrainingCheckpoint.read(path: "\(out)/vae_final.safetensors").position.epoch, 2)
        assertMentions(r.output, ["epoch 1/2", "epoch 2/2", "img/s", "vae_final.safetensors"])
    }

    /// SIGUSR1 to mpirun reaches every rank: they agree on a step, checkpoint there and exit 0; resuming gives
    /// bitwise the weights of an uninterrupted run (same ranks and threads).
    func testUSR1ToMpirunCheckpointsAndResumesBitwise() throws {
        try interruptAndResume(signal: SIGUSR1, ranks: 2, output: "usr1")
    }

    func testTERMToASingleProcessCheckpointsAndResumesBitwise() throws {
        try interruptAndResume(signal: SIGTERM, ranks: nil, output: "term")
    }

    func interruptAndResume(signal: Int32, ranks: Int?, output: String) throws {
        let epochs = 40
        let straight = try VAEDistBinary.run(args("\(output)-straight", epochs: epochs), ranks: ranks)
        XCTAssertEqual(straight.status, 0, straight.output)
        let cut = "\(output)-cut"
        let process = try VAEDistBinary.start(args(cut, epochs: epochs), ranks: ranks)
        // Signal once training is under way (the first epoch checkpoint exists).
        let first = "\(dir!)/\(cut)/checkpoints/vae_epoch_1.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: first) && process.isRunning && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(process.isRunning, "training ended before it could be interrupted")
        kill(process.processIdentifier, signal)
        let result = process.finish()
        XCTAssertEqual(result.status, 0, result.output)
        assertMentions(result.output, ["stopped", "--resume"])
        let interrupted = try XCTUnwrap(TrainingCheckpoint.newest(in: "\(dir!)/\(cut)"))
        let position = try TrainingCheckpoint.read(path: interrupted).position
        XCTAssertLessThan(position.epoch, epochs, "stopped before the end")
        let resumed = try VAEDistBinary.run(args(cut, epochs: epochs, extra: ["--resume", "auto"]), ranks: ranks)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertEqual(try finalWeights(cut), try finalWeights("\(output)-straight"))
    }

    func testBadInputsGetClearMessages() throws {
        func failure(_ a: [String]) throws -> String {
            let r = try VAEDistBinary.run(a)
            XCTAssertNotEqual(r.status, 0, a.joined(separator: " "))
            return r.stderr
        }
        var a = args("bad")
        assertMentions(try failure(a + ["--device", "cuda:0"]), ["--device cuda:0", "CPUs", "mpirun"])
        assertMentions(try failure(a + ["--img_size", "17"]), ["--img_size 17", "divisible by 2"])
        assertMentions(try failure(a + ["--batch_size", "0"]), ["--batch_size"])
        assertMentions(try failure(a + ["--adam_betas", "0.9"]), ["--adam_betas"])
        assertMentions(try failure(a + ["--kl_reduction", "median"]), ["median"])
        assertMentions(try failure(a + ["--resume", "\(dir!)/nothing.safetensors"]), ["nothing.safetensors"])
        a[2] = "\(dir!)/missing"
        assertMentions(try failure(a), ["--train_dir", "missing", "no such directory"])
        try FileManager.default.createDirectory(atPath: "\(dir!)/empty", withIntermediateDirectories: true)
        a[2] = "\(dir!)/empty"
        assertMentions(try failure(a), ["no images"])
        try "junk".write(toFile: "\(dir!)/images/junk.jpeg", atomically: true, encoding: .utf8)
        a[2] = "\(dir!)/images"
        assertMentions(try failure(a), ["junk.jpeg", "--skip_bad_images"])
        let skipped = try VAEDistBinary.run(args("skip", epochs: 1, extra: ["--skip_bad_images"]))
        XCTAssertEqual(skipped.status, 0, skipped.output)
        assertMentions(skipped.output, ["junk.jpeg"])
    }
}
