import Foundation
import VAECore
import VAEFormats
import VAEJobs
import VAETraining
import XCTest

/// `--save_format pt|both`: the trainer's checkpoints in the original tool's torch.save layout, what they hold, and
/// that they resume here as the safetensors checkpoints do. (PyTorch itself loads them in
/// scripts/check-seed-checkpoints.sh.)
final class TorchCheckpointTrainingTests: TemporaryDirectoryTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeNoiseImages(count: 5, side: 16, seed: 2, into: "\(dir!)/images")
    }

    func options(_ output: String, epochs: Int, format: SaveFormat) -> TrainingOptions {
        var o = TrainingOptions(trainDir: "\(dir!)/images")
        o.outputDir = "\(dir!)/\(output)"
        o.batchSize = 2   // 5 images: 3 steps per epoch
        o.epochs = epochs
        o.lr = 1e-3
        o.klWeight = 0.01
        o.imgSize = 16
        o.saveInterval = 1
        o.numRecon = 2
        o.saveFormat = format
        return o
    }

    /// Trains through a RunDirectory, as the train command does.
    @discardableResult
    func train(_ o: TrainingOptions, start: RunStart = .fresh(overwrite: false),
               log: @escaping (String) -> Void = { _ in }) throws -> (TrainingOutcome, AutoencoderKL) {
        let replicas = SingleReplica()
        let run = try RunDirectory.begin(o.outputDir, start: start, replicas: replicas, log: log)
        let data = try TrainingData.prepare(o, replicas: replicas, log: { _ in })
        let model = AutoencoderKL(config)
        model.initialize(seed: o.seed)
        let trainer = try Trainer(model: model, options: o, data: data, replicas: replicas,
                                  resumeFrom: run.resumeFrom.map { ($0.contents, $0.path) }, runID: run.runID, log: log)
        return (try withExtendedLifetime(run) { try trainer.run() }, model)
    }

    func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    func testBothFormatsHoldTheSameStateAndThePtHasTheOriginalLayout() throws {
        let o = options("out", epochs: 2, format: .both)
        let (outcome, model) = try train(o)
        XCTAssertEqual(outcome, .completed(finalWeights: "\(o.outputDir)/vae_final.safetensors"))
        for stem in ["checkpoints/vae_epoch_1", "checkpoints/vae_epoch_2", "vae_final"] {
            let safe = try TrainingCheckpoint.read(path: "\(o.outputDir)/\(stem).safetensors")
            let torch = try TorchTrainingCheckpoint.read(path: "\(o.outputDir)/\(stem).pt")
            XCTAssertEqual(torch.epoch, safe.position.epoch, stem)
            XCTAssertEqual(torch.loss, safe.position.history.last?.totalLoss, stem)
            // model.parameters() order, every parameter, nothing else.
            XCTAssertEqual(torch.weights.map(\.name), model.namedParameters.map(\.name), stem)
            for (name, entry) in torch.weights {
                XCTAssertEqual(bits(entry.values), bits(safe.file[name]!.values), name)
                XCTAssertEqual(entry.shape, safe.file[name]!.shape, name)
            }
            XCTAssertEqual(torch.step, safe.position.adamStep, stem)
            XCTAssertEqual(torch.group.kind, .adam)
            XCTAssertEqual(torch.group.lr, o.lr)
            XCTAssertTrue(torch.group.betas == (0.9, 0.999) && torch.group.eps == 1e-8 && torch.group.weightDecay == 0)
            for state in ["exp_avg", "exp_avg_sq"] {
                XCTAssertEqual(torch.optimizerTensors[state]?.count, model.namedParameters.count)
                for ((name, _), entry) in zip(torch.weights, torch.optimizerTensors[state]!) {
                    XCTAssertEqual(bits(entry.values), bits(safe.file["optimizer.\(state).\(name)"]!.values), "\(state) \(name)")
                }
            }
            // vae-dist's .pt resumes with the same contents as the safetensors twin.
            let fromPT = try TrainingCheckpoint.read(path: "\(o.outputDir)/\(stem).pt")
            XCTAssertEqual(fromPT.position, safe.position)
            XCTAssertEqual(fromPT.options, safe.options)
            XCTAssertEqual(fromPT.runID, safe.runID)
            XCTAssertEqual(Set(fromPT.file.names), Set(safe.file.names))
        }
        // Exactly the keys the original tool saved (and vae-dist's own), and torch 2.x's Adam param group.
        let root = try TorchDocument(path: "\(o.outputDir)/vae_final.pt").root
        XCTAssertEqual(root.items?.compactMap(\.key.string), ["epoch", "model_state_dict", "optimizer_state_dict", "loss", "vae_dist"])
        let group = try XCTUnwrap(root["optimizer_state_dict"]?["param_groups"]?.elements?.first)
        XCTAssertEqual(group.items?.compactMap(\.key.string), ["lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach",
                                                              "capturable", "differentiable", "fused", "decoupled_weight_decay", "params"])
        XCTAssertEqual(group["params"]?.elements?.compactMap(\.int), Array(0..<model.namedParameters.count))
        let first = try XCTUnwrap(root["optimizer_state_dict"]?["state"]?.items?.first?.value)
        XCTAssertEqual(first.items?.compactMap(\.key.string), ["step", "exp_avg", "exp_avg_sq"])
        XCTAssertEqual(first["step"]?.tensorShape, [], "a 0-d tensor, as torch 2.x keeps Adam's step")
    }

    func testPtOnlyRunsResumeToTheSameWeightsAndAreFoundByResumeAuto() throws {
        let (_, straight) = try train(options("straight", epochs: 3, format: .safetensors))
        _ = try train(options("pt", epochs: 2, format: .pt))
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(dir!)/pt/checkpoints").sorted()
        XCTAssertEqual(names, ["vae_epoch_1.pt", "vae_epoch_2.pt"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/pt/vae_final.pt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/pt/vae_final.safetensors"))
        // A new run there is refused (the .pt files are a run's), --resume auto continues from the newest .pt.
        XCTAssertThrowsError(try train(options("pt", epochs: 3, format: .pt))) { error in
            XCTAssertTrue("\(error)".contains("holds the checkpoints of an earlier run"), "\(error)")
        }
        var lines: [String] = []
        let (outcome, resumed) = try train(options("pt", epochs: 3, format: .pt), start: .resumeLatest, log: { lines.append($0) })
        XCTAssertEqual(outcome, .completed(finalWeights: "\(dir!)/pt/vae_final.pt"))
        XCTAssertTrue(lines.contains { $0.contains("resuming from \(dir!)/pt/checkpoints/vae_epoch_2.pt at epoch 3") }, "\(lines)")
        XCTAssertEqual(straight.namedParameters.map { bits($0.parameter.value.array) },
                       resumed.namedParameters.map { bits($0.parameter.value.array) })
        // --save_format may change on resume (logged).
        XCTAssertTrue(lines.contains { $0.contains("--save_format") } == false, "unchanged here: \(lines)")
        let (_, _) = try train(options("pt", epochs: 4, format: .safetensors), start: .resumeLatest, log: { lines.append($0) })
        XCTAssertTrue(lines.contains { $0.contains("resume changes --save_format: checkpoint pt, now safetensors") }, "\(lines)")
        // --overwrite removes the run's .pt files with the rest.
        _ = try train(options("pt", epochs: 1, format: .safetensors), start: .fresh(overwrite: true))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir!)/pt/checkpoints").sorted(), ["vae_epoch_1.safetensors"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/pt/vae_final.pt"))
    }
}
