import ArgumentParser
import Foundation
import VAECore
import VAETraining

/// A flag's names: each snake_case name (the original tool's spelling) followed by its kebab-case twin.
func snakeAndKebab(_ names: String...) -> NameSpecification {
    var spellings: [String] = []
    for name in names {
        for spelling in [name, name.replacingOccurrences(of: "_", with: "-")] where !spellings.contains(spelling) {
            spellings.append(spelling)
        }
    }
    return NameSpecification(spellings.map { .customLong($0) })
}

extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateShape: ExpressibleByArgument {}
extension Augmentation: ExpressibleByArgument {}
extension SaveFormat: ExpressibleByArgument {}

/// Train's flags are declared from `TrainingOptions.table` (names, help, default); their values go in with
/// `TrainingOptions.set`, which refuses a value outside the option's bound. ArgumentParser needs one property per
/// flag, so the property is the one thing a flag adds here.
extension TrainingOption {
    var flagNames: NameSpecification { snakeAndKebab(name) }
    var flagHelp: ArgumentHelp {
        guard let help else { preconditionFailure("\(flag) has no flag of its own in TrainingOptions.table") }
        return ArgumentHelp(help)
    }
}

extension Option where Value: ExpressibleByArgument {
    init(_ path: WritableKeyPath<TrainingOptions, Value>) {
        let option = TrainingOptions.option(path)
        self.init(wrappedValue: TrainingOptions.defaults[keyPath: path], name: option.flagNames, help: option.flagHelp)
    }
}

extension Option {
    init<Wrapped: ExpressibleByArgument>(_ path: WritableKeyPath<TrainingOptions, Wrapped?>) where Value == Wrapped? {
        let option = TrainingOptions.option(path)
        self.init(name: option.flagNames, help: option.flagHelp)
    }

    /// A flag that may be left out although the option always has a value (--train_list replaces --train_dir).
    init(optional path: WritableKeyPath<TrainingOptions, String>) where Value == String? {
        let option = TrainingOptions.option(path)
        self.init(name: option.flagNames, help: option.flagHelp)
    }
}

extension Flag where Value == Bool {
    init(_ path: WritableKeyPath<TrainingOptions, Bool>) {
        let option = TrainingOptions.option(path)
        self.init(wrappedValue: TrainingOptions.defaults[keyPath: path], name: option.flagNames, help: option.flagHelp)
    }
}

/// The flags a training run is mostly given (the original tool's, with --resume): first in train's --help.
struct CoreTrainingFlags: ParsableArguments {
    @Option(optional: \.trainDir) var trainDir: String?
    @Option(\.outputDir) var outputDir: String
    @Option(\.batchSize) var batchSize: Int
    @Option(\.epochs) var epochs: Int
    @Option(\.lr) var lr: Double
    @Option(\.klWeight) var klWeight: Double
    @Option(\.saveInterval) var saveInterval: Int

    @Option(help: "Resume from a checkpoint PATH (vae-dist's .safetensors or .pt; a .pt of the original PyTorch tool continues its run: weights, optimizer state and epoch), or 'auto' = the newest readable checkpoint of --output_dir's run.")
    var resume: String?

    func apply(to o: inout TrainingOptions) throws {
        o.trainDir = trainDir ?? ""
        try o.set(\.outputDir, outputDir)
        try o.set(\.batchSize, batchSize)
        try o.set(\.epochs, epochs)
        try o.set(\.lr, lr)
        try o.set(\.klWeight, klWeight)
        try o.set(\.saveInterval, saveInterval)
    }
}

/// The run's other settings: seed, loss reduction, starting weights, checkpoints, grids, image loading.
struct RunFlags: ParsableArguments {
    @Option(\.seed) var seed: UInt64
    @Option(\.klReduction) var klReduction: KLReduction
    @Option(\.initWeights) var initWeights: String?
    @Option(\.saveFormat) var saveFormat: SaveFormat
    @Option(\.numRecon) var numRecon: Int
    @Flag(\.skipBadImages) var skipBadImages: Bool
    @Option(\.cacheImages) var cacheImages: Bool

    @Flag(help: "Start a new run in an --output_dir that holds an earlier run's checkpoints, removing that run's outputs (the files named as a run names them; nothing else). Refused for '.', '..' and folders holding the working directory.")
    var overwrite = false

    @Flag(help: quietHelp)
    var quiet = false

