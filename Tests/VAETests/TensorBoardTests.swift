import Foundation
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
@testable import VAETraining
import XCTest

/// TensorBoard event files (OUTPUT/tensorboard/) and metrics.jsonl's times and validation records, read back with
/// the tests' own decoder (EventFileReading.swift). scripts/check-tensorboard.sh reads them with TensorBoard's.
final class TensorBoardTests: TemporaryDirectoryTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeNoiseImages(count: 8, side: 24, seed: 21, into: "\(dir!)/images")
    }

    /// 8 images, 2 held out: 6 train in batches of 4, two steps an epoch.
    func options(_ output: String, epochs: Int) -> TrainingOptions {
        var o = TrainingOptions(trainDir: "\(dir!)/images")
        o.outputDir = "\(dir!)/\(output)"
        (o.batchSize, o.epochs, o.lr, o.klWeight, o.imgSize) = (4, epochs, 1e-3, 0.01, 16)
        (o.saveInterval, o.numRecon, o.seed) = (1, 2, 9)
        o.validation.fraction = 0.25
        return o
    }

    func train(_ o: TrainingOptions, resume: String? = nil) throws {
        let replicas = SingleReplica()
        let data = try TrainingData.prepare(o, replicas: replicas, log: { _ in })
        let model = AutoencoderKL(config)
        model.initialize(seed: o.seed)
        let resumed = try resume.map { (try TrainingCheckpoint.read(path: $0), path: $0) }
        _ = try Trainer(model: model, options: o, data: data, replicas: replicas, resumeFrom: resumed).run()
    }

    /// The JSON objects of metrics.jsonl.
    func metrics(_ output: String) throws -> [[String: Any]] {
        try String(contentsOfFile: "\(dir!)/\(output)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testCRC32CKnownVectors() {
        // RFC 3720 (iSCSI) B.4 and the usual check value.
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum(Array(0..<32)), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum(Array((0..<32).reversed())), 0x113F_DB5C)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // TensorFlow's mask, as TensorBoard's own masked_crc32c gives it.
        XCTAssertEqual(CRC32C.masked(CRC32C.checksum(Array("123456789".utf8))), 0xC78A_B0E5)
    }

    /// The bytes TensorBoard's RecordWriter writes for the same data.
    func testRecordFramingIsTensorFlows() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(hex(TensorBoardEventFile.record([])), "000000000000000029039807d8ea82a2")
        XCTAssertEqual(hex(TensorBoardEventFile.record(Array("hello".utf8))), "0500000000000000eab2043e68656c6c6fbb1f1c19")
    }

    func testEventFieldsReadBack() throws {
        let folder = "\(dir!)/tb"
        let date = Date(timeIntervalSince1970: 1_700_000_000.25)
        let file = try TensorBoardEventFile(directory: folder, date: date)
        try file.sessionStart(step: 1, date: date)
        try file.scalars([("train/loss", 0.125), ("train/lr", 1e-4)], step: 300, date: date)
        var image = RGB8Image(width: 3, height: 2, pixels: [UInt8](repeating: 0, count: 18))
        image.pixels[0] = 255   // colour: an RGB PNG
        let png = try encodePNG(image, name: "test")
        try file.image(tag: "reconstructions/training", png: png, step: 1 << 40, date: date)
        XCTAssertThrowsError(try file.image(tag: "bad", png: [1, 2, 3], step: 2)) { XCTAssertTrue("\($0)".contains("bad"), "\($0)") }
        try file.flush()
        XCTAssertTrue((file.path as NSString).lastPathComponent.hasPrefix("events.out.tfevents.1700000000."))
        let events = try EventFileReading.events(path: file.path)
        XCTAssertEqual(events.count, 4)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events.map(\.wallTime), [Double](repeating: 1_700_000_000.25, count: 4))
        XCTAssertEqual(events[1].sessionStatus, 1)
        XCTAssertEqual(events[1].step, 1)
        XCTAssertEqual(events[2].step, 300)
        XCTAssertEqual(events[2].scalars, ["train/loss": 0.125, "train/lr": Float(1e-4)])
        XCTAssertEqual(events[3].step, 1 << 40)
        XCTAssertEqual(events[3].images["reconstructions/training"], ReadImage(width: 3, height: 2, colorspace: 3, png: png))
        // A second file of the same second sorts after the first: TensorBoard reads a folder in name order.
        let next = try TensorBoardEventFile(directory: folder, date: date)
        XCTAssertEqual(try EventFileReading.files(in: folder), [file.path, next.path])
        XCTAssertTrue((next.path as NSString).lastPathComponent.hasPrefix("events.out.tfevents.1700000001."))
    }

    func testTrainingLogsStepsValidationAndGrids() throws {
        try train(options("run", epochs: 2))
        let files = try EventFileReading.files(in: "\(dir!)/run/tensorboard")
        XCTAssertEqual(files.count, 1)
        let events = try EventFileReading.events(path: files[0])
        XCTAssertEqual(events.first?.fileVersion, "brain.Event:2")
        XCTAssertEqual(events.dropFirst().first.map { [$0.sessionStatus, $0.step] }, [1, 1], "a session start at the first step")
        let records = try metrics("run")
        let steps = records.filter { $0["kind"] as? String == "step" }
        let validations = records.filter { $0["kind"] as? String == "validation" }
        XCTAssertEqual(records.count, steps.count + validations.count)
        XCTAssertEqual(steps.count, 4, "2 epochs × 2 steps")
        // Every step's metrics, as metrics.jsonl has them (TensorBoard keeps float32).
        for (tag, key) in [("train/loss", "loss"), ("train/recon_loss", "recon_loss"), ("train/kl_loss", "kl_loss"), ("train/lr", "lr"),
                           ("train/grad_norm", "grad_norm"), ("train/images_per_second", "images_per_second"),
                           ("train/comm_wait", "comm_wait")] {
            let logged = EventFileReading.scalar(tag, in: events)
            XCTAssertEqual(logged.map(\.step), [1, 2, 3, 4], tag)
            XCTAssertEqual(logged.map(\.value), steps.map { Float($0[key] as! Double) }, tag)
        }
        // Validation after each epoch, at its last step, as training_history.json has it.
        let history = try TrainingReport.readHistory(path: "\(dir!)/run/training_history.json")
        let measured = history.compactMap(\.validation)
        XCTAssertEqual(measured.count, 2)
        for (tag, value) in [("val/recon_loss", \ValidationMetrics.reconLoss), ("val/kl_loss", \.klLoss), ("val/psnr", \.psnr), ("val/ssim", \.ssim)] {
            let logged = EventFileReading.scalar(tag, in: events)
            XCTAssertEqual(logged.map(\.step), [2, 4], tag)
            XCTAssertEqual(logged.map(\.value), measured.map { Float($0[keyPath: value]) }, tag)
        }
        XCTAssertEqual(EventFileReading.scalar("val/loss", in: events).map(\.value), measured.map { Float($0.total(klWeight: 0.01)) })
        // metrics.jsonl's validation records: the same numbers, the epoch and its step.
        XCTAssertEqual(validations.map { $0["epoch"] as? Int }, [1, 2])
        XCTAssertEqual(validations.map { $0["global_step"] as? Int }, [2, 4])
        // (Read with JSONDecoder as the history is: JSONSerialization may round the last digit differently.)
        let lines = try String(contentsOfFile: "\(dir!)/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("validation") }
        XCTAssertEqual(try lines.map { try JSONDecoder().decode(ValidationMetrics.self, from: Data($0.utf8)) }, measured)
        XCTAssertEqual(validations.map { $0["val_loss"] as? Double }.map { $0.map(Float.init) },
                       measured.map { Float($0.total(klWeight: 0.01)) })
        // Every record has its time, in ISO 8601 UTC, in the order written.
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let times = try records.map { try XCTUnwrap(parser.date(from: try XCTUnwrap($0["time"] as? String)), "\($0)") }
        XCTAssertTrue(records.allSatisfy { ($0["time"] as! String).hasSuffix("Z") })
        XCTAssertEqual(times, times.sorted())
        XCTAssertLessThan(abs(times.last!.timeIntervalSinceNow), 600)
        // The grid of each save, the very PNG written to reconstructions/ (the last one is still there).
        let grids = events.filter { !$0.images.isEmpty }
        XCTAssertEqual(grids.map(\.step), [2, 4])
        let last = try XCTUnwrap(grids.last?.images["reconstructions/training"])
        XCTAssertEqual(last.png, Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/run/reconstructions/recon_epoch_2.png"))))
        let grid = try loadImage(path: "\(dir!)/run/reconstructions/recon_epoch_2.png")
        XCTAssertEqual([last.width, last.height], [grid.width, grid.height])
    }

    /// A run resumed from an older checkpoint appends a file; TensorBoard then shows the steps of a run never
    /// interrupted, without the ones the first attempt took past the checkpoint.
    func testResumeAppendsAFileWhoseStepsContinue() throws {
        try train(options("straight", epochs: 3))
        try train(options("split", epochs: 2))
        try train(options("split", epochs: 3), resume: "\(dir!)/split/checkpoints/vae_epoch_1.safetensors")
        let files = try EventFileReading.files(in: "\(dir!)/split/tensorboard")
        XCTAssertEqual(files.count, 2)
        let second = try EventFileReading.events(path: files[1])
        XCTAssertEqual(second.dropFirst().first.map { [$0.sessionStatus, $0.step] }, [1, 3], "the resumed run starts at step 3")
        let (split, straight) = (try EventFileReading.shown(folder: "\(dir!)/split/tensorboard"),
                                 try EventFileReading.shown(folder: "\(dir!)/straight/tensorboard"))
        for tag in ["train/loss", "train/grad_norm", "train/lr", "val/psnr", "val/ssim"] {
            let (a, b) = (EventFileReading.scalar(tag, in: split), EventFileReading.scalar(tag, in: straight))
            XCTAssertEqual(a.map(\.step), b.map(\.step), tag)
            XCTAssertEqual(a.map(\.value), b.map(\.value), tag)
        }
        XCTAssertEqual(split.filter { !$0.images.isEmpty }.map(\.step), [2, 4, 6])
        // metrics.jsonl likewise: the first attempt's epoch 2 went, validation records included.
        func kinds(_ run: String) throws -> [String] { try metrics(run).map { "\($0["kind"]!) \($0["global_step"]!)" } }
        XCTAssertEqual(try kinds("split"), try kinds("straight"))
        XCTAssertEqual(try kinds("split").filter { $0.hasPrefix("validation") }, ["validation 2", "validation 4", "validation 6"])
    }

    /// Identical images give PSNR +∞, which JSON cannot hold: the record says null (undefined) instead of failing.
    func testAnInfinitePSNRIsRecordedAsNull() throws {
        let path = "\(dir!)/log/metrics.jsonl"
        let log = try StepLog(path: path, resumingAt: 0, every: nil, log: { _ in })
        try log.recordValidation(ValidationMetrics(reconLoss: 0, klLoss: 0.5, psnr: .infinity, ssim: 1), epoch: 1, globalStep: 3, klWeight: 0.1)
        try log.flush()
        let line = try String(contentsOfFile: path, encoding: .utf8)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertTrue(record["val_psnr"] is NSNull, line)
        XCTAssertEqual(record["val_loss"] as? Double, 0.05)
        XCTAssertEqual(record["val_ssim"] as? Double, 1)
        XCTAssertEqual(record["kind"] as? String, "validation")
        XCTAssertEqual(StepLog.records(at: path).count, 0, "not a step record")
    }

    func testTensorBoardFalseWritesNoEventFiles() throws {
        var o = options("off", epochs: 1)
        o.tensorboard = false
        try train(o)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/off/vae_final.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/off/tensorboard"))
    }
}
