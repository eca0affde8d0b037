import Foundation
import VAECore
import VAEFormats
import VAETraining
import XCTest

/// The run-safety promises as users meet them: one run per output directory, resume rules, odd input files,
/// outputs only inside the output folder and only when the command succeeds.
final class RunSafetyCommandTests: XCTestCase {
    var dir: String!
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
    let weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")

    override func setUpWithError() throws {
        dir = try temporaryDirectory("run-safety")
        var rng = SplitMix64(seed: 8)
        for i in 0..<5 {
            let pixels = (0..<16 * 16 * 3).map { _ in UInt8(rng.next() % 256) }
            try writePNG(RGB8Image(width: 16, height: 16, pixels: pixels), to: "\(dir!)/images/img\(i).png")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func train(_ output: String = "out", epochs: Int = 1, imgSize: Int = 16, trainDir: String? = nil, extra: [String] = []) -> [String] {
        ["train", "--train_dir", trainDir ?? "\(dir!)/images", "--config_path", config, "--output_dir", "\(dir!)/\(output)",
         "--batch_size", "2", "--epochs", "\(epochs)", "--img_size", "\(imgSize)", "--save_interval", "1", "--num_recon", "2",
         "--threads", "1"] + extra
    }

    func testASecondTrainIntoTheSameDirectoryRefusesWhileTheFirstRuns() throws {
        let first = try VAEDistBinary.start(train(epochs: 10_000))
        let checkpoint = "\(dir!)/out/checkpoints/vae_epoch_1.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && first.isRunning && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(first.isRunning, "the first run ended too early")
        // Under mpirun: every rank fails with rank 0's message, none hangs.
        let second = try VAEDistBinary.run(train(epochs: 10_000), ranks: 2)
        XCTAssertNotEqual(second.status, 0)
        assertMentions(second.output, ["another vae-dist train (pid \(first.processIdentifier)", "\(dir!)/out", "--output_dir"])
        XCTAssertTrue(first.isRunning)
        kill(first.processIdentifier, SIGTERM)
        let stopped = first.finish()
        XCTAssertEqual(stopped.status, 0, stopped.output)
        // The first run's checkpoints are all its own.
        let runs = Set(TrainingCheckpoint.candidates(in: "\(dir!)/out").found.map(\.runID))
        XCTAssertEqual(runs.count, 1, "\(runs)")
    }

    func testAFreshRunIntoAnotherRunsDirectoryRefusesAndOverwriteStartsANewRun() throws {
        XCTAssertEqual(try VAEDistBinary.run(train()).status, 0)
        let before = try TrainingCheckpoint.read(path: "\(dir!)/out/vae_final.safetensors").runID
        let refused = try VAEDistBinary.run(train())
        XCTAssertNotEqual(refused.status, 0)
        assertMentions(refused.stderr, ["\(dir!)/out", "earlier run", "--resume auto", "--overwrite"])
        XCTAssertFalse(refused.stderr.contains("images from"), "refused before the images are decoded:\n\(refused.output)")
        let overwritten = try VAEDistBinary.run(train(extra: ["--overwrite"]))
        XCTAssertEqual(overwritten.status, 0, overwritten.output)
        assertMentions(overwritten.output, ["--overwrite: removed"])
        XCTAssertNotEqual(try TrainingCheckpoint.read(path: "\(dir!)/out/vae_final.safetensors").runID, before)
        let both = try VAEDistBinary.run(train(extra: ["--overwrite", "--resume", "auto"]))
        XCTAssertNotEqual(both.status, 0)
        assertMentions(both.stderr, ["--overwrite", "--resume"])
    }

    /// The lock goes with a run that ends (its id stays in .vae-dist-run); a failed start removes the folder it made,
    /// but never a folder that was there before.
    func testTheLockFileGoesAtTheEndAndAFailedStartLeavesNoFolder() throws {
        XCTAssertEqual(try VAEDistBinary.run(train()).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/.vae-dist.lock"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/out/.vae-dist-run"))
        let refused = try VAEDistBinary.run(train())   // an earlier run's directory: refused, left as it was
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/.vae-dist.lock"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/out/vae_final.safetensors"))