    func apply(to o: inout TrainingOptions) throws {
        try o.set(\.seed, seed)
        try o.set(\.klReduction, klReduction)
        try o.set(\.initWeights, initWeights)
        try o.set(\.saveFormat, saveFormat)
        try o.set(\.numRecon, numRecon)
        try o.set(\.skipBadImages, skipBadImages)
        try o.set(\.cacheImages, cacheImages)
    }
}

/// How the weights move: optimizer, learning-rate schedule, clipping, averaging, accumulation.
struct OptimizationFlags: ParsableArguments {
    // These three are read together (torch's default weight decay depends on the optimizer), and coded in the
    // optimizer's settings: TrainingOptions.table has no entry of their own.
    @Option(help: "Update rule, with torch.optim's semantics: adam, adamw (decoupled weight decay) or sgd.")
    var optimizer: OptimizerKind = .adam

    @Option(name: snakeAndKebab("adam_betas"), help: "Adam/AdamW betas as 'beta1,beta2'.")
    var adamBetas = "0.9,0.999"

    @Option(name: snakeAndKebab("weight_decay"), help: "Weight decay (default: torch's, 0.01 for adamw and 0 otherwise).")
    var weightDecay: Double?

    @Option(\.optimizer.momentum) var momentum: Double
    @Option(\.optimizer.dampening) var dampening: Double
    @Flag(\.optimizer.nesterov) var nesterov: Bool
    @Option(\.schedule.shape) var lrSchedule: LearningRateShape
    @Option(\.schedule.warmupSteps) var warmupSteps: Int
    @Option(\.schedule.minLR) var minLR: Double
    @Option(\.schedule.stepSizeEpochs) var lrStepSize: Int
    @Option(\.schedule.gamma) var lrGamma: Double
    @Option(\.gradClip) var gradClip: Double
    @Option(\.emaDecay) var emaDecay: Double?
    @Option(\.gradAccum) var gradAccum: Int

    /// After the core flags: the schedule is checked against --lr.
    func apply(to o: inout TrainingOptions) throws {
        o.optimizer = .defaults(for: optimizer)
        let parts = adamBetas.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let b1 = parts[0], let b2 = parts[1] else {
            throw VAEDistError("--adam_betas must be two numbers in [0, 1) like 0.9,0.999, got '\(adamBetas)'")
        }
        (o.optimizer.beta1, o.optimizer.beta2) = (b1, b2)
        if let weightDecay { o.optimizer.weightDecay = weightDecay }
        try o.set(\.optimizer.momentum, momentum)
        try o.set(\.optimizer.dampening, dampening)
        try o.set(\.optimizer.nesterov, nesterov)
        try o.optimizer.validate()
        try o.set(\.schedule.shape, lrSchedule)
        try o.set(\.schedule.warmupSteps, warmupSteps)
        try o.set(\.schedule.minLR, minLR)
        try o.set(\.schedule.stepSizeEpochs, lrStepSize)
        try o.set(\.schedule.gamma, lrGamma)
        try o.schedule.validate(baseLR: o.lr)
        try o.set(\.gradClip, gradClip)
        try o.set(\.emaDecay, emaDecay)
        try o.set(\.gradAccum, gradAccum)
    }
}

/// Which images train, which are held out, and what is logged.
struct DataFlags: ParsableArguments {
    @Flag(\.data.recursive) var recursive: Bool

    // A list in the options (coded with the data selection), comma-separated here.
    @Option(help: "Comma-separated glob patterns of file names to leave out ('' for none).")
    var exclude = "*_mask*"

    @Option(\.data.trainList) var trainList: String?
    @Option(\.augment) var augment: Augmentation
    @Option(\.validation.directory) var valDir: String?
    @Option(\.validation.fraction) var valFraction: Double
    @Option(\.validation.interval) var valInterval: Int
    @Flag(\.validation.keepBest) var keepBest: Bool
    @Option(\.logEvery) var logEvery: Int?
    @Option(\.tensorboard) var tensorboard: Bool

    func apply(to o: inout TrainingOptions) throws {
        try o.set(\.data.recursive, recursive)
        o.data.exclude = exclude.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        try o.set(\.data.trainList, trainList)
        try o.set(\.augment, augment)
        try o.set(\.validation.directory, valDir)
        try o.set(\.validation.fraction, valFraction)
        try o.set(\.validation.interval, valInterval)
        try o.set(\.validation.keepBest, keepBest)
        try o.set(\.logEvery, logEvery)
        try o.set(\.tensorboard, tensorboard)
    }
}
