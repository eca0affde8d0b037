import Foundation
import VAECore
import VAEFormats
import VAEJobs
@testable import VAETraining
import XCTest

/// `train --resume` with a checkpoint of the original PyTorch tool: weights, Adam's state and epoch are taken
/// exactly; the run goes on at the next epoch and resumes later as any vae-dist run. The file is built here with
/// our torch.save writer in the original's layout; scripts/check-seed-checkpoints.sh does it with torch.save itself
/// and checks the next update against torch's Adam.
final class OriginalRunTests: TemporaryDirectoryTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeNoiseImages(count: 5, side: 16, seed: 6, into: "\(dir!)/images")
    }

    func options(_ output: String, epochs: Int) -> TrainingOptions {
        smallRunOptions(in: dir, output: output, epochs: epochs)
    }

    /// The original tool's vae_epoch_N.pt after two Adam steps on seeded gradients; returns the model and optimizer.
    @discardableResult
    func writeOriginal(_ path: String, epoch: Int = 1, reorder: Bool = false) throws -> (AutoencoderKL, Optimizer) {
        let model = AutoencoderKL(config)
        model.initialize(seed: 9)
        let parameters = model.namedParameters
        let optimizer = Optimizer(parameters: parameters.map(\.parameter), lr: 1e-3)
        var rng = SplitMix64(seed: 12)
        for _ in 0..<2 {
            for (_, p) in parameters { for i in 0..<p.grad.count { p.grad[i] = Float(rng.nextNormal() * 0.1) } }
            optimizer.update()
        }
        var weights = parameters.map { (name: $0.name, tensor: TorchSaveTensor($0.parameter.value)) }
        if reorder { weights.swapAt(0, 1) }
        try TorchTrainingCheckpoint.write(epoch: epoch, weights: weights,
                                          optimizer: TrainingCheckpoint.torchState(of: optimizer, parameterCount: parameters.count),
                                          loss: 0.42, to: path)
        return (model, optimizer)
    }

    func trainer(_ o: TrainingOptions, start: RunStart, original: OriginalRun?, log: @escaping (String) -> Void) throws -> (RunDirectory, Trainer) {
        let replicas = SingleReplica()
        let run = try RunDirectory.begin(o.outputDir, start: start, replicas: replicas, log: log)
        let model = AutoencoderKL(config)
        model.initialize(seed: 0)
        let trainer = try Trainer(model: model, options: o, data: try TrainingData.prepare(o, replicas: replicas, log: { _ in }),
                                  replicas: replicas, resumeFrom: run.resumeFrom.map { ($0.contents, $0.path) }, continuing: original,
                                  runID: run.runID, log: log)
        return (run, trainer)
    }

    func bits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }

    func testTheOriginalsWeightsAdamStateAndEpochAreTakenExactlyAndTheRunGoesOn() throws {
        let path = "\(dir!)/original/checkpoints/vae_epoch_1.pt"
        let (source, sourceOptimizer) = try writeOriginal(path)
        XCTAssertTrue(OriginalRun.isOriginalCheckpoint(path: path))
        var lines: [String] = []
        do {
            let o = options("continued", epochs: 3)
            let (run, trainer) = try trainer(o, start: .continueOriginal(path: path), original: try OriginalRun.read(path: path),
                                             log: { lines.append($0) })
            // Exactly the file's state, before any step.
            XCTAssertEqual(trainer.optimizer.step, 2)
            for state in ["exp_avg", "exp_avg_sq"] {
                XCTAssertEqual(trainer.optimizer.state[state]!.map(bits), sourceOptimizer.state[state]!.map(bits), state)
                XCTAssertTrue(sourceOptimizer.state[state]!.contains { $0.array.contains { $0 != 0 } }, "the test state is not all zero")
            }
            XCTAssertEqual(trainer.model.namedParameters.map { bits($0.parameter.value) }, source.namedParameters.map { bits($0.parameter.value) })
            XCTAssertEqual(trainer.position.epoch, 1)
            XCTAssertEqual(trainer.position.adamStep, 2)
            let log = lines.joined(separator: "\n")
            for part in ["continuing a run of the original PyTorch tool from \(path)",
                         "the weights (\(source.namedParameters.count) tensors of model_state_dict)",
                         "Adam at step 2: exp_avg, exp_avg_sq", "1 done, training goes on at epoch 2 of 3",
                         "the data order starts fresh from --seed 0", "its last loss was 0.42"] {
                XCTAssertTrue(log.contains(part), "log lacks '\(part)':\n\(log)")
            }
            XCTAssertFalse(log.contains("warning"), log)

            XCTAssertEqual(try withExtendedLifetime(run) { try trainer.run() }, .completed(finalWeights: "\(dir!)/continued/vae_final.safetensors"))
            let final = try TrainingCheckpoint.read(path: "\(dir!)/continued/vae_final.safetensors")
            XCTAssertEqual(final.position.continuedFrom, ContinuedRun(path: path, epoch: 1, adamStep: 2))
            XCTAssertEqual(final.position.history.map(\.epoch), [2, 3])
            XCTAssertEqual(final.position.adamStep, 2 + 2 * 3)
        }
        // The continued run resumes as any vae-dist run.
        lines = []
        let (again, more) = try self.trainer(options("continued", epochs: 4), start: .resumeLatest, original: nil, log: { lines.append($0) })
        XCTAssertEqual(more.position.epoch, 3)
        _ = try withExtendedLifetime(again) { try more.run() }
        XCTAssertEqual(try TrainingCheckpoint.read(path: "\(dir!)/continued/vae_final.safetensors").position.history.map(\.epoch), [2, 3, 4])
    }

    func testMismatchesAreRefusedNamingTheFileAndTheFlags() throws {
        let path = "\(dir!)/original/checkpoints/vae_epoch_1.pt"
        try writeOriginal(path)
        let original = try OriginalRun.read(path: path)
        func message(_ o: TrainingOptions, start: RunStart? = nil, _ original: OriginalRun) -> String {
            do { _ = try trainer(o, start: start ?? .continueOriginal(path: original.path), original: original, log: { _ in }) } catch { return "\(error)" }
            XCTFail("expected an error")
            return ""
        }
        var betas = options("a", epochs: 3)
        betas.optimizer.beta2 = 0.99
        let text = message(betas, original)
        for part in ["cannot continue \(path)", "Adam (lr 0.001, betas 0.9,0.999", "betas 0.9,0.99", "--adam_betas"] {
            XCTAssertTrue(text.contains(part), "'\(text)' lacks '\(part)'")
        }
        // In the original's own output directory: its files would be replaced.
        let inPlace = message(options("original", epochs: 3), original)
        XCTAssertTrue(inPlace.contains("holds a run's outputs (\(dir!)/original/checkpoints/vae_epoch_1.pt)"), inPlace)
        XCTAssertTrue(inPlace.contains("give another --output_dir"), inPlace)
        // Fewer --epochs than it has done.
        let later = "\(dir!)/later/vae_epoch_4.pt"
        try writeOriginal(later, epoch: 4)
        XCTAssertTrue(message(options("b", epochs: 3), try OriginalRun.read(path: later)).contains("--epochs 3 is below the 4 epochs \(later) has completed"))
        // Parameters out of ldm's order: the optimizer's indices would point at the wrong tensors.
        let shuffled = "\(dir!)/shuffled.pt"
        try writeOriginal(shuffled, reorder: true)
        XCTAssertTrue(message(options("c", epochs: 3), try OriginalRun.read(path: shuffled)).contains("in another order"))
        // A name that disagrees with the epoch inside is said, and the epoch inside wins (as in the original).
        let misnamed = "\(dir!)/vae_epoch_5.pt"
        try writeOriginal(misnamed)
        var lines: [String] = []
        _ = try trainer(options("d", epochs: 3), start: .continueOriginal(path: misnamed), original: try OriginalRun.read(path: misnamed),
                        log: { lines.append($0) })
        XCTAssertTrue(lines.contains { $0.contains("named for epoch 5 but its 'epoch' says 1") }, "\(lines)")
        // vae-dist's own .pt is not an original checkpoint: it resumes exactly instead.
        var own = options("own", epochs: 1)
        own.saveFormat = .pt
        let (ownRun, ownTrainer) = try trainer(own, start: .fresh(overwrite: false), original: nil, log: { _ in })
        _ = try withExtendedLifetime(ownRun) { try ownTrainer.run() }
        XCTAssertFalse(OriginalRun.isOriginalCheckpoint(path: "\(dir!)/own/vae_final.pt"))
    }
}
