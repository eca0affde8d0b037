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

    /// --format pt: the original tool's layout, with a training checkpoint's epoch, optimizer state and loss, or
    /// a fresh Adam for weights alone; the config of vae-dist's own .pt comes with it.
    func testPtCarriesTheCheckpointsTrainingStateOrAFreshAdam() throws {
        let dir = try temporaryDirectory("export-pt")
        let smallWeights = VAEDistBinary.fixture("vae-small-g32/weights.ldm.safetensors")
        let model = AutoencoderKL(try VAEConfig.load(path: VAEDistBinary.fixture("vae-small-g32/config.yaml")))
        try model.loadWeights(path: smallWeights)
        let parameters = model.namedParameters
        let optimizer = Optimizer(parameters: parameters.map(\.parameter), lr: 3e-4)
        var saved: [String: [Tensor]] = [:]
        for (k, state) in ["exp_avg", "exp_avg_sq"].enumerated() {
            saved[state] = parameters.enumerated().map { i, p in
                Tensor(shape: p.parameter.value.shape, values: (0..<p.parameter.value.count).map { Float(k + 1) * 1e-3 * Float(($0 + i) % 17) })
            }
        }
        try optimizer.restore(step: 6, saved: saved)
        var position = TrainingPosition()
        position.epoch = 2
        position.adamStep = 6
        position.history = [1, 2].map { EpochRecord(epoch: $0, totalLoss: 0.5 / Double($0), reconLoss: 0.4, klLoss: 1, lr: 3e-4,
                                                    seconds: 1, imagesPerSecond: 1, commShare: 0) }
        var options = TrainingOptions(trainDir: "x")
        options.lr = 3e-4
        let checkpoint = "\(dir)/vae_epoch_2.safetensors"
        try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: position, options: options, runID: "pt-export", to: checkpoint)

        let out = "\(dir)/from-checkpoint.pt"
        let r = try VAEDistBinary.run(["export", "--checkpoint", checkpoint, "--format", "pt", "--output", out])
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, [out, "epoch 2, Adam state at step 6"])
        let pt = try TorchTrainingCheckpoint.read(path: out)
        XCTAssertEqual(pt.epoch, 2)
        XCTAssertEqual(pt.loss, 0.25)
        XCTAssertEqual(pt.step, 6)
        XCTAssertEqual(pt.group.lr, 3e-4)
        XCTAssertEqual(pt.weights.map(\.name), parameters.map(\.name))
        for ((name, entry), p) in zip(pt.weights, parameters) { XCTAssertEqual(entry.values, p.parameter.value.array, name) }
        for state in ["exp_avg", "exp_avg_sq"] {
            XCTAssertEqual(pt.optimizerTensors[state]?.map(\.values), saved[state]!.map(\.array), state)
        }
        XCTAssertNil(pt.metadata, "an export carries no run state")

        // Weights alone: what the original tool saved before its first step.
        let fresh = "\(dir)/fresh.pt"
        let plain = try VAEDistBinary.run(["export", "--checkpoint", smallWeights, "--config", VAEDistBinary.fixture("vae-small-g32/config.yaml"),
                                           "--format", "pt", "--output", fresh])
        XCTAssertEqual(plain.status, 0, plain.output)
        assertMentions(plain.stdout, ["epoch 0 and a fresh Adam (lr 1e-4)", "holds no optimizer state"])
        let empty = try TorchTrainingCheckpoint.read(path: fresh)
        XCTAssertEqual(empty.epoch, 0)
        XCTAssertNil(empty.loss)
        XCTAssertEqual(empty.step, 0)
        XCTAssertTrue(empty.optimizerTensors.isEmpty)
        XCTAssertEqual(empty.group, TorchParamGroup(kind: .adam, lr: 1e-4))
        XCTAssertEqual(empty.weights.map(\.entry.values), pt.weights.map(\.entry.values))

        // vae-dist's own .pt brings its config (no --config) and its state.
        let ownPT = "\(dir)/vae_epoch_2.pt"
        try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: position, options: options, runID: "pt-export", to: ownPT)
        let again = "\(dir)/from-own-pt.pt"
        let fromPT = try VAEDistBinary.run(["export", "--checkpoint", ownPT, "--format", "pt", "--output", again])
        XCTAssertEqual(fromPT.status, 0, fromPT.output)
        assertMentions(fromPT.stdout, ["stored in \(ownPT)", "epoch 2, Adam state at step 6"])
        XCTAssertEqual(try TorchTrainingCheckpoint.read(path: again).optimizerTensors["exp_avg"]?.map(\.values), saved["exp_avg"]!.map(\.array))

        // Replaced only with --overwrite, and only a torch.save file; 8 groups are refused as for ldm.
        let twice = try VAEDistBinary.run(["export", "--checkpoint", checkpoint, "--format", "pt", "--output", out])
        XCTAssertNotEqual(twice.status, 0)
        assertMentions(twice.stderr, [out, "--overwrite"])
        XCTAssertEqual(try VAEDistBinary.run(["export", "--checkpoint", checkpoint, "--format", "pt", "--output", out, "--overwrite"]).status, 0)
        let notes = "\(dir)/notes.pt"
        try "my notes".write(toFile: notes, atomically: true, encoding: .utf8)
        let refused = try VAEDistBinary.run(["export", "--checkpoint", checkpoint, "--format", "pt", "--output", notes, "--overwrite"])
        XCTAssertNotEqual(refused.status, 0)
        assertMentions(refused.stderr, [notes, "not a torch.save file"])
        XCTAssertEqual(try String(contentsOfFile: notes, encoding: .utf8), "my notes")
        let groups = try VAEDistBinary.run(["export", "--checkpoint", weights, "--config", config, "--format", "pt", "--output", "\(dir)/tiny.pt"])
        XCTAssertNotEqual(groups.status, 0)
        assertMentions(groups.stderr, ["norm_num_groups 8", "--format diffusers"])
    }
}
