/// Everything that defines a training run (the trainer's flags); stored in every checkpoint.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public var trainDir: String
    public var outputDir = "vae_output"
    public var batchSize = 8
    public var epochs = 100
    public var lr = 1e-4
    public var klWeight = 1.0
    public var imgSize = 256
    public var saveInterval = 10
    public var seed: UInt64 = 0
    public var klReduction: KLReduction = .sum
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var numRecon = 8
    public var initWeights: String?
    public var skipBadImages = false
    public var cacheImages = true
    /// `ImageFolder.fingerprint` of the images trained on (set by the trainer; nil in older checkpoints).
    public var dataset: String?

    public init(trainDir: String) { self.trainDir = trainDir }

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case trainDir = "train_dir", outputDir = "output_dir", batchSize = "batch_size", epochs, lr
        case klWeight = "kl_weight", imgSize = "img_size", saveInterval = "save_interval", seed
        case klReduction = "kl_reduction", beta1, beta2, numRecon = "num_recon", initWeights = "init_weights"
        case skipBadImages = "skip_bad_images", cacheImages = "cache_images", dataset
    }
}

/// Whether a resumed run may differ from its checkpoint in an option.
public enum ResumeRule: Equatable, Sendable {
    /// It changes the trajectory (the data order, the noise, the loss, the optimizer): refused.
    case mustMatch
    /// Accepted, and logged.
    case mayChange
    /// Accepted with a warning that the run is no longer the one an uninterrupted run would have been.
    case mayChangeWithWarning
}

extension TrainingOptions {
    /// The one table of what a resume may change, and each option's value as the user wrote it. The switch is
    /// exhaustive, so a new option does not compile until it is classified here. (Threads and ranks are not
    /// options of the run: they may always change. The model config is checked against the checkpoint's.)
    public func resumeTerms(_ key: CodingKeys) -> (name: String, rule: ResumeRule, value: String) {
        switch key {
        case .imgSize: return ("--img_size", .mustMatch, "\(imgSize)")
        case .batchSize: return ("--batch_size", .mustMatch, "\(batchSize)")
        case .seed: return ("--seed", .mustMatch, "\(seed)")
        case .klWeight: return ("--kl_weight", .mustMatch, "\(klWeight)")
        case .klReduction: return ("--kl_reduction", .mustMatch, klReduction.rawValue)
        case .beta1: return ("--adam_betas (beta1)", .mustMatch, "\(beta1)")
        case .beta2: return ("--adam_betas (beta2)", .mustMatch, "\(beta2)")
        case .dataset: return ("the data set (--train_dir after --skip_bad_images)", .mustMatch, dataset ?? "unknown")
        case .lr: return ("--lr", .mayChangeWithWarning, "\(lr)")
        case .epochs: return ("--epochs", .mayChange, "\(epochs)")
        case .saveInterval: return ("--save_interval", .mayChange, "\(saveInterval)")
        case .numRecon: return ("--num_recon", .mayChange, "\(numRecon)")
        case .cacheImages: return ("--cache_images", .mayChange, "\(cacheImages)")
        // Their effect on the data is in the data set's fingerprint; the weights come from the checkpoint.
        case .trainDir: return ("--train_dir", .mayChange, trainDir)
        case .skipBadImages: return ("--skip_bad_images", .mayChange, "\(skipBadImages)")
        case .initWeights: return ("--init_weights", .mayChange, initWeights ?? "none")
        case .outputDir: return ("--output_dir", .mayChange, outputDir)
        }
    }

    /// Compares the options `given` for a resume with these, stored in `checkpoint`: throws one error listing every
    /// option that must not change, stored and given value side by side; returns the accepted changes as log lines.
    /// A data set unknown on either side (older checkpoints, sources without files) is not compared.
    public func resumeChanges(given: TrainingOptions, checkpoint: String) throws -> [String] {
        var refused: [String] = [], accepted: [String] = []
        for key in CodingKeys.allCases {
            let (stored, new) = (resumeTerms(key), given.resumeTerms(key))
            guard stored.value != new.value, key != .dataset || (dataset != nil && given.dataset != nil) else { continue }
            let line = "\(stored.name): checkpoint \(stored.value), now \(new.value)"
            switch stored.rule {
            case .mustMatch: refused.append(line)
            case .mayChange: accepted.append("resume changes " + line)
            case .mayChangeWithWarning:
                accepted.append("warning: resume changes \(line); the run now differs from an uninterrupted one")
            }
        }
        guard refused.isEmpty else {
            throw IOFailure("cannot resume from \(checkpoint): these settings change the training itself and must stay as they were:\n"
                            + refused.map { "  " + $0 }.joined(separator: "\n")
                            + "\nGive the checkpoint's values, or start a new run in another --output_dir.")
        }
        return accepted
    }
}

/// One epoch's line of training_history.json.
public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var totalLoss: Double
    public var reconLoss: Double
    public var klLoss: Double
    public var lr: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Share of step time spent blocked on the gradient all-reduce.
    public var commShare: Double

    enum CodingKeys: String, CodingKey {
        case epoch, lr, seconds
        case totalLoss = "total_loss", reconLoss = "recon_loss", klLoss = "kl_loss"
        case imagesPerSecond = "images_per_second", commShare = "comm_share"
    }
}

/// Where a run is and what it has summed so far in the current epoch: enough to resume mid-epoch.
public struct TrainingPosition: Codable, Equatable, Sendable {
    /// Completed epochs (the epoch in progress, 0-based).
    public var epoch = 0
    /// Completed steps of the epoch in progress.
    public var step = 0
    public var adamStep = 0
    /// Loss sums weighted by samples, samples, seconds and communication wait of the epoch in progress.
    public var totalSum = 0.0, reconSum = 0.0, klSum = 0.0
    public var samples = 0
    public var seconds = 0.0, waitSeconds = 0.0
    public var history: [EpochRecord] = []

    public init() {}
}
