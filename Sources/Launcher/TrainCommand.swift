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

    @OptionGroup(title: "Core options") var core: CoreTrainingFlags

    @OptionGroup(title: "Model and compute") var modelOptions: ModelOptions<TrainingDefaults>

    @OptionGroup(title: "Run, checkpoints and images") var runFlags: RunFlags

    @OptionGroup(title: "Optimization") var optimization: OptimizationFlags

    @OptionGroup(title: "Data, validation and logging") var dataFlags: DataFlags

    var outputDir: String { core.outputDir }

    func validate() throws {
        // The output path first: its refusal is the one reported, whatever else is wrong.
        try checkOutputPathGiven(outputDir, flag: "--output_dir")
        if runFlags.overwrite {
            do { _ = try checkReplaceableOutputPath(outputDir, flag: "--output_dir") } catch { throw ValidationError("--overwrite: \(error)") }
        }
        if runFlags.overwrite && core.resume != nil { throw ValidationError("--overwrite starts a new run; it cannot be combined with --resume") }
        if (core.trainDir == nil) == (dataFlags.trainList == nil) {
            throw ValidationError("give the training images with --train_dir DIR or --train_list FILE (one of them)")
        }
        if dataFlags.valDir != nil && dataFlags.valFraction > 0 { throw ValidationError("give --val_dir or --val_fraction, not both") }
        if dataFlags.keepBest && dataFlags.valDir == nil && dataFlags.valFraction == 0 {
            throw ValidationError("--keep_best needs a validation set: --val_dir or --val_fraction")
        }
        _ = try trainingOptions()
    }

    /// The run's options from the flags, each checked against its bound (a refusal names the flag: exit 64).
    func trainingOptions() throws -> TrainingOptions {
        var o = TrainingOptions.defaults
        do {
            try core.apply(to: &o)
            o.imgSize = modelOptions.imgSize
            try runFlags.apply(to: &o)
            try optimization.apply(to: &o)
            try dataFlags.apply(to: &o)
        } catch let error as VAEDistError {
            throw ValidationError("\(error)")
        }
        return o
    }

    func run() throws {
        let mpi = try modelOptions.startJob()
        try mpi.run(quiet: runFlags.quiet) { replicas, console in
            let say = console.say
            try SignalFlag.install()
            let options = try trainingOptions()
            let start = try runStart(replicas: replicas)
            let run = try RunDirectory.begin(outputDir, start: start, replicas: replicas, log: say)
            let trainer: Trainer
            do {
                trainer = try prepareTrainer(run, start: start, options: options, replicas: replicas, console: console,
                                             provenance: mpi.provenance)
            } catch {
                // Nothing trained: a folder this start created goes again, unless something else is in it.
                run.discardFailedStart(log: say)
                throw error
            }
            // The directory stays locked until training ends.
            let outcome = try withExtendedLifetime(run) { try trainer.run() }
            switch outcome {
            case .completed(let final):
                console.result("done: outputs in \(outputDir) (final weights \(final))")
            case .interrupted(let checkpoint):
                let signal = SignalFlag.receivedSignal.map { " by signal \($0)" } ?? ""
                console.result("stopped\(signal); checkpoint \(checkpoint)\nresume with the same command plus: --resume \(checkpoint)   (or --resume auto)")
            }
        }
    }

    /// Everything between taking the output directory and training: the model (from the checkpoint resumed, else
    /// --config / --init_weights), the images and the trainer, which writes `provenance` (with the weights started
    /// from) into its JSON and checkpoints.
    private func prepareTrainer(_ run: RunDirectory, start: RunStart, options: TrainingOptions, replicas: MPIReplicaGroup,
                                console: Console, provenance: Provenance) throws -> Trainer {
        let say = console.say
        let resumed = run.takeResumePoint()
        let originalRead = try originalRun(start, replicas: replicas, say: say)
        let original = originalRead?.0
        // Resuming keeps the checkpoint's model; continuing the original tool's run takes --config (its checkpoints
        // store none); otherwise --config, else the config stored with --init_weights. Rank 0 reads these files
        // and sends them: other hosts need not have them.
        let shared = resumed == nil
            ? try replicas.modelSource(checkpoint: original == nil ? options.initWeights : nil, option: "--init_weights",
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
        // Not on a terminal the trainer logs its own lines (--log_every).
        let bar = ProgressBar.isTerminal ? console.progress() : nil
        let trainer = try Trainer(model: model, options: options, data: data, replicas: replicas,
                                  resumeFrom: resumed.map { ($0.contents, $0.path) }, continuing: original, runID: run.runID,
                                  stopRequested: { SignalFlag.isRaised }, log: say,
                                  progress: { p in
                                      let done = Double((p.epoch - 1) * p.steps + p.step) / Double(max(p.epochs * p.steps, 1))
                                      bar?.update(fraction: done, label: "epoch \(p.epoch)/\(p.epochs)",
                                                  detail: String(format: "step %d/%d  loss %.5f  %.2f img/s  ", p.step, p.steps, p.loss,
                                                                 p.imagesPerSecond) + ProgressBar.eta(p.etaSeconds))
                                  })
        if let resumed {
            trainer.provenance = provenance.weights(resumed.path, sha256: run.resumeSHA256 ?? "unknown", configSource: "stored in \(resumed.path)")
        } else if let original {
            trainer.provenance = provenance.weights(original.path, sha256: originalRead?.1 ?? "unknown",
                                                    configSource: shared!.source.configOrigin.description)
        } else {
            trainer.provenance = provenance.model(shared!.source, weightsSHA256: shared!.weightsSHA256)
        }
        return trainer
    }

    /// What --resume means. Rank 0 looks at the file (the other hosts need not have it) and tells the others.
    private func runStart(replicas: MPIReplicaGroup) throws -> RunStart {
        guard let resume = core.resume else { return .fresh(overwrite: runFlags.overwrite) }
        if resume == "auto" { return .resumeLatest }
        let isOriginal = try replicas.rootOnly { OriginalRun.isOriginalCheckpoint(path: resume) ? 1 : 0 }
        return try replicas.broadcast(isOriginal ?? 0, from: 0) == 1 ? .continueOriginal(path: resume) : .resume(path: resume)
    }

    /// The original PyTorch tool's checkpoint that --resume names: read on rank 0, sent to every rank; with its
    /// SHA-256 on rank 0.
    private func originalRun(_ start: RunStart, replicas: MPIReplicaGroup, say: (String) -> Void) throws -> (OriginalRun, String?)? {
        guard case .continueOriginal(let path) = start else { return nil }
        // One rank reads the file as it goes; with more, rank 0 sends its bytes (their parse is a second copy).
        guard replicas.size > 1 else { return (try OriginalRun.read(path: path), try SHA256.hex(file: path)) }
        let bytes = try replicas.fromRoot("checkpoint \(path)", log: say) { try readRegularFile(path) }
        return (try OriginalRun.read(bytes: bytes, path: path), replicas.rank == 0 ? SHA256.hex(bytes) : nil)
    }
}
