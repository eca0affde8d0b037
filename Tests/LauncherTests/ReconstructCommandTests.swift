import Foundation
import VAECore
import VAEFormats
import VAEJobs
import VAETraining
import XCTest

final class ReconstructCommandTests: XCTestCase {
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
    let weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")
    let images = ["images-64/astronaut_rgb8.png", "images-64/camera_gray.jpg"].map(VAEDistBinary.fixture)

    func testWritesReconstructionsSideBySideAndLatentsMatchingTheModel() throws {
        let out = try temporaryDirectory("reconstruct")
        let r = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--img_size", "32",
                                       "--output", out] + images)
        XCTAssertEqual(r.status, 0, r.output)

        let model = AutoencoderKL(try VAEConfig.load(path: config))
        try model.loadWeights(path: weights)
        model.arithmetic = .fastDecoder
        let latents = try SafeTensors.read(path: "\(out)/latents.safetensors")
        XCTAssertEqual(latents.names, ["astronaut_rgb8", "camera_gray"])
        for (path, stem) in zip(images, ["astronaut_rgb8", "camera_gray"]) {
            let original = try loadResized(path, size: 32)
            let posterior = model.encode(imageBatch([original]), train: false)
            let expected = batchImages(model.decode(posterior.mode, train: false))[0]
            XCTAssertEqual(try loadImage(path: "\(out)/\(stem)_recon.png"), expected, stem)
            let pair = try loadImage(path: "\(out)/\(stem)_side_by_side.png")
            XCTAssertEqual(pair, composeGrid([[original, expected]]), stem)
            XCTAssertEqual(latents[stem]?.shape, [4, 16, 16])
            XCTAssertEqual(latents[stem]?.values, posterior.mean.array)
        }
    }

    /// --fast_conv computes the same model with F(4×4) convolutions also in the encoder: the latents equal an
    /// in-process model built that way, bitwise, and differ from the default's (F(2×2) encoder) by rounding only.
    func testFastConvolutionReachesTheModel() throws {
        let out = try temporaryDirectory("reconstruct-fast")
        let r = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--img_size", "32",
                                       "--fast_conv", "--output", out, images[0]])
        XCTAssertEqual(r.status, 0, r.output)
        let input = imageBatch([try loadResized(images[0], size: 32)])
        func mean(_ arithmetic: ConvolutionArithmetic) throws -> [Float] {
            let model = AutoencoderKL(try VAEConfig.load(path: config))
            try model.loadWeights(path: weights)
            model.arithmetic = arithmetic
            return model.encode(input, train: false).mean.array
        }
        let written = try XCTUnwrap(try SafeTensors.read(path: "\(out)/latents.safetensors")["astronaut_rgb8"]?.values)
        let (fast, exact) = (try mean(.fast), try mean(.fastDecoder))
        XCTAssertEqual(written, fast)
        XCTAssertNotEqual(fast, exact)
        let largest = exact.map(abs).max() ?? 0
        XCTAssertLessThan(zip(fast, exact).map { abs($0 - $1) }.max() ?? .infinity, 1.5e-5 * max(1, largest))
    }

    func testBadInputsGetMessagesAndNonZeroExit() throws {
        let out = try temporaryDirectory("reconstruct-bad")
        let missingWeights = try VAEDistBinary.run(["reconstruct", "--checkpoint", "\(out)/none.safetensors", "--config", config,
                                                    "--output", out, images[0]])
        XCTAssertNotEqual(missingWeights.status, 0)
        assertMentions(missingWeights.stderr, ["none.safetensors", "cannot read"])

        let wrongSize = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--img_size", "33",
                                               "--output", out, images[0]])
        XCTAssertNotEqual(wrongSize.status, 0)
        assertMentions(wrongSize.stderr, ["--img_size 33", "divisible by 2"])

        let notImage = "\(out)/notes.png"
        try "hello".write(toFile: notImage, atomically: true, encoding: .utf8)
        let bad = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--img_size", "16",
                                         "--output", out, notImage])
        XCTAssertNotEqual(bad.status, 0)
        assertMentions(bad.stderr, ["notes.png"])

        let wrongConfig = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--img_size", "16", "--output", out, images[0]])
        XCTAssertNotEqual(wrongConfig.status, 0)
        assertMentions(wrongConfig.stderr, [weights, "ch 128"])

        let clash = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--img_size", "16",
                                           "--output", out, images[0], images[0]])
        XCTAssertNotEqual(clash.status, 0)
        assertMentions(clash.stderr, ["astronaut_rgb8", "overwrite"])
    }

    func testHelpDocumentsEveryOption() throws {
        let r = try VAEDistBinary.run(["reconstruct", "--help"])
        XCTAssertEqual(r.status, 0)
        assertMentions(r.stdout, ["--checkpoint", "--config", "--img_size", "--output", "--threads"])
        let root = try VAEDistBinary.run(["--help"])
        assertMentions(root.stdout, ["reconstruct"])
    }

    /// Without --img_size, a vae-dist checkpoint (.safetensors or .pt) is reconstructed at the size it was trained
    /// at, other weights at 256; the log says which and why.
    func testDefaultSizeIsTheStoredTrainingSize() throws {
        let dir = try temporaryDirectory("reconstruct-size")
        let model = AutoencoderKL(try VAEConfig.load(path: config))
        try model.loadWeights(path: weights)
        var options = TrainingOptions(trainDir: "x")
        options.imgSize = 48
        for name in ["vae_final.safetensors", "vae_final.pt"] {
            let checkpoint = "\(dir)/\(name)"
            try TrainingCheckpoint.save(model: model, optimizer: Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4),
                                        position: TrainingPosition(), options: options, runID: "size", to: checkpoint)
            let out = "\(dir)/out-\(name)"
            let stored = try VAEDistBinary.run(["reconstruct", "--checkpoint", checkpoint, "--output", out, images[0]])
            XCTAssertEqual(stored.status, 0, stored.output)
            assertMentions(stored.stdout, ["img_size 48: the training size stored in \(checkpoint)"])
            XCTAssertEqual(try loadImage(path: "\(out)/astronaut_rgb8_recon.png").width, 48)
            let given = try VAEDistBinary.run(["reconstruct", "--checkpoint", checkpoint, "--img_size", "16", "--output", out + "-16", images[0]])
            XCTAssertEqual(given.status, 0, given.output)
            assertMentions(given.stdout, ["img_size 16: --img_size"])
            XCTAssertEqual(try loadImage(path: "\(out)-16/astronaut_rgb8_recon.png").width, 16)
        }
        // Plain weights: 256 (said before any image is read; an unreadable one keeps the tiny model from computing
        // attention over 128×128 latents here).
        let plain = try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--output", "\(dir)/plain",
                                           "\(dir)/missing.png"])
        XCTAssertNotEqual(plain.status, 0)
        assertMentions(plain.stdout, ["img_size 256: the default (\(weights) stores no training size"])
        let help = try VAEDistBinary.run(["reconstruct", "--help"])
        assertMentions(help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " "), ["Default: the training size stored in a vae-dist checkpoint, else 256"])
    }
}
