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

    public init(trainDir: String) { self.trainDir = trainDir }

    enum CodingKeys: String, CodingKey {
        case trainDir = "train_dir", outputDir = "output_dir", batchSize = "batch_size", epochs, lr
        case klWeight = "kl_weight", imgSize = "img_size", saveInterval = "save_interval", seed
        case klReduction = "kl_reduction", beta1, beta2, numRecon = "num_recon", initWeights = "init_weights"
        case skipBadImages = "skip_bad_images", cacheImages = "cache_images"
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
