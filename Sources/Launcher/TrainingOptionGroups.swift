import ArgumentParser
import VAETraining

/// A flag's snake_case name (the original tool's spelling) and its kebab-case twin.
func snakeAndKebab(_ name: String) -> NameSpecification {
    [.customLong(name), .customLong(name.replacingOccurrences(of: "_", with: "-"))]
}

extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateShape: ExpressibleByArgument {}
extension Augmentation: ExpressibleByArgument {}
extension SaveFormat: ExpressibleByArgument {}

/// How the weights move: optimizer, learning-rate schedule, clipping, averaging, accumulation.
struct OptimizationFlags: ParsableArguments {
    @Option(help: "Update rule, with torch.optim's semantics: adam, adamw (decoupled weight decay) or sgd.")
    var optimizer: OptimizerKind = .adam

    @Option(name: snakeAndKebab("adam_betas"), help: "Adam/AdamW betas as 'beta1,beta2'.")
    var adamBetas = "0.9,0.999"

    @Option(name: snakeAndKebab("weight_decay"), help: "Weight decay (default: torch's, 0.01 for adamw and 0 otherwise).")
    var weightDecay: Double?

    @Option(help: "SGD momentum.")
    var momentum = 0.0

    @Option(help: "SGD dampening of the momentum.")
    var dampening = 0.0

    @Flag(help: "SGD with Nesterov momentum (needs --momentum > 0 and --dampening 0).")
    var nesterov = false

    @Option(name: snakeAndKebab("lr_schedule"), help: "constant, cosine (to --min_lr at the last step) or step (× --lr_gamma every --lr_step_size epochs).")
    var lrSchedule: LearningRateShape = .constant

    @Option(name: snakeAndKebab("warmup_steps"), help: "Optimizer steps of linear warm-up from lr/N to lr.")
    var warmupSteps = 0
    static let warmupStepsRange = 0...1_000_000_000

    @Option(name: snakeAndKebab("min_lr"), help: "The learning rate's floor for the cosine and step schedules.")
    var minLR = 0.0

    @Option(name: snakeAndKebab("lr_step_size"), help: "Epochs between decays of the step schedule.")
    var lrStepSize = 30
    static let lrStepSizeRange = 1...1_000_000

    @Option(name: snakeAndKebab("lr_gamma"), help: "Factor of each decay of the step schedule.")
    var lrGamma = 0.1

    @Option(name: snakeAndKebab("grad_clip"), help: "Clip the global gradient norm to this value (0: off), after the all-reduce.")
    var gradClip = 0.0

    @Option(name: snakeAndKebab("ema_decay"), help: "Keep an exponential moving average of the weights with this decay (e.g. 0.999); saved as vae_final_ema.safetensors.")
    var emaDecay: Double?

    @Option(name: snakeAndKebab("grad_accum"), help: "Micro-batches of --batch_size per optimizer step: the step sees batch_size × N images.")
    var gradAccum = 1
    static let gradAccumRange = 1...65_536

    func validate() throws {
        _ = try settings()
        try checkRange(gradAccum, Self.gradAccumRange, flag: "--grad_accum")
        try checkRange(warmupSteps, Self.warmupStepsRange, flag: "--warmup_steps")
        try checkRange(lrStepSize, Self.lrStepSizeRange, flag: "--lr_step_size")
        if !(gradClip >= 0 && gradClip.isFinite) { throw ValidationError("--grad_clip must be ≥ 0, got \(gradClip)") }
        if let emaDecay, !(emaDecay > 0 && emaDecay < 1) { throw ValidationError("--ema_decay must lie in (0, 1), got \(emaDecay)") }
    }

    func settings() throws -> OptimizerSettings {
        var s = OptimizerSettings.defaults(for: optimizer)
        let parts = adamBetas.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let b1 = parts[0], let b2 = parts[1] else {
            throw ValidationError("--adam_betas must be two numbers in [0, 1) like 0.9,0.999, got '\(adamBetas)'")
        }
        (s.beta1, s.beta2) = (b1, b2)
        if let weightDecay { s.weightDecay = weightDecay }
        (s.momentum, s.dampening, s.nesterov) = (momentum, dampening, nesterov)
        do { try s.validate() } catch { throw ValidationError("\(error)") }
        return s
    }

    func schedule(baseLR: Double) throws -> LearningRateSchedule {
        var s = LearningRateSchedule()
        (s.shape, s.warmupSteps, s.minLR, s.stepSizeEpochs, s.gamma) = (lrSchedule, warmupSteps, minLR, lrStepSize, lrGamma)
        do { try s.validate(baseLR: baseLR) } catch { throw ValidationError("\(error)") }
        return s
    }
}

/// Which images train, which are held out, and what is logged.
struct DataFlags: ParsableArguments {
    @Flag(help: "Also take images from the sub-folders of --train_dir (e.g. BUSI's benign/, malignant/, normal/).")
    var recursive = false

    @Option(help: "Comma-separated glob patterns of file names to leave out ('' for none).")
    var exclude = "*_mask*"

    @Option(name: snakeAndKebab("train_list"), help: "A file with one image path per line (relative to the file's folder), instead of --train_dir.")
    var trainList: String?

    @Option(help: "none, or hflip: mirror half the samples, decided per (seed, epoch, sample).")
    var augment: Augmentation = .none

    @Option(name: snakeAndKebab("val_dir"), help: "Folder of held-out images, reconstructed every --val_interval epochs.")
    var valDir: String?

    @Option(name: snakeAndKebab("val_fraction"), help: "Hold out this share of the training images (a seeded split, listed in validation_images.txt).")
    var valFraction = 0.0

    @Option(name: snakeAndKebab("val_interval"), help: "Validate every N epochs (and after the last).")
    var valInterval = 1
    static let valIntervalRange = 1...1_000_000

    @Flag(name: snakeAndKebab("keep_best"), help: "Keep vae_best.safetensors, the checkpoint of the lowest validation loss.")
    var keepBest = false

    @Option(name: snakeAndKebab("log_every"), help: "A progress line every N optimizer steps (default: about every 30 s).")
    var logEvery: Int?
    static let logEveryRange = 1...1_000_000_000

    func validate() throws {
        if valDir != nil && valFraction > 0 { throw ValidationError("give --val_dir or --val_fraction, not both") }
        if !(0..<1).contains(valFraction) { throw ValidationError("--val_fraction must lie in [0, 1), got \(valFraction)") }
        try checkRange(valInterval, Self.valIntervalRange, flag: "--val_interval")
        if keepBest && valDir == nil && valFraction == 0 { throw ValidationError("--keep_best needs a validation set: --val_dir or --val_fraction") }
        if let logEvery { try checkRange(logEvery, Self.logEveryRange, flag: "--log_every") }
    }

    func apply(to o: inout TrainingOptions) {
        o.data.recursive = recursive
        o.data.exclude = exclude.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        o.data.trainList = trainList
        o.augment = augment
        (o.validation.directory, o.validation.fraction) = (valDir, valFraction)
        (o.validation.interval, o.validation.keepBest) = (valInterval, keepBest)
        o.logEvery = logEvery
    }
}
