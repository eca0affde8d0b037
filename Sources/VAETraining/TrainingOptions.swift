import VAECore
import VAEFormats
import VAEJobs

/// `--augment`: label-free changes applied to training images, decided per (seed, epoch, sample).
public enum Augmentation: String, Codable, CaseIterable, Sendable {
    case none
    /// Horizontal flip of half the samples (ultrasound images are left-right symmetric in meaning).
    case hflip
}

/// `--save_format`: the files a checkpoint is written as.
public enum SaveFormat: String, Codable, CaseIterable, Sendable {
    /// `.safetensors` with vae-dist's metadata (what every command reads).
    case safetensors
    /// `.pt` in the original tool's torch.save layout (`TorchTrainingCheckpoint`), which resumes in vae-dist too.
    case pt
    /// Both, side by side.
    case both

    /// The file suffixes written, safetensors first.
    public var suffixes: [String] {
        switch self {
        case .safetensors: return [".safetensors"]
        case .pt: return [".pt"]
        case .both: return [".safetensors", ".pt"]
        }
    }
}

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
    public var optimizer = OptimizerSettings()
    public var schedule = LearningRateSchedule()
    /// Global gradient norm bound (0: no clipping).
    public var gradClip = 0.0
    /// Decay of the exponential moving average of the weights (nil: none kept).
    public var emaDecay: Double?
    /// Micro-batches of `batchSize` per optimizer step.
    public var gradAccum = 1
    public var numRecon = 8
    public var initWeights: String?
    public var skipBadImages = false
    public var cacheImages = true
    public var data = DataSelection()
    public var augment = Augmentation.none
    public var validation = ValidationOptions()
    /// A log line every N optimizer steps (nil: about every 30 seconds).
    public var logEvery: Int?
    public var saveFormat = SaveFormat.safetensors
    /// `ImageFolder.fingerprint` of the images trained on (set by the trainer; nil in older checkpoints).
    public var dataset: String?
    /// The model's convolution arithmetic (`ConvolutionArithmetic`, as result files word it; set by the trainer,
    /// nil in older checkpoints): --fast_conv changes results by rounding, so a resume that changes it says so.
    public var convolution: String?

    public init(trainDir: String) { self.trainDir = trainDir }

    /// Samples per optimizer step.
    public var stepBatch: Int { batchSize * gradAccum }

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case trainDir = "train_dir", outputDir = "output_dir", batchSize = "batch_size", epochs, lr
        case klWeight = "kl_weight", imgSize = "img_size", saveInterval = "save_interval", seed
        case klReduction = "kl_reduction", optimizer, schedule = "lr_schedule", gradClip = "grad_clip"
        case emaDecay = "ema_decay", gradAccum = "grad_accum", numRecon = "num_recon", initWeights = "init_weights"
        case skipBadImages = "skip_bad_images", cacheImages = "cache_images", data, augment, validation
        case logEvery = "log_every", dataset, convolution, saveFormat = "save_format"
    }

    /// Options added in later versions are absent from older checkpoints: those take their defaults.
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainingOptions(trainDir: try c.decode(String.self, forKey: .trainDir))
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        self = defaults
        outputDir = try value(.outputDir, defaults.outputDir)
        batchSize = try value(.batchSize, defaults.batchSize)
        epochs = try value(.epochs, defaults.epochs)
        lr = try value(.lr, defaults.lr)
        klWeight = try value(.klWeight, defaults.klWeight)
        imgSize = try value(.imgSize, defaults.imgSize)
        saveInterval = try value(.saveInterval, defaults.saveInterval)
        seed = try value(.seed, defaults.seed)
        klReduction = try value(.klReduction, defaults.klReduction)
        optimizer = try value(.optimizer, defaults.optimizer)
        schedule = try value(.schedule, defaults.schedule)
        gradClip = try value(.gradClip, defaults.gradClip)
        emaDecay = try c.decodeIfPresent(Double.self, forKey: .emaDecay)
        gradAccum = try value(.gradAccum, defaults.gradAccum)
        numRecon = try value(.numRecon, defaults.numRecon)
        initWeights = try c.decodeIfPresent(String.self, forKey: .initWeights)
        skipBadImages = try value(.skipBadImages, defaults.skipBadImages)
        cacheImages = try value(.cacheImages, defaults.cacheImages)
        data = try value(.data, defaults.data)
        augment = try value(.augment, defaults.augment)
        validation = try value(.validation, defaults.validation)
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery)
        saveFormat = try value(.saveFormat, defaults.saveFormat)
        dataset = try c.decodeIfPresent(String.self, forKey: .dataset)
        convolution = try c.decodeIfPresent(String.self, forKey: .convolution)
    }
}

