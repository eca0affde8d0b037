/// `--augment`: label-free changes applied to training images, decided per (seed, epoch, sample).
public enum Augmentation: String, Codable, CaseIterable, Sendable {
    case none
    /// Horizontal flip of half the samples (ultrasound images are left-right symmetric in meaning).
    case hflip
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

    public init(trainDir: String) { self.trainDir = trainDir }

    /// Samples per optimizer step.
    public var stepBatch: Int { batchSize * gradAccum }

    enum CodingKeys: String, CodingKey {
        case trainDir = "train_dir", outputDir = "output_dir", batchSize = "batch_size", epochs, lr
        case klWeight = "kl_weight", imgSize = "img_size", saveInterval = "save_interval", seed
        case klReduction = "kl_reduction", optimizer, schedule = "lr_schedule", gradClip = "grad_clip"
        case emaDecay = "ema_decay", gradAccum = "grad_accum", numRecon = "num_recon", initWeights = "init_weights"
        case skipBadImages = "skip_bad_images", cacheImages = "cache_images", data, augment, validation
        case logEvery = "log_every"
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
    }
}

/// Which files of --train_dir (or --train_list) are training images.
public struct DataSelection: Codable, Equatable, Sendable {
    /// Descend into sub-folders (BUSI keeps classes in benign/, malignant/, normal/).
    public var recursive = false
    /// Glob patterns on file names to leave out; BUSI-style masks (`benign (1)_mask.png`) by default.
    public var exclude = ["*_mask*"]
    /// A file listing one image path per line, instead of a folder.
    public var trainList: String?

    public init() {}

    enum CodingKeys: String, CodingKey { case recursive, exclude, trainList = "train_list" }
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

    public var isEnabled: Bool { directory != nil || fraction > 0 }

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

    public init() {}
}
