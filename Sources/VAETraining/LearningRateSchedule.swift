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