/// Held-out images reconstructed each `interval` epochs.
public struct ValidationOptions: Codable, Equatable, Sendable {
    public var directory: String?
    /// Share of the training images set aside by a seeded split (0: none).
    public var fraction = 0.0
    public var interval = 1
    /// Keep vae_best.safetensors: the weights of the lowest validation loss so far.
    public var keepBest = false

    public init() {}

    enum CodingKeys: String, CodingKey { case directory = "val_dir", fraction = "val_fraction", interval = "val_interval", keepBest = "keep_best" }
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
    /// Held-out metrics, for the epochs that ran validation.
    public var validation: ValidationMetrics?

    enum CodingKeys: String, CodingKey {
        case epoch, lr, seconds
        case totalLoss = "total_loss", reconLoss = "recon_loss", klLoss = "kl_loss"
        case imagesPerSecond = "images_per_second", commShare = "comm_share"
        case validation
    }

    /// The validation metrics sit beside the training ones (`val_recon_loss`, …), as one flat record.
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        totalLoss = try c.decode(Double.self, forKey: .totalLoss)
        reconLoss = try c.decode(Double.self, forKey: .reconLoss)
        klLoss = try c.decode(Double.self, forKey: .klLoss)
        lr = try c.decode(Double.self, forKey: .lr)
        seconds = try c.decode(Double.self, forKey: .seconds)
        imagesPerSecond = try c.decode(Double.self, forKey: .imagesPerSecond)
        commShare = try c.decode(Double.self, forKey: .commShare)
        validation = try ValidationMetrics.decodeIfPresent(from: decoder)
    }

    public func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(totalLoss, forKey: .totalLoss)
        try c.encode(reconLoss, forKey: .reconLoss)
        try c.encode(klLoss, forKey: .klLoss)
        try c.encode(lr, forKey: .lr)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(imagesPerSecond, forKey: .imagesPerSecond)
        try c.encode(commShare, forKey: .commShare)
        try validation?.encode(to: encoder)
    }

    public init(epoch: Int, totalLoss: Double, reconLoss: Double, klLoss: Double, lr: Double, seconds: Double,
                imagesPerSecond: Double, commShare: Double, validation: ValidationMetrics? = nil) {
        (self.epoch, self.totalLoss, self.reconLoss, self.klLoss) = (epoch, totalLoss, reconLoss, klLoss)
        (self.lr, self.seconds, self.imagesPerSecond, self.commShare) = (lr, seconds, imagesPerSecond, commShare)
        self.validation = validation
    }
}

/// Where a run is and what it has summed so far in the current epoch: enough to resume mid-epoch.
public struct TrainingPosition: Codable, Equatable, Sendable {
    /// Completed epochs (the epoch in progress, 0-based).
    public var epoch = 0
    /// Completed steps of the epoch in progress.
    public var step = 0
    /// Optimizer steps taken in the whole run.
    public var adamStep = 0
    /// Loss sums weighted by samples, samples, seconds and communication wait of the epoch in progress.
    public var totalSum = 0.0, reconSum = 0.0, klSum = 0.0
    public var samples = 0
    public var seconds = 0.0, waitSeconds = 0.0
    public var history: [EpochRecord] = []
    /// The lowest validation loss so far (what --keep_best compares with).
    public var bestValidationLoss: Double?
    /// Set when the run continues one of the original PyTorch tool: its epochs and steps come first, and the
    /// history holds this run's epochs only.
    public var continuedFrom: ContinuedRun?
    /// The optimizer's learning rate when the checkpoint was written (torch keeps it in its param group; nil in
    /// older checkpoints).
    public var lr: Double?

