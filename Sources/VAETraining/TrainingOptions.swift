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

/// Everything that defines a training run (the trainer's flags); stored in every checkpoint. Each field's flag,
/// help, bound, checkpoint key and resume rule are in `TrainingOptions.table` (TrainingOptionsTable.swift).
public struct TrainingOptions: Equatable, Sendable {
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
    /// Write TensorBoard event files in OUTPUT/tensorboard (rank 0).
    public var tensorboard = true
    /// `ImageFolder.fingerprint` of the images trained on (set by the trainer; nil in older checkpoints).
    public var dataset: String?
    /// The model's convolution arithmetic (`ConvolutionArithmetic`, as result files word it; set by the trainer,
    /// nil in older checkpoints): --fast_conv changes results by rounding, so a resume that changes it says so.
    public var convolution: String?

    public init(trainDir: String) { self.trainDir = trainDir }

    /// Samples per optimizer step.
    public var stepBatch: Int { batchSize * gradAccum }
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
