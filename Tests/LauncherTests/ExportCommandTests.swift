import Foundation
import VAECore
import VAEFormats
import VAETraining
import XCTest

final class ExportCommandTests: XCTestCase {
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
    let weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")

    func testExportsADiffusersFolderThatReloadsToTheSameWeights() throws {
        let out = try temporaryDirectory("export") + "/tiny-diffusers"
        let r = try VAEDistBinary.run(["export", "--checkpoint", weights, "--config", config, "--format", "diffusers",
                                       "--output", out])
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, [out, "diffusers"])

        let model = AutoencoderKL(try VAEConfig.load(path: config))
        XCTAssertEqual(try model.loadWeights(path: "\(out)/diffusion_pytorch_model.safetensors"), .diffusers)
        let expected = try SafeTensors.read(path: weights)
        let actual = model.weightsFile()
        XCTAssertEqual(actual.names, expected.names)
        for name in expected.names { XCTAssertEqual(actual[name]?.values, expected[name]?.values, name) }
        // The folder is a model on its own: its config.json gives the config back, with no --config.
        let source = try ModelSource(checkpoint: out, config: nil)
        XCTAssertEqual(source.config, try VAEConfig.load(path: config))
        let reloaded = AutoencoderKL(source.config)
        _ = try source.loadWeights(into: reloaded)
        XCTAssertEqual(reloaded.weightsFile().tensors.mapValues(\.values), expected.tensors.mapValues(\.values))

        let again = try VAEDistBinary.run(["export", "--checkpoint", weights, "--config", config, "--format", "diffusers",
                                           "--output", out])
        XCTAssertNotEqual(again.status, 0)
        assertMentions(again.stderr, [out, "--overwrite"])
        let replaced = try VAEDistBinary.run(["export", "--checkpoint", weights, "--config", config, "--format", "diffusers",
                                              "--output", out, "--overwrite"])
        XCTAssertEqual(replaced.status, 0, replaced.output)
    }

    func testRefusesLdmForEightGroupsAndUnknownFormats() throws {
        let dir = try temporaryDirectory("export-refused")
        let ldm = try VAEDistBinary.run(["export", "--checkpoint", weights, "--config", config, "--format", "ldm",
                                         "--output", "\(dir)/tiny.safetensors"])
        XCTAssertNotEqual(ldm.status, 0)
        assertMentions(ldm.stderr, ["norm_num_groups 8", "--format diffusers"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/tiny.safetensors"))

        let unknown = try VAEDistBinary.run(["export", "--checkpoint", weights, "--config", config, "--format", "onnx",
                                             "--output", "\(dir)/x"])
        XCTAssertNotEqual(unknown.status, 0)
        assertMentions(unknown.stderr, ["onnx", "diffusers", "ldm", "sd"])
    }

    /// Export computes nothing: the options of the commands that do (image size, threads, arithmetic) are refused,
    /// not silently ignored.
    func testRefusesOptionsItDoesNotUse() throws {
        let dir = try temporaryDirectory("export-options")
        for extra in [["--img_size", "64"], ["--threads", "2"], ["--fast_conv"], ["--exact_conv"], ["--device", "cpu"]] {
            let r = try VAEDistBinary.run(["export", "--checkpoint", weights, "--config", config, "--format", "diffusers",
                                           "--output", "\(dir)/out"] + extra)
            XCTAssertEqual(r.status, 64, "\(extra): \(r.output)")
            assertMentions(r.stderr, [extra[0]])
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/out"), "\(extra)")
        }
    }

    func testSmallG32ExportsAsSDWithoutConfigFlagFromItsOwnCheckpoint() throws {
        // A vae-dist checkpoint carries its config: no --config needed.
        let dir = try temporaryDirectory("export-sd")
        let smallConfig = try VAEConfig.load(path: VAEDistBinary.fixture("vae-small-g32/config.yaml"))
        let model = AutoencoderKL(smallConfig)
        try model.loadWeights(path: VAEDistBinary.fixture("vae-small-g32/weights.ldm.safetensors"))
        let checkpoint = "\(dir)/vae_final.safetensors"
        try TrainingCheckpoint.save(model: model, optimizer: Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4),
                            position: TrainingPosition(), options: TrainingOptions(trainDir: "x"), runID: "export-test", to: checkpoint)
        let out = "\(dir)/vae.sd.safetensors"
        let r = try VAEDistBinary.run(["export", "--checkpoint", checkpoint, "--format", "sd", "--output", out])
        XCTAssertEqual(r.status, 0, r.output)
        let file = try SafeTensors.read(path: out)
        XCTAssertEqual(file.names, model.weightsFile().names.map { "first_stage_model." + $0 })
    }
}
