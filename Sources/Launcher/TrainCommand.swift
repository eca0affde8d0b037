import ArgumentParser
import Distributed
import Foundation
import VAE

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a VAE from scratch (or from given weights), data-parallel over MPI ranks.",
        discussion: """
            Run as `vae-dist train …` (one process) or `mpirun -np N vae-dist train …`. --batch_size is the \
            global batch, split over the ranks; every rank count gives the same run up to float summation order.

            Outputs (rank 0): checkpoints/vae_epoch_N.safetensors, reconstructions/recon_epoch_N.png, \
            training_history.json, training_curves.png and vae_final.safetensors in --output_dir.

            SIGUSR1 (to mpirun or to the process), SIGTERM or SIGINT stop training at the next step with a \
            resumable checkpoint; continue with --resume auto.
            """)

    @Option(name: [.customLong("train_dir"), .customLong("train-dir")], help: "Folder of training images (png/jpg/jpeg, not recursive).")
    var trainDir: String

    @Option(name: [.customLong("config_path"), .customLong("config-path"), .customLong("config")],
            help: "Model config (SD yaml or its first_stage_config params). Default: the SD v1 VAE.")
    var configPath: String?

    @Option(name: [.customLong("output_dir"), .customLong("output-dir")], help: "Where outputs go.")
    var outputDir = "vae_output"

    @Option(name: [.customLong("batch_size"), .customLong("batch-size")], help: "Global batch size (split over ranks).")
    var batchSize = 8

    @Option(help: "Number of epochs.")
    var epochs = 100

    @Option(help: "Adam learning rate.")
    var lr = 1e-4

    @Option(name: [.customLong("kl_weight"), .customLong("kl-weight")], help: "Weight of the KL term.")
    var klWeight = 1.0

    @Option(name: [.customLong("img_size"), .customLong("img-size")], help: "Images are resized to img_size × img_size.")
    var imgSize = 256

    @Option(name: [.customLong("save_interval"), .customLong("save-interval")], help: "Checkpoint and reconstruction grid every N epochs.")
    var saveInterval = 10

    @Option(help: "Accepted for the original tool's scripts; only 'cpu' is valid (scale with mpirun instead).")
    var device = "cpu"

    @Option(help: "Seed of initialisation, data order and noise.")
    var seed: UInt64 = 0

    @Option(help: "Resume from a checkpoint PATH, or 'auto' = the newest checkpoint in --output_dir.")
    var resume: String?

    @Option(help: "Compute threads per rank (default: the node's cores divided by the ranks on it).")
    var threads: Int?

    @Option(name: [.customLong("kl_reduction"), .customLong("kl-reduction")],
            help: "sum (ldm: KL summed over the latent) or mean (divided by the latent elements of one sample).")
    var klReduction: KLReduction = .sum

    @Option(name: [.customLong("adam_betas"), .customLong("adam-betas")], help: "Adam betas as 'beta1,beta2'.")
    var adamBetas = "0.9,0.999"

    @Option(name: [.customLong("num_recon"), .customLong("num-recon")], help: "Training images shown in the reconstruction grids.")
    var numRecon = 8

    @Option(name: [.customLong("init_weights"), .customLong("init-weights")],
            help: "Start from these weights (ldm, diffusers or SD safetensors) instead of random initialisation.")
    var initWeights: String?

    @Flag(name: [.customLong("skip_bad_images"), .customLong("skip-bad-images")], help: "Log and skip unreadable images instead of stopping.")
    var skipBadImages = false

    @Option(name: [.customLong("cache_images"), .customLong("cache-images")],
            help: "Keep decoded images in memory (true) or load them on demand with prefetching (false).")
    var cacheImages = true

    func validate() throws {
        try validateDevice(device)
        if batchSize < 1 { throw ValidationError("--batch_size must be at least 1, got \(batchSize)") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        if !(klWeight >= 0 && klWeight.isFinite) { throw ValidationError("--kl_weight must be non-negative, got \(klWeight)") }
        try validateImageSize(imgSize)
        if saveInterval < 1 { throw ValidationError("--save_interval must be at least 1, got \(saveInterval)") }
        if numRecon < 0 { throw ValidationError("--num_recon must not be negative, got \(numRecon)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        _ = try betas()
    }

    func betas() throws -> (Double, Double) {
        let parts = adamBetas.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let b1 = parts[0], let b2 = parts[1], (0..<1).contains(b1), (0..<1).contains(b2) else {
            throw ValidationError("--adam_betas must be two numbers in [0, 1) like 0.9,0.999, got '\(adamBetas)'")
        }
        return (b1, b2)
    }

    func trainingOptions() throws -> TrainingOptions {
        var o = TrainingOptions(trainDir: trainDir)
        o.outputDir = outputDir
        o.batchSize = batchSize
        o.epochs = epochs
        o.lr = lr
        o.klWeight = klWeight
        o.imgSize = imgSize
        o.saveInterval = saveInterval
        o.seed = seed
        o.klReduction = klReduction
        (o.beta1, o.beta2) = try betas()
        o.numRecon = numRecon
        o.initWeights = initWeights
        o.skipBadImages = skipBadImages
        o.cacheImages = cacheImages
        return o
    }

    func run() throws {
        let mpi = try MPIJob.start(threads: threads)
        try mpi.run { replicas, say in
            try SignalFlag.install()
            let options = try trainingOptions()
            let resumed = try resumeCheckpoint()
            if resume == "auto" && resumed == nil { say("--resume auto: no checkpoint in \(outputDir), starting fresh") }
            let config = try resumed?.contents.config ?? (configPath.map { try VAEConfig.load(path: $0) } ?? .sdV1)
            if let resumed, let configPath, try VAEConfig.load(path: configPath) != config {
                throw ValidationError("--config_path \(configPath) differs from the model in \(resumed.path) (\(config.yamlDescription))")
            }
            try checkImageSize(imgSize, config: config, option: "--img_size")
            let images = try TrainingData.prepare(options, replicas: replicas, log: say)
            let model = AutoencoderKL(config)
            if resumed == nil {
                model.initialize(seed: options.seed)
                if let initWeights {
                    try model.loadWeights(path: initWeights)
                    say("starting from \(initWeights)")
                }
            }
            say("model: \(config.yamlDescription); \(model.parameterCount) parameters; \(replicas.size) rank(s) × \(Threads.count) thread(s)")
            let trainer = try Trainer(model: model, options: options, images: images, replicas: replicas,
                                      resumeFrom: resumed.map { ($0.contents, $0.path) },
                                      stopRequested: { SignalFlag.isRaised }, log: say,
                                      progress: replicas.rank == 0 ? ProgressLine.show : { _ in })
            let outcome = try trainer.run()
            switch outcome {
            case .completed(let final):
                say("done: outputs in \(outputDir) (final weights \(final))")
            case .interrupted(let checkpoint):
                let signal = SignalFlag.receivedSignal.map { " by signal \($0)" } ?? ""
                say("stopped\(signal); checkpoint \(checkpoint)\nresume with the same command plus: --resume \(checkpoint)   (or --resume auto)")
            }
        }
    }

    /// The checkpoint to resume from, read on every rank (it must be on a file system all ranks see).
    func resumeCheckpoint() throws -> (contents: Checkpoint.Contents, path: String)? {
        guard let resume else { return nil }
        let path: String
        if resume == "auto" {
            guard let newest = try Checkpoint.newest(in: outputDir) else { return nil }
            path = newest
        } else {
            path = resume
        }
        return (try Checkpoint.read(path: path), path)
    }
}