        try FileManager.default.createDirectory(atPath: "\(dir!)/broken", withIntermediateDirectories: true)
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: "\(dir!)/broken/bad.png"))
        for ranks in [nil, 2] {
            let failed = try VAEDistBinary.run(train("new/run", trainDir: "\(dir!)/broken"), ranks: ranks)
            XCTAssertNotEqual(failed.status, 0)
            assertMentions(failed.output, ["bad.png", "removed \(dir!)/new, which this failed start had created"])
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/new"), "ranks \(ranks ?? 1)")
        }
        let missing = try VAEDistBinary.run(train("resumed", extra: ["--resume", "\(dir!)/nowhere.safetensors"]))
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/resumed"), missing.output)
        // A folder that existed stays, with whatever was in it; only the lock file goes.
        try FileManager.default.createDirectory(atPath: "\(dir!)/kept", withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: "\(dir!)/kept/notes.txt"))
        XCTAssertNotEqual(try VAEDistBinary.run(train("kept", trainDir: "\(dir!)/broken")).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir!)/kept").sorted(), [".vae-dist-run", "notes.txt"])
    }

    /// `--resume` with the original tool's vae_epoch_N.pt continues its run (OriginalRunTests has the details;
    /// scripts/check-seed-checkpoints.sh does it with a file torch.save wrote).
    func testResumeWithTheOriginalToolsCheckpointContinuesItsRun() throws {
        let model = AutoencoderKL(try VAEConfig.load(path: config))
        try model.loadWeights(path: weights)
        let parameters = model.namedParameters
        let optimizer = Optimizer(parameters: parameters.map(\.parameter), lr: 1e-4)
        for (_, p) in parameters { for i in 0..<p.grad.count { p.grad[i] = Float(i % 7) * 1e-3 } }
        optimizer.update()
        let original = "\(dir!)/vae_output/checkpoints/vae_epoch_3.pt"
        try TorchTrainingCheckpoint.write(epoch: 3, weights: parameters.map { ($0.name, TorchSaveTensor($0.parameter.value)) },
                                          optimizer: TrainingCheckpoint.torchState(of: optimizer, parameterCount: parameters.count),
                                          loss: 0.3, to: original)
        let inPlace = try VAEDistBinary.run(train("vae_output", epochs: 4, extra: ["--resume", original]))
        XCTAssertNotEqual(inPlace.status, 0)
        assertMentions(inPlace.stderr, ["holds a run's outputs", "give another --output_dir"])
        let r = try VAEDistBinary.run(train("continued", epochs: 4, extra: ["--resume", original, "--lr", "1e-4"]))
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.output, ["config \(config) for \(original)", "continuing a run of the original PyTorch tool from \(original)",
                                  "Adam at step 1", "training goes on at epoch 4 of 4", "the data order starts fresh", "epoch 4/4"])
        let final = try TrainingCheckpoint.read(path: "\(dir!)/continued/vae_final.safetensors")
        XCTAssertEqual(final.position.continuedFrom?.epoch, 3)
        XCTAssertEqual(final.position.history.map(\.epoch), [4])
    }

    func testResumeWithAChangedImageSizeRefusesWithBothValues() throws {
        XCTAssertEqual(try VAEDistBinary.run(train()).status, 0)
        let r = try VAEDistBinary.run(train(epochs: 2, imgSize: 32, extra: ["--resume", "auto"]))
        XCTAssertNotEqual(r.status, 0)
        assertMentions(r.stderr, ["cannot resume from \(dir!)/out/", "--img_size: checkpoint 16, now 32"])
        let lr = try VAEDistBinary.run(train(epochs: 2, extra: ["--resume", "auto", "--lr", "5e-5"]))
        XCTAssertEqual(lr.status, 0, lr.output)
        assertMentions(lr.output, ["resuming from \(dir!)/out/", "--lr: checkpoint 0.0001, now 5e-05", "--epochs: checkpoint 1, now 2"])
    }

    func testResumeAutoSkipsACorruptNewestCheckpoint() throws {
        XCTAssertEqual(try VAEDistBinary.run(train(epochs: 2)).status, 0)
        for name in ["vae_final.safetensors", "checkpoints/vae_epoch_2.safetensors"] {
            XCTAssertEqual(truncate("\(dir!)/out/\(name)", 4000), 0)
        }
        let r = try VAEDistBinary.run(train(epochs: 3, extra: ["--resume", "auto"]))
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.output, ["skipping", "vae_epoch_2.safetensors", "resuming from \(dir!)/out/checkpoints/vae_epoch_1.safetensors"])
        XCTAssertEqual(try TrainingReport.readHistory(path: "\(dir!)/out/training_history.json").map(\.epoch), [1, 2, 3])
    }

    /// A huge --img_size on a few tiny images is refused from the config and the file list alone (issue #21: train
    /// decoded and cached every image at 16384² first, RSS 5.8 GB and growing): every command ends by itself with
    /// status 1 and the figures, before any image or weight is read.
    func testAHugeImageSizeIsRefusedBeforeAnyImageIsDecoded() throws {
        for side in ["positive", "negative"] {
            try FileManager.default.createDirectory(atPath: "\(dir!)/pairs/\(side)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(dir!)/images/img0.png", toPath: "\(dir!)/pairs/\(side)/case.png")
        }
        let huge = ["--img_size", "16384", "--threads", "1"]
        let model = ["--config", config, "--checkpoint", weights]
        let images = (0..<3).map { "\(dir!)/images/img\($0).png" }
        let runs: [(String, [String], [String])] = [
            ("train", train(imgSize: 16384), ["img_size 16384, 2 images per process: training needs about"]),
            ("reconstruct", ["reconstruct"] + model + huge + ["--output", "\(dir!)/recon"] + images,
             ["img_size 16384, one image per process: encoding and decoding needs about", "decoded images 2.4 GB"]),
            ("analyze", ["analyze", "--img1", images[0], "--img2", images[1], "--output", "\(dir!)/analysis"] + model + huge,
             ["img_size 16384, 2 images per process: encoding and decoding needs about", "decoded images 1.6 GB"]),
            ("analyze-folder", ["analyze-folder", "--folder", "\(dir!)/pairs", "--output", "\(dir!)/analysis"] + model + huge,
             ["img_size 16384, 2 images per process: encoding and decoding needs about"]),
            ("bench", ["bench", "--config", config, "--batch_size", "2", "--steps", "1"] + huge,
             ["img_size 16384, 2 images per process: training needs about", "decoded images 1.6 GB"]),
        ]
        for (name, args, parts) in runs {
            let r = try VAEDistBinary.run(args)
            XCTAssertEqual(r.status, 1, "\(name) should end by itself with status 1:\n\(r.output)")
            assertMentions(r.stderr, parts + ["available", "smaller --img_size"])
            for sign in ["images from", "loaded ", "done ("] {
                XCTAssertFalse(r.output.contains(sign), "\(name) refused only after reading images or weights:\n\(r.output)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/recon"))
    }

    func testAFIFOAndADevSymlinkAmongTheImagesAreRefusedQuickly() throws {
        XCTAssertEqual(mkfifo("\(dir!)/images/pipe.png", 0o644), 0)
        try FileManager.default.createSymbolicLink(atPath: "\(dir!)/images/zero.png", withDestinationPath: "/dev/zero")
        let started = Date()
        let r = try VAEDistBinary.run(train())
        XCTAssertNotEqual(r.status, 0)
        assertMentions(r.stderr, ["pipe.png", "FIFO", "zero.png", "character device", "--skip_bad_images"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
    }

    func testAnOutputDirectoryThatIsAFileIsReportedInWordsBeforeDecoding() throws {
        try "x".write(toFile: "\(dir!)/taken", atomically: true, encoding: .utf8)
        let r = try VAEDistBinary.run(train("taken"))
        XCTAssertNotEqual(r.status, 0)
        assertMentions(r.stderr, ["cannot create output directory \(dir!)/taken: a file of that name exists"])
        XCTAssertFalse(r.output.contains("NSCocoaErrorDomain") || r.output.contains("images from"), r.output)
    }

    func testAPairNamedDotDotPNGWritesNothingOutsideItsFolder() throws {
        for side in ["positive", "negative"] {
            try FileManager.default.createDirectory(atPath: "\(dir!)/pairs/\(side)", withIntermediateDirectories: true)
            for name in ["...png", "case.png"] {
                try FileManager.default.copyItem(atPath: "\(dir!)/images/img\(side == "positive" ? 0 : 1).png", toPath: "\(dir!)/pairs/\(side)/\(name)")
            }
        }
        let out = "\(dir!)/analysis"
        let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/pairs", "--output", out, "--config", config,
                                       "--checkpoint", weights, "--img_size", "16"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out), ["batch"])
        let batch = try FileManager.default.contentsOfDirectory(atPath: "\(out)/batch")
        XCTAssertTrue(batch.contains("...png") && batch.contains("case"), "\(batch)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/batch/...png/layer_differences.json"))
    }

    func testReconstructWithABadImageWritesNothing() throws {
        try "junk".write(toFile: "\(dir!)/images/junk.png", atomically: true, encoding: .utf8)
        let out = "\(dir!)/recon"
        let r = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--img_size", "16",
                                       "--output", out, "\(dir!)/images/img0.png", "\(dir!)/images/junk.png"])
        XCTAssertNotEqual(r.status, 0)
        assertMentions(r.stderr, ["junk.png", "nothing was written"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
