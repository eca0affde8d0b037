import ArgumentParser
import Distributed
import Foundation
import VAECore
import VAEFormats
import VAEJobs
import VAETraining

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a VAE from scratch (or from given weights), data-parallel over MPI ranks.",
        discussion: """
            Run as `vae-dist train …` (one process) or `mpirun -np N vae-dist train …`. --batch_size is the \
            global batch, split over the ranks; every rank count gives the same run up to float summation order.

            Outputs (rank 0): checkpoints/vae_epoch_N.safetensors (.pt with --save_format pt), \
            reconstructions/recon_epoch_N.png (and val_recon_epoch_N.png when validating), training_history.json, \
            training_curves.png (every figure also as PDF) and vae_final.safetensors (.pt) in --output_dir.

            SIGUSR1 (to mpirun or to the process), SIGTERM or SIGINT stop training at the next step with a \
            resumable checkpoint; continue with --resume auto.
            """)

    @Option(name: [.customLong("train_dir"), .customLong("train-dir")], help: "Folder of training images (png/jpg/jpeg; --recursive for sub-folders).")
    var trainDir: String?

    @OptionGroup var modelOptions: ModelOptions<TrainingDefaults>

    @Option(name: [.customLong("output_dir"), .customLong("output-dir")], help: "Where outputs go.")
    var outputDir = "vae_output"

    @Option(name: [.customLong("batch_size"), .customLong("batch-size")], help: "Global batch size (split over ranks).")
    var batchSize = 8
    static let batchSizeRange = 1...65_536

    @Option(help: "Number of epochs.")
    var epochs = 100
    static let epochsRange = 1...1_000_000

    @Option(help: "Learning rate (the base of --lr_schedule).")
    var lr = 1e-4

    @Option(name: [.customLong("kl_weight"), .customLong("kl-weight")], help: "Weight of the KL term.")
    var klWeight = 1.0

    @Option(name: [.customLong("save_interval"), .customLong("save-interval")], help: "Checkpoint and reconstruction grid every N epochs.")
    var saveInterval = 10
    static let saveIntervalRange = 1...1_000_000

    @Option(name: snakeAndKebab("save_format"),
            help: "Checkpoint files: safetensors (read by every vae-dist command), pt (the original tool's torch.save layout, checkpoints/vae_epoch_N.pt and vae_final.pt, for its resume snippet; resumable here too) or both.")
    var saveFormat: SaveFormat = .safetensors

    /// Every UInt64 is a valid seed: it is only hashed with (epoch, sample).
    @Option(help: "Seed of initialisation, data order and noise.")
    var seed: UInt64 = 0

    @Option(help: "Resume from a checkpoint PATH (vae-dist's .safetensors or .pt; a .pt of the original PyTorch tool continues its run: weights, optimizer state and epoch), or 'auto' = the newest readable checkpoint of --output_dir's run.")
    var resume: String?

    @Flag(help: "Start a new run in an --output_dir that holds an earlier run's checkpoints, removing that run's outputs (the files named as a run names them; nothing else). Refused for '.', '..' and folders holding the working directory.")
    var overwrite = false

    @Option(name: [.customLong("kl_reduction"), .customLong("kl-reduction")],
            help: "sum (ldm: KL summed over the latent) or mean (divided by the latent elements of one sample).")
    var klReduction: KLReduction = .sum

    @Option(name: [.customLong("num_recon"), .customLong("num-recon")], help: "Training images shown in the reconstruction grids.")
    var numRecon = 8
    static let numReconRange = 0...64

    @Option(name: [.customLong("init_weights"), .customLong("init-weights")],
            help: ArgumentHelp("Start from these weights (\(weightsFileKinds)) instead of random initialisation; without --config their stored config is used."))
    var initWeights: String?

    @Flag(name: [.customLong("skip_bad_images"), .customLong("skip-bad-images")], help: "Log and skip unreadable images instead of stopping.")
    var skipBadImages = false

    @Option(name: [.customLong("cache_images"), .customLong("cache-images")],
            help: "Keep decoded images in memory (true) or load them on demand with prefetching (false).")
    var cacheImages = true

    @OptionGroup(title: "Optimization") var optimization: OptimizationFlags

    @OptionGroup(title: "Data, validation and logging") var dataFlags: DataFlags

    func validate() throws {
        // The output path first: its refusal is the one reported, whatever else is wrong.
        try checkOutputPathGiven(outputDir, flag: "--output_dir")
        if overwrite {
            do { _ = try checkReplaceableOutputPath(outputDir, flag: "--output_dir") } catch { throw ValidationError("--overwrite: \(error)") }
        }
        try checkRange(batchSize, Self.batchSizeRange, flag: "--batch_size")
        try checkRange(epochs, Self.epochsRange, flag: "--epochs")
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        if !(klWeight >= 0 && klWeight.isFinite) { throw ValidationError("--kl_weight must be non-negative, got \(klWeight)") }
        try checkRange(saveInterval, Self.saveIntervalRange, flag: "--save_interval")
        try checkRange(numRecon, Self.numReconRange, flag: "--num_recon")
        if overwrite && resume != nil { throw ValidationError("--overwrite starts a new run; it cannot be combined with --resume") }
        if (trainDir == nil) == (dataFlags.trainList == nil) {
            throw ValidationError("give the training images with --train_dir DIR or --train_list FILE (one of them)")
        }
        _ = try optimization.schedule(baseLR: lr)
    }

    func trainingOptions() throws -> TrainingOptions {
        var o = TrainingOptions(trainDir: trainDir ?? "")
        o.outputDir = outputDir
        o.batchSize = batchSize
        o.epochs = epochs
        o.lr = lr
        o.klWeight = klWeight
        o.imgSize = modelOptions.imgSize
        o.saveInterval = saveInterval
        o.saveFormat = saveFormat
        o.seed = seed
        o.klReduction = klReduction
        o.optimizer = try optimization.settings()
        o.schedule = try optimization.schedule(baseLR: lr)
        (o.gradClip, o.emaDecay, o.gradAccum) = (optimization.gradClip, optimization.emaDecay, optimization.gradAccum)
        dataFlags.apply(to: &o)
        o.numRecon = numRecon
        o.initWeights = initWeights
        o.skipBadImages = skipBadImages
        o.cacheImages = cacheImages
        return o
    }

    func run() throws {
        let mpi = try modelOptions.startJob()
        try mpi.run { replicas, say in
            try SignalFlag.install()
            let options = try trainingOptions()
            let start = try runStart(replicas: replicas)
            let run = try RunDirectory.begin(outputDir, start: start, replicas: replicas, log: say)
            let trainer: Trainer
            do {
                trainer = try prepareTrainer(run, start: start, options: options, replicas: replicas, say: say)
            } catch {
                // Nothing trained: a folder this start created goes again, unless something else is in it.
                run.discardFailedStart(log: say)
                throw error
            }
            // The directory stays locked until training ends.
            let outcome = try withExtendedLifetime(run) { try trainer.run() }
            switch outcome {
            case .completed(let final):
                say("done: outputs in \(outputDir) (final weights \(final))")
            case .interrupted(let checkpoint):
                let signal = SignalFlag.receivedSignal.map { " by signal \($0)" } ?? ""
                say("stopped\(signal); checkpoint \(checkpoint)\nresume with the same command plus: --resume \(checkpoint)   (or --resume auto)")
            }
        }
    }

    /// Everything between taking the output directory and training: the model (from the checkpoint resumed, else
    /// --config / --init_weights), the images and the trainer.
    private func prepareTrainer(_ run: RunDirectory, start: RunStart, options: TrainingOptions, replicas: MPIReplicaGroup,
                                say: @escaping (String) -> Void) throws -> Trainer {
        let resumed = run.resumeFrom
        let original = try originalRun(start, replicas: replicas, say: say)
        // Resuming keeps the checkpoint's model; continuing the original tool's run takes --config (its checkpoints
        // store none); otherwise --config, else the config stored with --init_weights. Rank 0 reads these files
        // and sends them: other hosts need not have them.
        let shared = resumed == nil
            ? try replicas.modelSource(checkpoint: original == nil ? initWeights : nil, option: "--init_weights",
                                       config: modelOptions.config, log: say) : nil
        let config = resumed?.contents.config ?? shared!.source.config
        if let original {
            say("config \(shared!.source.configOrigin) for \(original.path) (the original tool's checkpoints store none: --config_path gives it)")
        }
        if let resumed, let configPath = modelOptions.config {
            _ = try replicas.rootOnly {
                if !(try ModelSource.loadConfig(path: configPath).describesSameModel(as: config)) {
                    throw VAEDistError("--config_path \(configPath) differs from the model in \(resumed.path) (\(config.yamlDescription))")
                }
            }
        }
        try config.checkImageSize(modelOptions.imgSize, option: "--img_size")
        // The memory is checked once the images are listed, before any is decoded.
        let data = try TrainingData.prepare(options, replicas: replicas,
                                            memory: TrainingMemory(config: config, options: options, ranks: replicas.size), log: say)
        let model = AutoencoderKL(config, arithmetic: modelOptions.arithmetic(for: .training))
        if let fresh = original == nil ? shared : nil {
            model.initialize(seed: options.seed)
            if let loaded = try fresh.loadWeights(into: model) { say(loaded) }
        }
        say("model: \(config.yamlDescription); \(model.parameterCount) parameters; \(replicas.size) rank(s) × \(Threads.count) thread(s)")
        return try Trainer(model: model, options: options, data: data, replicas: replicas,
                           resumeFrom: resumed.map { ($0.contents, $0.path) }, continuing: original, runID: run.runID,
                           stopRequested: { SignalFlag.isRaised }, log: say,
                           progress: { if replicas.rank == 0 { ProgressLine.show($0) } })
    }

    /// What --resume means. Rank 0 looks at the file (the other hosts need not have it) and tells the others.
    private func runStart(replicas: MPIReplicaGroup) throws -> RunStart {
        guard let resume else { return .fresh(overwrite: overwrite) }
        if resume == "auto" { return .resumeLatest }
        let isOriginal = try replicas.rootOnly { OriginalRun.isOriginalCheckpoint(path: resume) ? 1 : 0 }
        return try replicas.broadcast(isOriginal ?? 0, from: 0) == 1 ? .continueOriginal(path: resume) : .resume(path: resume)
    }

    /// The original PyTorch tool's checkpoint that --resume names: read on rank 0, sent to every rank.
    private func originalRun(_ start: RunStart, replicas: MPIReplicaGroup, say: (String) -> Void) throws -> OriginalRun? {
        guard case .continueOriginal(let path) = start else { return nil }
        let bytes = try replicas.fromRoot("checkpoint \(path)", log: say) { try readRegularFile(path) }
        return try OriginalRun.read(bytes: bytes, path: path)
    }
}