    public init() {}
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
        case .optimizer: return ("--optimizer and its settings", .mustMatch, describe(optimizer))
        case .gradClip: return ("--grad_clip", .mustMatch, "\(gradClip)")
        case .emaDecay: return ("--ema_decay", .mustMatch, emaDecay.map { "\($0)" } ?? "none")
        case .gradAccum: return ("--grad_accum", .mustMatch, "\(gradAccum)")
        case .augment: return ("--augment", .mustMatch, augment.rawValue)
        case .schedule: return ("--lr_schedule and its settings", .mayChangeWithWarning, describe(schedule))
        case .dataset: return ("the data set (--train_dir after --skip_bad_images)", .mustMatch, dataset ?? "unknown")
        case .lr: return ("--lr", .mayChangeWithWarning, "\(lr)")
        case .convolution: return ("the convolution arithmetic (--fast_conv, --exact_conv)", .mayChangeWithWarning, convolution ?? "unknown")
        case .epochs: return ("--epochs", .mayChange, "\(epochs)")
        case .saveInterval: return ("--save_interval", .mayChange, "\(saveInterval)")
        case .numRecon: return ("--num_recon", .mayChange, "\(numRecon)")
        case .cacheImages: return ("--cache_images", .mayChange, "\(cacheImages)")
        // Their effect on the data is in the data set's fingerprint; the weights come from the checkpoint.
        case .trainDir: return ("--train_dir", .mayChange, trainDir)
        case .skipBadImages: return ("--skip_bad_images", .mayChange, "\(skipBadImages)")
        case .initWeights: return ("--init_weights", .mayChange, initWeights ?? "none")
        case .outputDir: return ("--output_dir", .mayChange, outputDir)
        case .data: return ("--recursive/--exclude/--train_list", .mayChange, describe(data))
        case .validation: return ("--val_dir/--val_fraction/--val_interval/--keep_best", .mayChange, describe(validation))
        case .logEvery: return ("--log_every", .mayChange, logEvery.map { "\($0)" } ?? "about every 30 s")
        case .saveFormat: return ("--save_format", .mayChange, saveFormat.rawValue)
        }
    }

    /// Compares the options `given` for a resume with these, stored in `checkpoint`: throws one error listing every
    /// option that must not change, stored and given value side by side; returns the accepted changes as log lines.
    /// A data set or arithmetic unknown on either side (older checkpoints, sources without files) is not compared.
    public func resumeChanges(given: TrainingOptions, checkpoint: String) throws -> [String] {
        var refused: [String] = [], accepted: [String] = []
        for key in CodingKeys.allCases {
            let (stored, new) = (resumeTerms(key), given.resumeTerms(key))
            guard stored.value != new.value, isRecorded(key), given.isRecorded(key) else { continue }
            let line = "\(stored.name): checkpoint \(stored.value), now \(new.value)"
            switch stored.rule {
            case .mustMatch: refused.append(line)
            case .mayChange: accepted.append("resume changes " + line)
            case .mayChangeWithWarning:
                accepted.append("warning: resume changes \(line); the run now differs from an uninterrupted one")
            }
        }
        guard refused.isEmpty else {
            throw VAEDistError("cannot resume from \(checkpoint): these settings change the training itself and must stay as they were:\n"
                            + refused.map { "  " + $0 }.joined(separator: "\n")
                            + "\nGive the checkpoint's values, or start a new run in another --output_dir.")
        }
        return accepted
    }

    /// Whether the value of `key` is known: fields that older checkpoints lack are nil there.
    private func isRecorded(_ key: CodingKeys) -> Bool {
        switch key {
        case .dataset: dataset != nil
        case .convolution: convolution != nil
        default: true
        }
    }

    private func describe<T: Encodable>(_ value: T) -> String { (try? CheckpointMetadata.json(value)) ?? "\(value)" }
}
