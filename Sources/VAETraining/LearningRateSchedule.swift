import Foundation
import VAECore

/// `--lr_schedule`: how the learning rate moves over the optimizer steps of a run.
public enum LearningRateShape: String, Codable, CaseIterable, Sendable {
    case constant
    /// Half a cosine from the base rate down to `--min_lr` at the last step.
    case cosine
    /// torch's StepLR: multiplied by `--lr_gamma` every `--lr_step_size` epochs, never below `--min_lr`.
    case step
}

public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public var shape: LearningRateShape = .constant
    /// Linear ramp from base/warmup to base over the first optimizer steps (before any shape applies).
    public var warmupSteps = 0
    public var minLR = 0.0
    public var stepSizeEpochs = 30
    public var gamma = 0.1

    public init() {}

    public func validate(baseLR: Double) throws {
        guard warmupSteps >= 0 else { throw VAEDistError("--warmup_steps must be ≥ 0, got \(warmupSteps)") }
        guard minLR >= 0, minLR <= baseLR else { throw VAEDistError("--min_lr must lie in [0, --lr \(baseLR)], got \(minLR)") }
        guard stepSizeEpochs >= 1 else { throw VAEDistError("--lr_step_size must be at least 1 epoch, got \(stepSizeEpochs)") }
        guard gamma > 0, gamma <= 1 else { throw VAEDistError("--lr_gamma must lie in (0, 1], got \(gamma)") }
    }

    /// The rate of optimizer step `step` (0-based) in a run of `totalSteps` steps, `stepsPerEpoch` per epoch.
    public func rate(base: Double, step: Int, totalSteps: Int, stepsPerEpoch: Int) -> Double {
        if step < warmupSteps { return base * Double(step + 1) / Double(warmupSteps) }
        switch shape {
        case .constant:
            return base
        case .cosine:
            let span = max(totalSteps - warmupSteps - 1, 1)
            let progress = min(Double(step - warmupSteps) / Double(span), 1)
            return minLR + (base - minLR) * 0.5 * (1 + cos(.pi * progress))
        case .step:
            let epoch = step / max(stepsPerEpoch, 1)
            return max(base * pow(gamma, Double(epoch / stepSizeEpochs)), minLR)
        }
    }
}

extension LearningRateSchedule {
    /// What a resume that changes the run's length does to the rate: the cosine spans the whole run, so a new
    /// --epochs bends the rest of it; the step schedule depends on the epoch alone, so its rate goes on as it was
    /// and only how far it decays changes. `was` is the schedule and base rate of the checkpoint's run;
    /// `nextStep` the 0-based optimizer step the resumed run takes first. nil for a constant rate or the same length.
    public func horizonChange(base: Double, was: (schedule: LearningRateSchedule, base: Double, epochs: Int), epochs: Int,
                              nextStep: Int, stepsPerEpoch: Int) -> String? {
        guard epochs != was.epochs, shape != .constant else { return nil }
        let total = epochs * stepsPerEpoch, oldTotal = was.epochs * stepsPerEpoch
        let next = rate(base: base, step: nextStep, totalSteps: total, stepsPerEpoch: stepsPerEpoch)
        let planned = was.schedule.rate(base: was.base, step: nextStep, totalSteps: oldTotal, stepsPerEpoch: stepsPerEpoch)
        let last = rate(base: base, step: total - 1, totalSteps: total, stepsPerEpoch: stepsPerEpoch)
        let head = "warning: --epochs changes from \(was.epochs) to \(epochs) under --lr_schedule \(shape.rawValue): "
        switch shape {
        case .constant:
            return nil
        case .cosine:
            return head + "the cosine now runs to --min_lr \(format(minLR)) at step \(total) (epoch \(epochs)) instead of step "
                + "\(oldTotal) (epoch \(was.epochs)); the lr continues at \(format(next)) at the next step (\(format(planned)) as "
                + "planned) and follows the \(epochs > was.epochs ? "stretched" : "shortened") curve from there"
        case .step:
            return head + "the step schedule depends on the epoch alone, so the lr continues at \(format(next)) (\(format(planned)) "
                + "as planned), × \(format(gamma)) every \(stepSizeEpochs) epochs; it ends at \(format(last)) in epoch \(epochs)"
        }
    }

    private func format(_ x: Double) -> String { String(format: "%.6g", x) }
}
