import Foundation
@testable import VAECore
@testable import VAEJobs
@testable import VAETraining
import XCTest

final class MemoryEstimateTests: XCTestCase {
    func testRefusesWhatCannotFitWithTheFigures() {
        let estimate = MemoryEstimate(config: .sdV1, imageSize: 2048, batch: 8, work: .training)
        XCTAssertThrowsError(try estimate.check(available: 22.9e9)) { error in
            let message = "\(error)"
            for part in ["img_size 2048, 8 images per process", "training needs about", "weights 335 MB",
                         "gradients and Adam moments 1.0 GB", "activations", "this machine has 22.9 GB available",
                         "smaller --img_size or --batch_size, more ranks, or a machine with more memory"] {
                XCTAssertTrue(message.contains(part), "lacks \(part): \(message)")
            }
        }
        XCTAssertNoThrow(try estimate.check(available: nil), "unknown availability (macOS) is not refused")
    }

    func testAcceptsWhatFits() {
        let estimate = MemoryEstimate(config: .sdV1, imageSize: 256, batch: 1, work: .inference)
        XCTAssertEqual(estimate.optimizerBytes, 0)
        XCTAssertNoThrow(try estimate.check(available: 22.9e9))
        XCTAssertThrowsError(try estimate.check(available: 100e6)) { error in
            XCTAssertTrue("\(error)".contains("one image per process: encoding and decoding needs about"), "\(error)")
        }
    }

    func testGrowsWithImageBatchAndTraining() {
        func total(_ size: Int, _ batch: Int, _ work: MemoryEstimate.Work) -> Double {
            MemoryEstimate(config: .sdV1, imageSize: size, batch: batch, work: work).totalBytes
        }
        XCTAssertLessThan(total(64, 1, .training), total(128, 1, .training))
        XCTAssertLessThan(total(128, 1, .training), total(128, 2, .training))
        XCTAssertLessThan(total(128, 2, .inference), total(128, 2, .training))
        // Attention's weight matrix grows with the square of the pixels, the other activations linearly.
        let attention = VAEConfig(ch: 32, chMult: [1, 2], attnResolutions: [128], resolution: 128)
        let activations = { (config: VAEConfig, size: Int) in
            MemoryEstimate(config: config, imageSize: size, batch: 1, work: .training).activationBytes
        }
        XCTAssertGreaterThan(activations(attention, 512) / activations(attention, 256), 8)
        XCTAssertEqual(activations(.sdV1, 128) / activations(.sdV1, 64), 4, accuracy: 0.01)
    }

    func testImageSizeBounds() {
        XCTAssertNoThrow(try MemoryEstimate.checkImageSize(1))
        XCTAssertNoThrow(try MemoryEstimate.checkImageSize(MemoryEstimate.maxImageSize))
        for size in [0, -8, MemoryEstimate.maxImageSize + 1, 100000, Int.max] {
            XCTAssertThrowsError(try MemoryEstimate.checkImageSize(size)) { error in
                XCTAssertTrue("\(error)".contains("--img_size \(size)"), "\(error)")
            }
        }
    }

    func testAvailableMemoryComesFromMemAvailable() throws {
        let path = NSTemporaryDirectory() + "vae-dist-meminfo-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   22362500 kB\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(MemoryEstimate.availableBytes(meminfo: path), 22_362_500 * 1024)
        XCTAssertNil(MemoryEstimate.availableBytes(meminfo: path + ".missing"))
    }

    func testByteCounts() {
        XCTAssertEqual(ByteCount.text(999), "999 B")
        XCTAssertEqual(ByteCount.text(334.6e6), "335 MB")
        XCTAssertEqual(ByteCount.text(1.04e9), "1.0 GB")
        XCTAssertEqual(ByteCount.text(22.9e9), "22.9 GB")
        XCTAssertEqual(ByteCount.text(3.2e12), "3.2 TB")
    }

    /// Peak resident sizes (MiB, as ru_maxrss counts) measured with `vae-dist bench` (release build; see
    /// docs/PERFORMANCE-LOG.md, "Memory estimate"): the estimate stays within 30 % of each.
    func testAgreesWithMeasuredPeaks() throws {
        let small = try VAEConfig.load(path: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("configs/bench-small.yaml").path)
        let measured: [(VAEConfig, size: Int, batch: Int, MemoryEstimate.Work, mebibytes: Double)] = [
            (.sdV1, 64, 1, .training, 1422), (.sdV1, 128, 2, .training, 1794), (.sdV1, 256, 1, .training, 2227),
            (small, 64, 8, .training, 251), (small, 128, 8, .training, 616),
            (.sdV1, 256, 2, .inference, 640), (.sdV1, 512, 2, .inference, 1283), (small, 256, 2, .inference, 158),
        ]
        for (config, size, batch, work, mebibytes) in measured {
            let estimate = MemoryEstimate(config: config, imageSize: size, batch: batch, work: work).totalBytes / 1_048_576
            print(String(format: "estimate ch %d, %d px, batch %d, %@: %.0f MiB, measured %.0f MiB (%.2f×)",
                         config.ch, size, batch, work.rawValue, estimate, mebibytes, estimate / mebibytes))
            XCTAssertEqual(estimate / mebibytes, 1, accuracy: 0.3, "\(config.ch) \(size) \(batch) \(work)")
        }
    }

    /// The trainer checks before it allocates Adam's moments or a batch: a size that cannot fit is an error.
    func testTrainerRefusesWhatCannotFit() throws {
        // Linux reports available memory (/proc/meminfo); elsewhere nothing is refused.
        guard MemoryEstimate.availableBytes() != nil else { return XCTAssertNil(MemoryEstimate.availableBytes()) }
        let config = VAEConfig(ch: 8, chMult: [1, 2], numResBlocks: 1, resolution: 16, normNumGroups: 8)
        var options = TrainingOptions(trainDir: NSTemporaryDirectory())
        options.imgSize = 16384
        options.batchSize = 64
        let images = CachedImages(size: 1, count: 1, bytes: [0, 0, 0])
        XCTAssertThrowsError(try Trainer(model: AutoencoderKL(config), options: options, data: TrainingSets(train: images),
                                         replicas: SingleReplica())) { error in
            for part in ["img_size 16384, 64 images per process", "training needs about", "available"] {
                XCTAssertTrue("\(error)".contains(part), "lacks \(part): \(error)")
            }
        }
    }
}
