import Foundation
import VAECore
import VAETools
import VAETraining
import XCTest

/// Training quality under training's default convolution arithmetic (issue #22): 10 epochs of the small fixture model on
/// phantom images end at a loss within 1 % of the same run with F(2×2) everywhere (`--exact_conv`), on the
/// training loss and on a held-out validation loss.
final class TrainingQualityTests: TemporaryDirectoryTestCase {
    func train(_ arithmetic: ConvolutionArithmetic, images: String) throws -> (history: [EpochRecord], weights: [[Float]]) {
        var o = TrainingOptions(trainDir: images)
        o.outputDir = "\(dir!)/\(arithmetic == .exact ? "exact" : "default")"
        (o.batchSize, o.epochs, o.lr, o.klWeight, o.imgSize, o.seed) = (4, 10, 2e-3, 1e-4, 24, 3)
        (o.saveInterval, o.numRecon, o.validation.fraction) = (10, 2, 0.2)
        let replicas = SingleReplica()
        let data = try TrainingData.prepare(o, replicas: replicas, log: { _ in })
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("vae-small-g32/config.yaml")), arithmetic: arithmetic)
        model.initialize(seed: o.seed)
        _ = try Trainer(model: model, options: o, data: data, replicas: replicas, resumeFrom: nil, stopRequested: { false }).run()
        let history = try TrainingReport.readHistory(path: "\(o.outputDir)/training_history.json")
        return (history, model.namedParameters.map { $0.parameter.value.array })
    }

    func testTenEpochsWithTheDefaultArithmeticEndWithinOnePercentOfF2x2() throws {
        let images = try writePhantoms(PhantomOptions(outputDirectory: "\(dir!)/phantoms", trainingCount: 20, pairCount: 0,
                                                      imageSize: 24, seed: 7)).trainingDirectory
        let chosen = ConvolutionArithmetic.default(for: .training)
        let exact = try train(.exact, images: images)
        let fast = try train(chosen, images: images)
        XCTAssertNotEqual(fast.weights, exact.weights, "the default's F(4×4) parts reach training")
        let (first, last) = (try XCTUnwrap(exact.history.first), try XCTUnwrap(exact.history.last))
        XCTAssertEqual(exact.history.count, 10)
        XCTAssertLessThan(last.totalLoss, 0.5 * first.totalLoss, "the run learns: 10 epochs at least halve the loss")
        let ours = try XCTUnwrap(fast.history.last)
        XCTAssertEqual(ours.totalLoss, last.totalLoss, accuracy: 0.01 * last.totalLoss, "training loss after 10 epochs")
        let (oursVal, exactVal) = (try XCTUnwrap(ours.validation?.reconLoss), try XCTUnwrap(last.validation?.reconLoss))
        XCTAssertEqual(oursVal, exactVal, accuracy: 0.01 * exactVal, "validation reconstruction loss after 10 epochs")
        print(String(format: "after 10 epochs: total loss %.6f (%@) vs %.6f (F(2×2)), validation %.6f vs %.6f",
                     ours.totalLoss, chosen.description, last.totalLoss, oursVal, exactVal))
    }
}
