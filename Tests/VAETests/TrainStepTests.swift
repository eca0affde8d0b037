@testable import VAECore
@testable import VAEJobs
@testable import VAETools
@testable import VAETraining
import XCTest

/// The trainer's optimizer step as `vae-dist bench` times it: the phase hook, and the bench's phases built from it.
final class TrainStepTests: XCTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    func testPhasesEndInOrderOncePerMicroBatch() throws {
        let model = AutoencoderKL(config)
        model.initialize(seed: 1)
        var options = TrainingOptions(trainDir: "random images")
        (options.batchSize, options.gradAccum, options.imgSize) = (2, 2, 16)
        var rng = SplitMix64(seed: 2)
        let images = CachedImages(size: 16, count: 4, bytes: (0..<4 * 3 * 16 * 16).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let replicas = SingleReplica()
        let step = TrainingStep(model: model, images: images, options: options, loss: VAELoss(klWeight: 0.01),
                                optimizer: Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-3), ema: nil,
                                buckets: GradientBuckets(groups: model.backwardGroups, replicas: replicas), replicas: replicas)
        var phases: [StepPhase] = []
        let outcome = try step.run([0, 1, 2, 3], next: [], epoch: 0) { phases.append($0) }
        XCTAssertEqual(phases, [.forward, .backward, .forward, .backward, .allreduceWait, .optimizer])
        XCTAssertEqual(step.optimizer.step, 1)
        XCTAssertGreaterThan(outcome.losses.reconstruction, 0)
        XCTAssertGreaterThan(outcome.gradNorm, 0)
    }

    func testBenchReportsTheStepsPhasesAddingUpToTheStep() throws {
        let result = try Benchmark.train(model: AutoencoderKL(config), imgSize: 16, batchSize: 2, steps: 1, replicas: SingleReplica())
        XCTAssertEqual(Set(result.phases.keys), ["forward", "backward", "allreduce_wait", "optimizer"])
        // With one measured step the medians are that step's times.
        XCTAssertEqual(result.phases.values.reduce(0, +), result.secondsPerStep, accuracy: 1e-9)
        XCTAssertGreaterThan(result.phases["forward"]!, 0)
        XCTAssertGreaterThan(result.phases["backward"]!, 0)
        XCTAssertGreaterThan(result.phases["optimizer"]!, 0)
    }

    func testBenchWithGradAccumStepsOverEveryMicroBatch() throws {
        let result = try Benchmark.train(model: AutoencoderKL(config), imgSize: 16, batchSize: 1, gradAccum: 3, steps: 1,
                                         replicas: SingleReplica())
        XCTAssertEqual(result.gradAccum, 3)
        XCTAssertEqual(result.itemsPerSecond, 3 / result.secondsPerStep, accuracy: 1e-9 * result.itemsPerSecond)
        XCTAssertEqual(result.phases.values.reduce(0, +), result.secondsPerStep, accuracy: 1e-9)
    }
}
