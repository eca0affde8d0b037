import Foundation
import VAECore
import VAEFormats
import VAEJobs
import VAETraining
import XCTest

/// In-process training runs of the tiny model (one replica): resume, interruption, checkpoints, failures.
final class TrainerTests: TemporaryDirectoryTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeNoiseImages(count: 7, side: 24, seed: 11, into: "\(dir!)/images")
    }

    func options(_ output: String, epochs: Int) -> TrainingOptions {
        var o = TrainingOptions(trainDir: "\(dir!)/images")
        o.outputDir = "\(dir!)/\(output)"
        o.batchSize = 3   // 7 images: batches of 3, 3 and a partial 1
        o.epochs = epochs
        o.lr = 1e-3
        o.klWeight = 0.01
        o.imgSize = 16
        o.saveInterval = 2
        o.numRecon = 4
        o.seed = 5
        return o
    }

    func train(_ o: TrainingOptions, resume: String? = nil, stopAfterSteps: Int? = nil) throws -> (TrainingOutcome, AutoencoderKL) {
        let replicas = SingleReplica()
        let data = try TrainingData.prepare(o, replicas: replicas, log: { _ in })
        let model = AutoencoderKL(config)
        model.initialize(seed: o.seed)
        let resumed = try resume.map { (try TrainingCheckpoint.read(path: $0), path: $0) }
        var steps = 0
        let trainer = try Trainer(model: model, options: o, data: data, replicas: replicas, resumeFrom: resumed,
                                  stopRequested: {
                                      defer { steps += 1 }
                                      return stopAfterSteps.map { steps >= $0 } ?? false
                                  })
        return (try trainer.run(), model)
    }

    func weights(_ model: AutoencoderKL) -> [[Float]] { model.namedParameters.map { $0.parameter.value.array } }

    func testResumeFromAnEpochCheckpointIsBitwiseIdentical() throws {
        let (_, straight) = try train(options("straight", epochs: 4))
        _ = try train(options("split", epochs: 2))
        let (outcome, resumed) = try train(options("split", epochs: 4), resume: "\(dir!)/split/checkpoints/vae_epoch_2.safetensors")
        XCTAssertEqual(outcome, .completed(finalWeights: "\(dir!)/split/vae_final.safetensors"))
        XCTAssertEqual(weights(straight), weights(resumed))
        let history = try TrainingReport.readHistory(path: "\(dir!)/split/training_history.json")
        XCTAssertEqual(history.map(\.epoch), [1, 2, 3, 4])
        let straightHistory = try TrainingReport.readHistory(path: "\(dir!)/straight/training_history.json")
        XCTAssertEqual(history.map(\.totalLoss), straightHistory.map(\.totalLoss))
    }

    func testInterruptedMidEpochResumesToTheSameWeights() throws {
        let (_, straight) = try train(options("straight", epochs: 3))
        // 3 steps per epoch: stopping before the 5th step leaves epoch 1 (0-based) one step in.
        let (outcome, _) = try train(options("cut", epochs: 3), stopAfterSteps: 4)
        let checkpoint = "\(dir!)/cut/checkpoints/vae_epoch_1_step_1.safetensors"
        XCTAssertEqual(outcome, .interrupted(checkpoint: checkpoint))
        XCTAssertEqual(TrainingCheckpoint.newest(in: "\(dir!)/cut"), checkpoint)
        let (_, resumed) = try train(options("cut", epochs: 3), resume: TrainingCheckpoint.newest(in: "\(dir!)/cut"))
        XCTAssertEqual(weights(straight), weights(resumed))
    }

    func testOutputsAndCheckpointContents() throws {
        let o = options("out", epochs: 2)
        let (_, model) = try train(o)
        let out = o.outputDir
        for file in ["training_history.json", "training_curves.png", "vae_final.safetensors",
                     "checkpoints/vae_epoch_2.safetensors", "reconstructions/recon_epoch_2.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), file)
        }
        // 4 images of 16 px, enlarged 8 times, above their reconstructions, under a title; and the PDF.
        let grid = try loadImage(path: "\(out)/reconstructions/recon_epoch_2.png")
        XCTAssertGreaterThan(grid.width, 4 * 128)
        XCTAssertGreaterThan(grid.height, 2 * 128)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/reconstructions/recon_epoch_2.pdf"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/training_curves.pdf"))
        let history = try TrainingReport.readHistory(path: "\(out)/training_history.json")
        XCTAssertEqual(history.count, 2)
        for record in history {
            XCTAssertEqual(record.reconLoss + o.klWeight * record.klLoss, record.totalLoss, accuracy: 1e-9)
            XCTAssertGreaterThan(record.imagesPerSecond, 0)
            XCTAssertEqual(record.lr, o.lr)
        }
        let contents = try TrainingCheckpoint.read(path: "\(out)/vae_final.safetensors")
        XCTAssertEqual(contents.config, config)
        // The options as given, plus the fingerprint of the images trained on and the arithmetic.
        var stored = contents.options
        XCTAssertEqual(stored.dataset, ImageFolder.fingerprint(try ImageFolder.list(o.trainDir, option: "--train_dir")))
        XCTAssertEqual(stored.convolution, ConvolutionArithmetic.exact.description)
        (stored.dataset, stored.convolution) = (nil, nil)
        XCTAssertEqual(stored, o)
        XCTAssertEqual(contents.position.epoch, 2)
        XCTAssertEqual(contents.position.adamStep, 6)
        XCTAssertEqual(contents.position.history, history)
        // The weights load as plain weights (the optimizer tensors are ignored), ldm names included.
        let reloaded = AutoencoderKL(config)
        XCTAssertEqual(try reloaded.loadWeights(path: "\(out)/vae_final.safetensors"), .ldm)
        XCTAssertEqual(weights(reloaded), weights(model))
        XCTAssertNotNil(contents.file["optimizer.exp_avg_sq.decoder.conv_out.weight"])
    }

    func testTrainingReducesTheLoss() throws {
        var o = options("learn", epochs: 12)
        o.saveInterval = 100
        _ = try train(o)
        let history = try TrainingReport.readHistory(path: "\(o.outputDir)/training_history.json")
        XCTAssertLessThan(history.last!.reconLoss, 0.8 * history.first!.reconLoss)
    }

    func testNonFiniteLossStopsWithEpochAndStepAndKeepsTheCheckpoint() throws {
        let o = options("nan", epochs: 3)
        _ = try train(options("nan", epochs: 2))
        let keep = try Data(contentsOf: URL(fileURLWithPath: "\(o.outputDir)/checkpoints/vae_epoch_2.safetensors"))
        let model = AutoencoderKL(config)
        let resumed = (try TrainingCheckpoint.read(path: "\(o.outputDir)/checkpoints/vae_epoch_2.safetensors"), path: "\(o.outputDir)/checkpoints/vae_epoch_2.safetensors")
        let trainer = try Trainer(model: model, options: o, data: TrainingSets(train: PoisonedImages()), replicas: SingleReplica(), resumeFrom: resumed)
        XCTAssertThrowsError(try trainer.run()) { error in
            let message = "\(error)"
            for part in ["non-finite", "epoch 3, step 1", "vae_epoch_2.safetensors is intact"] {
                XCTAssertTrue(message.contains(part), "'\(message)' should mention \(part)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(o.outputDir)/checkpoints/vae_epoch_2.safetensors")), keep)
    }

    func testBadTrainingFoldersAreReportedBeforeAnyWork() throws {
        func failure(_ o: TrainingOptions) -> String {
            do {
                _ = try TrainingData.prepare(o, replicas: SingleReplica(), log: { _ in })
                return ""
            } catch { return "\(error)" }
        }
        var o = options("x", epochs: 1)
        o.trainDir = "\(dir!)/missing"
        XCTAssertTrue(failure(o).contains("--train_dir \(dir!)/missing: no such directory"), failure(o))
        try FileManager.default.createDirectory(atPath: "\(dir!)/empty", withIntermediateDirectories: true)
        try "x".write(toFile: "\(dir!)/empty/readme.txt", atomically: true, encoding: .utf8)
        o.trainDir = "\(dir!)/empty"
        XCTAssertTrue(failure(o).contains("no images"), failure(o))
        try "not a png".write(toFile: "\(dir!)/images/broken.PNG", atomically: true, encoding: .utf8)
        try Data([0xFF, 0xD8, 0xFF]).write(to: URL(fileURLWithPath: "\(dir!)/images/cut.jpg"))
        o.trainDir = "\(dir!)/images"
        let message = failure(o)
        for part in ["2 of 9 images", "broken.PNG", "cut.jpg", "--skip_bad_images"] {
            XCTAssertTrue(message.contains(part), "'\(message)' should mention \(part)")
        }
        o.skipBadImages = true
        XCTAssertEqual(try TrainingData.prepare(o, replicas: SingleReplica(), log: { _ in }).train.count, 7)
        o.cacheImages = false
        XCTAssertTrue(try TrainingData.prepare(o, replicas: SingleReplica(), log: { _ in }).train is StreamingImages)
    }

    func testStreamingImagesGiveTheSameRunAsTheCache() throws {
        let (_, cached) = try train(options("cached", epochs: 2))
        var o = options("streamed", epochs: 2)
        o.cacheImages = false
        let (_, streamed) = try train(o)
        XCTAssertEqual(weights(cached), weights(streamed))
    }
}

/// Images whose pixels are NaN: the loss cannot be finite.
private final class PoisonedImages: ImageSource {
    var count: Int { 7 }
    var size: Int { 16 }
    func batch(_ indices: [Int], upcoming: [Int]) throws -> Tensor {
        let t = Tensor(shape: [indices.count, 3, 16, 16])
        t.fill(.nan)
        return t
    }
}
