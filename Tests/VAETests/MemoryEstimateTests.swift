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

    /// An SD-sized model at 512 px is estimated from its layers' shapes: none of its 84 M parameters is allocated.
    func testEstimatingAllocatesNoParameters() {
        let model = AutoencoderKL(.sdV1)
        for work in [MemoryEstimate.Work.training, .inference] {
            XCTAssertGreaterThan(MemoryEstimate(model: model, imageSize: 512, batch: 2, work: work).weightBytes, 330e6)
        }
        XCTAssertTrue(model.namedParameters.allSatisfy { $0.parameter.storedValue == nil })
    }

    /// The estimates as they were before being derived from the model's layers, recorded from that implementation
    /// (`ModelShape`, a second walk of the networks, since removed): activation bytes at each of `Self.workloads`.
    /// Beside the shipped and test configs, configs whose outer layers are wider than the networks (ch 1 or 2, a
    /// wide latent, input or output), where the layers the estimate counts apart decide figures: the decoder's
    /// conv_out with the reconstruction, the 1×1 convolutions between the networks, the backward temporaries and
    /// Winograd scratch of the res blocks. Counting any of them otherwise fails rows here.
    func testEstimatesAreThoseOfTheFormerWalk() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        func load(_ path: String) throws -> VAEConfig { try VAEConfig.load(path: root.appendingPathComponent(path).path) }
        let configs: [String: VAEConfig] = [
            "sdV1": .sdV1,
            "bench-small": try load("configs/bench-small.yaml"),
            "demo-small": try load("configs/demo-small.yaml"),
            "tiny": try load("Tests/Fixtures/vae-tiny-g8/config.yaml"),
            "small": try load("Tests/Fixtures/vae-small-g32/config.yaml"),
            "attention": VAEConfig(ch: 32, chMult: [1, 2], attnResolutions: [128], resolution: 128),
            "three-levels": VAEConfig(ch: 16, chMult: [1, 2, 3], numResBlocks: 2, attnResolutions: [32, 8], resolution: 32,
                                      normNumGroups: 8),
            "trainer": VAEConfig(ch: 8, chMult: [1, 2], numResBlocks: 1, resolution: 16, normNumGroups: 8),
            "narrow": VAEConfig(ch: 2, chMult: [1], numResBlocks: 1, attnResolutions: [256], normNumGroups: 1),
            "wide-io": VAEConfig(ch: 8, chMult: [1, 4, 2], numResBlocks: 1, attnResolutions: [128], zChannels: 64,
                                 embedDim: 96, inChannels: 16, outCh: 24, resolution: 256, normNumGroups: 8),
            "wide-output": VAEConfig(ch: 1, chMult: [1, 1], numResBlocks: 3, zChannels: 1, embedDim: 1, inChannels: 1,
                                     outCh: 4, normNumGroups: 1),
            "wide-latent": VAEConfig(ch: 4, chMult: [1], numResBlocks: 1, zChannels: 64, embedDim: 256, normNumGroups: 4),
        ]
        let recorded: [(config: String, parameters: Int, activationBytes: [Double])] = [
            ("sdV1", 83653863, [63049728.0, 505184256.0, 8133279744.0, 791112843264.0, 2.268319331647488e+21,
                50856000.0, 255852544.0, 922746880.0, 2533359616.0, 1128098980429824.0]),
            ("bench-small", 5252487, [15863808.0, 127696896.0, 2093481984.0, 404565786624.0, 2.255949825835008e+21,
                34734144.0, 89128960.0, 303038464.0, 705691648.0, 1126449697259520.0]),
            ("demo-small", 2702087, [14073856.0, 125173760.0, 2808086528.0, 4509044572160.0, 3.603234895691776e+22,
                34735104.0, 152043520.0, 1309671424.0, 1712324608.0, 1.801494829989888e+16]),
            ("tiny", 180823, [30375936.0, 746323968.0, 44153438208.0, 175998901420032.0, 1.4411543460697866e+24,
                33701888.0, 1132527616.0, 17314152448.0, 17515479040.0, 2.8823065106323866e+17]),
            ("small", 658375, [23101440.0, 386138112.0, 19063111680.0, 70489271697408.0, 5.764646091840553e+23,
                33964032.0, 1157890048.0, 17415012352.0, 17817665536.0, 2.882309259413422e+17]),
            ("attention", 865287, [374898688.0, 11253579776.0, 708338253824.0, 2885372182790144.0, 2.3634898961928552e+25,
                34275328.0, 17272406016.0, 275146604544.0, 275515703296.0, 4.611686843094925e+18]),
            ("three-levels", 612167, [353288192.0, 10923409408.0, 692989198336.0, 2830273255309312.0, 2.3184535052116558e+25,
                34062336.0, 17242931200.0, 275029049344.0, 275213598720.0, 4.61168643077795e+18]),
            ("trainer", 43711, [12189696.0, 298844160.0, 17666408448.0, 70399882690560.0, 5.7646174873583616e+23,
                33619968.0, 1119895552.0, 17263771648.0, 17364434944.0, 2.88230513624236e+17]),
            ("narrow", 1167, [337346560.0, 10751836160.0, 687425454080.0, 2814764531056640.0, 2.305843056458334e+25,
                33829120.0, 17217618176.0, 274928238848.0, 274978570496.0, 4.61168607000055e+18]),
            ("wide-io", 184768, [20365312.0, 477495296.0, 27772583936.0, 110010621231104.0, 9.007218281446113e+23,
                33685504.0, 1128333312.0, 17297375232.0, 17498701824.0, 2.882305823437619e+17]),
            ("wide-output", 564, [8937472.0, 272826368.0, 17250123776.0, 70373240471552.0, 5.764608961848279e+23,
                33579072.0, 1110442048.0, 17226006592.0, 17251172416.0, 2.882304105450046e+17]),
            ("wide-latent", 92139, [143556608.0, 4369678336.0, 276073283584.0, 1125976410947584.0, 9.223374484986135e+24,
                34079744.0, 17347642368.0, 275448333312.0, 277058946048.0, 4.611687117972571e+18]),
        ]
        XCTAssertEqual(Set(recorded.map(\.config)), Set(configs.keys))
        for (name, parameters, activationBytes) in recorded {
            let config = try XCTUnwrap(configs[name])
            XCTAssertNoThrow(try config.validate(), name)
            XCTAssertEqual(config.parameterCount, parameters, name)
            for ((size, batch, work), bytes) in zip(Self.workloads, activationBytes) {
                let estimate = MemoryEstimate(config: config, imageSize: size, batch: batch, work: work)
                XCTAssertEqual(estimate.activationBytes, bytes, "\(name) \(size) px, batch \(batch), \(work)")
                XCTAssertEqual(estimate.weightBytes, 4 * Double(parameters), name)
                XCTAssertEqual(estimate.optimizerBytes, work == .training ? 12 * Double(parameters) : 0, name)
            }
        }
    }

    static let workloads: [(size: Int, batch: Int, work: MemoryEstimate.Work)] = [
        (64, 1, .training), (128, 2, .training), (256, 8, .training), (2048, 8, .training), (32768, 1_000_000, .training),
        (16, 1, .inference), (256, 2, .inference), (512, 2, .inference), (512, 8, .inference), (32768, 1, .inference),
    ]

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
