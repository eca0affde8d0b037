@testable import VAETraining
import XCTest

final class LearningRateScheduleTests: XCTestCase {
    func testWarmupThenConstant() {
        var s = LearningRateSchedule()
        s.warmupSteps = 4
        let rates = (0..<6).map { s.rate(base: 1e-3, step: $0, totalSteps: 100, stepsPerEpoch: 10) }
        XCTAssertEqual(rates, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    }

    func testCosineFromBaseToMinimumAtTheLastStep() {
        var s = LearningRateSchedule()
        s.shape = .cosine
        s.minLR = 1e-5
        s.warmupSteps = 10
        let total = 110
        XCTAssertEqual(s.rate(base: 1e-3, step: 9, totalSteps: total, stepsPerEpoch: 11), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(s.rate(base: 1e-3, step: 10, totalSteps: total, stepsPerEpoch: 11), 1e-3, accuracy: 1e-15)
        // Half way through the cosine part: the mean of base and minimum.
        let middle = 10 + (total - 10 - 1) / 2
        XCTAssertEqual(s.rate(base: 1e-3, step: middle, totalSteps: total, stepsPerEpoch: 11),
                       1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(Double.pi * Double(middle - 10) / 99)), accuracy: 1e-15)
        XCTAssertEqual(s.rate(base: 1e-3, step: total - 1, totalSteps: total, stepsPerEpoch: 11), 1e-5, accuracy: 1e-15)
    }

    func testStepDecaysPerEpochBlockDownToMinimum() {
        var s = LearningRateSchedule()
        s.shape = .step
        s.stepSizeEpochs = 2
        s.gamma = 0.5
        s.minLR = 0.2
        let perEpoch = 3
        XCTAssertEqual(s.rate(base: 1, step: 5, totalSteps: 30, stepsPerEpoch: perEpoch), 1)      // epoch 1
        XCTAssertEqual(s.rate(base: 1, step: 6, totalSteps: 30, stepsPerEpoch: perEpoch), 0.5)    // epoch 2
        XCTAssertEqual(s.rate(base: 1, step: 12, totalSteps: 30, stepsPerEpoch: perEpoch), 0.25)  // epoch 4
        XCTAssertEqual(s.rate(base: 1, step: 18, totalSteps: 30, stepsPerEpoch: perEpoch), 0.2)   // floor
    }

    func testValidationNamesTheFlag() {
        var s = LearningRateSchedule()
        s.minLR = 1
        XCTAssertThrowsError(try s.validate(baseLR: 1e-4)) { XCTAssertTrue("\($0)".contains("--min_lr")) }
        s = LearningRateSchedule()
        s.warmupSteps = -1
        XCTAssertThrowsError(try s.validate(baseLR: 1e-4)) { XCTAssertTrue("\($0)".contains("--warmup_steps")) }
    }

    func testAChangedRunLengthIsExplainedForCosineAndStepOnly() throws {
        var cosine = LearningRateSchedule()
        cosine.shape = .cosine
        cosine.minLR = 1e-5
        let text = try XCTUnwrap(cosine.horizonChange(base: 1e-3, was: (cosine, 1e-3, 4), epochs: 8, nextStep: 6, stepsPerEpoch: 3))
        let now = 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(Double.pi * 6 / 23))
        let planned = 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(Double.pi * 6 / 11))
        for part in ["from 4 to 8 under --lr_schedule cosine", "--min_lr 1e-05 at step 24 (epoch 8) instead of step 12 (epoch 4)",
                     "continues at \(String(format: "%.6g", now)) at the next step (\(String(format: "%.6g", planned)) as planned)", "stretched"] {
            XCTAssertTrue(text.contains(part), "'\(text)' lacks '\(part)'")
        }
        var step = LearningRateSchedule()
        step.shape = .step
        step.stepSizeEpochs = 2
        step.gamma = 0.5
        let stepText = try XCTUnwrap(step.horizonChange(base: 1e-3, was: (step, 1e-3, 4), epochs: 8, nextStep: 6, stepsPerEpoch: 3))
        // Epoch 2 (0-based) of blocks of 2: one decay so far; epoch 7 is the third: 1e-3 × 0.5³.
        for part in ["depends on the epoch alone", "continues at 0.0005 (0.0005 as planned)", "× 0.5 every 2 epochs", "ends at 0.000125 in epoch 8"] {
            XCTAssertTrue(stepText.contains(part), "'\(stepText)' lacks '\(part)'")
        }
        XCTAssertNil(LearningRateSchedule().horizonChange(base: 1e-3, was: (LearningRateSchedule(), 1e-3, 4), epochs: 8, nextStep: 6, stepsPerEpoch: 3))
        XCTAssertNil(cosine.horizonChange(base: 1e-3, was: (cosine, 1e-3, 4), epochs: 4, nextStep: 6, stepsPerEpoch: 3))
    }
}
