import Foundation
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
@testable import VAETraining
import XCTest

/// The training options of a research workflow, run in process on the tiny model: accumulation, clipping,
/// averaging, validation, step metrics, data selection, augmentation, and bitwise resume with all of them on.
final class TrainingFeatureTests: TemporaryDirectoryTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeNoiseImages(count: 8, side: 24, seed: 21, into: "\(dir!)/images")
    }

    func options(_ output: String, epochs: Int = 2) -> TrainingOptions {
        var o = TrainingOptions(trainDir: "\(dir!)/images")
        o.outputDir = "\(dir!)/\(output)"
        (o.batchSize, o.epochs, o.lr, o.klWeight, o.imgSize) = (4, epochs, 1e-3, 0.01, 16)
        (o.saveInterval, o.numRecon, o.seed) = (1, 2, 9)
        return o
    }

    /// Every option of the issue at once.
    func everything(_ output: String, epochs: Int) -> TrainingOptions {
        var o = options(output, epochs: epochs)
        o.batchSize = 2
        o.gradAccum = 2
        o.optimizer = OptimizerSettings.defaults(for: .adamw)
        o.schedule.shape = .cosine
        o.schedule.warmupSteps = 2
        o.schedule.minLR = 1e-5
        o.gradClip = 0.5
        o.emaDecay = 0.9
        o.augment = .hflip
        o.validation.fraction = 0.25
        o.validation.keepBest = true
        o.logEvery = 1
        return o
    }

    @discardableResult
    func train(_ o: TrainingOptions, resume: String? = nil, log: @escaping (String) -> Void = { _ in }) throws -> AutoencoderKL {
        let replicas = SingleReplica()
        let data = try TrainingData.prepare(o, replicas: replicas, log: log)
        let model = AutoencoderKL(config)
        model.initialize(seed: o.seed)
        let resumed = try resume.map { (try TrainingCheckpoint.read(path: $0), path: $0) }
        let trainer = try Trainer(model: model, options: o, data: data, replicas: replicas, resumeFrom: resumed, log: log)
        _ = try trainer.run()
        return model
    }

    func weights(_ model: AutoencoderKL) -> [[Float]] { model.namedParameters.map { $0.parameter.value.array } }

    func testGradientAccumulationEqualsTheLargerBatch() throws {
        var large = options("large")
        large.batchSize = 4
        var accumulated = options("accumulated")
        (accumulated.batchSize, accumulated.gradAccum) = (2, 2)
        let a = try train(large), b = try train(accumulated)
        let ha = try TrainingReport.readHistory(path: "\(large.outputDir)/training_history.json")
        let hb = try TrainingReport.readHistory(path: "\(accumulated.outputDir)/training_history.json")
        for (x, y) in zip(ha, hb) {
            XCTAssertEqual(x.totalLoss, y.totalLoss, accuracy: 1e-5 * abs(x.totalLoss))
            XCTAssertEqual(x.reconLoss, y.reconLoss, accuracy: 1e-5 * abs(x.reconLoss))
        }
        var worst: Float = 0
        for (u, v) in zip(weights(a), weights(b)) { for (p, q) in zip(u, v) { worst = max(worst, abs(p - q)) } }
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertEqual(StepLog.records(at: "\(accumulated.outputDir)/metrics.jsonl").count, 4, "2 epochs × 2 steps of 4 images")
    }

    func testResumeIsBitwiseWithEveryOptionOn() throws {
        let straight = try train(everything("straight", epochs: 3))
        try train(everything("split", epochs: 1))
        let resumed = try train(everything("split", epochs: 3), resume: "\(dir!)/split/checkpoints/vae_epoch_1.safetensors")
        XCTAssertEqual(weights(straight), weights(resumed))
        func averaged(_ run: String) throws -> [String: [Float]] {
            try SafeTensors.read(path: "\(dir!)/\(run)/vae_final_ema.safetensors").tensors.mapValues(\.values)
        }
        XCTAssertEqual(try averaged("straight"), try averaged("split"))
        XCTAssertEqual(try CheckpointMetadata.storedConfig(path: "\(dir!)/split/vae_final_ema.safetensors"), config)
        // metrics.jsonl: one record per optimizer step, the resumed run continuing the first one's records.
        let records = StepLog.records(at: "\(dir!)/split/metrics.jsonl")
        XCTAssertEqual(records.map(\.globalStep), Array(1...records.count))
        XCTAssertEqual(records.map(\.globalStep), StepLog.records(at: "\(dir!)/straight/metrics.jsonl").map(\.globalStep))
        XCTAssertEqual(records.map(\.lr), StepLog.records(at: "\(dir!)/straight/metrics.jsonl").map(\.lr))
    }

    func testValidationSplitMetricsAndBestCheckpoint() throws {
        var lines: [String] = []
        let o = everything("val", epochs: 2)
        try train(o, log: { lines.append($0) })
        let held = try String(contentsOfFile: "\(o.outputDir)/validation_images.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(held.count, 2, "a quarter of 8 images")
        // The split depends only on the seed and the list.
        let paths = (0..<8).map { "\(dir!)/images/img\($0).png" }
        XCTAssertEqual(try TrainingImages.split(paths, fraction: 0.25, seed: o.seed).validation, held)
        XCTAssertNotEqual(try TrainingImages.split(paths, fraction: 0.25, seed: o.seed + 1).validation, held)
        let history = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(o.outputDir)/training_history.json"))) as! [[String: Any]]
        for record in history {
            for key in ["val_recon_loss", "val_kl_loss", "val_psnr", "val_ssim"] { XCTAssertNotNil(record[key] as? Double, key) }
            XCTAssertGreaterThan(record["val_psnr"] as! Double, 0)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(o.outputDir)/vae_best.safetensors"))
        // Reconstruction grids of the training and of the held-out images, each also as PDF; tiles at least 128 px.
        for grid in ["recon_epoch_2", "val_recon_epoch_2"] {
            let png = try DecodedPNG(path: "\(o.outputDir)/reconstructions/\(grid).png")
            XCTAssertGreaterThan(png.height, 2 * 128, grid)
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(o.outputDir)/reconstructions/\(grid).pdf"), grid)
        }
        XCTAssertTrue(lines.contains { $0.contains("val recon") && $0.contains("SSIM") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("step 1/") && $0.contains("ETA") }, "--log_every 1 gives step lines")
    }

    func testKLDominanceIsNoticedOnce() throws {
        // The tiny model's latent is small, so its summed KL needs a large weight to dominate as SD's does at 1.0.
        var o = options("kl", epochs: 1)
        o.klWeight = 1000
        var lines: [String] = []
        try train(o, log: { lines.append($0) })
        XCTAssertEqual(lines.filter { $0.contains("kl_weight 1e-6") }.count, 1, lines.joined(separator: "\n"))
        var quiet = options("kl-quiet", epochs: 1)
        quiet.klWeight = 1e-6
        lines = []
        try train(quiet, log: { lines.append($0) })
        XCTAssertFalse(lines.contains { $0.contains("kl_weight 1e-6") })
    }

    func testGradientNormAndClipping() throws {
        let p = Parameter(shape: [3])
        let q = Parameter(shape: [2])
        let buckets = GradientBuckets(groups: [[p], [q]], replicas: SingleReplica(), capacity: 2)
        _ = p.grad.buffer.update(from: [3, 0, 0])
        _ = q.grad.buffer.update(from: [0, 4])
        XCTAssertEqual(buckets.globalNorm(), 5)
        buckets.scale(by: 0.5)
        XCTAssertEqual(p.grad.array + q.grad.array, [1.5, 0, 0, 0, 2])
    }

    /// The first bucket closes at `firstCapacity` (DDP's 1 MiB), the others at `capacity`; a bucket ends with the
    /// group that fills it, so groups are never split, and the last group closes the last bucket.
    func testTheFirstBucketIsSmall() throws {
        let sizes = [3, 2, 4, 1, 6, 2, 5]
        let groups = sizes.map { [Parameter(shape: [$0])] }
        let buckets = GradientBuckets(groups: groups, replicas: SingleReplica(), capacity: 7, firstCapacity: 4)
        XCTAssertEqual(buckets.sizes, [3 + 2, 4 + 1 + 6, 2 + 5])
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("vae-small-g32/config.yaml")))
        let real = GradientBuckets(groups: model.backwardGroups, replicas: SingleReplica())
        XCTAssertEqual(real.sizes.reduce(0, +), model.parameterCount)
        XCTAssertGreaterThan(real.count, 1, "the small model's gradients would fit one 25 MB bucket")
        XCTAssertLessThan(real.sizes[0], model.parameterCount / 2)
    }

    func testAveragedWeightsFollowTheirFormula() {
        let p = Parameter(shape: [2])
        _ = p.value.buffer.update(from: [1, 2])
        let ema = ExponentialMovingAverage(parameters: [p], decay: 0.75)
        _ = p.value.buffer.update(from: [5, -2])
        ema.update()
        XCTAssertEqual(ema.shadow[0].array, [0.75 * 1 + 0.25 * 5, 0.75 * 2 + 0.25 * -2])
    }

    func testHorizontalFlipMirrorsEachRow() {
        let t = Tensor(shape: [2, 1, 2, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        flipHorizontally(t, item: 1)
        XCTAssertEqual(t.array, [1, 2, 3, 4, 5, 6, 9, 8, 7, 12, 11, 10])
    }

    /// BUSI's layout: classes in sub-folders, a mask beside each lesion image.
    func testBUSIFoldersMasksAndLists() throws {
        let root = "\(dir!)/busi"
        for (folder, names) in [("benign", ["benign (1)", "benign (2)"]), ("malignant", ["malignant (1)"]), ("normal", ["normal (1)"])] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true)
            for name in names {
                let image = RGB8Image(width: 16, height: 16, pixels: [UInt8](repeating: 90, count: 16 * 16 * 3))
                try writePNG(image, to: "\(root)/\(folder)/\(name).png")
                try writePNG(image, to: "\(root)/\(folder)/\(name)_mask.png")
            }
        }
        try writePNG(RGB8Image(width: 16, height: 16, pixels: [UInt8](repeating: 9, count: 768)), to: "\(root)/benign/benign (1)_mask_1.png")
        var selection = DataSelection()
        XCTAssertThrowsError(try TrainingImages.list(directory: root, selection: selection, option: "--train_dir")) {
            XCTAssertTrue("\($0)".contains("--recursive"), "\($0)")
        }
        selection.recursive = true
        let listing = try TrainingImages.list(directory: root, selection: selection, option: "--train_dir")
        XCTAssertEqual(listing.paths.map { ($0 as NSString).lastPathComponent },
                       ["benign (1).png", "benign (2).png", "malignant (1).png", "normal (1).png"])
        XCTAssertEqual(listing.excluded.count, 5)
        selection.exclude = []
        XCTAssertEqual(try TrainingImages.list(directory: root, selection: selection, option: "--train_dir").paths.count, 9)

        try "# chosen cases\nbenign/benign (2).png\n\n\(root)/normal/normal (1).png\n".write(toFile: "\(root)/train.txt", atomically: true, encoding: .utf8)
        selection.trainList = "\(root)/train.txt"
        XCTAssertEqual(try TrainingImages.list(directory: "", selection: selection, option: "--train_dir").paths,
                       ["\(root)/benign/benign (2).png", "\(root)/normal/normal (1).png"])
    }
}
