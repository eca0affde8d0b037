import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// What the trainer reports after each step (rank 0 renders it).
public struct StepProgress: Sendable {
    public let epoch: Int, epochs: Int
    public let step: Int, steps: Int
    public let loss: Double
    public let imagesPerSecond: Double
    public let etaSeconds: Double
}

public enum TrainingOutcome: Equatable {
    case completed(finalWeights: String)
    /// Stopped by a signal at a step boundary; the checkpoint resumes there.
    case interrupted(checkpoint: String)
}

/// Data-parallel training: each replica computes its share of every global batch, gradients are summed over
/// replicas in buckets during backward, every replica applies the same optimizer step. Rank 0 writes the outputs.
public final class Trainer {
    public let model: AutoencoderKL
    /// The given options, with the data set's fingerprint filled in from the training images.
    public let options: TrainingOptions
    public let images: ImageSource
    /// Kept in every checkpoint, so that `--resume auto` continues only this run.
    public let runID: String
    let validator: Validator?
    /// Dataset indices of the images shown in the reconstruction grids, spread over the classes (folders).
    public let reconIndices: [Int]
    /// The same for the validation images, with their files (for the captions).
    let validationRecon: (indices: [Int], paths: [String])
    let trainPaths: [String]
    let replicas: ReplicaGroup
    let optimizer: Optimizer
    let ema: ExponentialMovingAverage?
    /// What one optimizer step does (TrainStep.swift); this type runs the epochs around it.
    let trainingStep: TrainingStep
    var position: TrainingPosition
    /// Local stop request (a signal); replicas agree on it at each step boundary.
    let stopRequested: () -> Bool
    let log: (String) -> Void
    let progress: (StepProgress) -> Void
    let stepLog: StepLog?
    /// The TensorBoard log (rank 0, unless --tensorboard false), opened when training starts.
    private var events: TrainingEvents?
    private var lastCheckpoint: String?
    /// How the run was made (the launcher's), written into training_history.json and every checkpoint.
    public var provenance: Provenance?

    /// `runID` defaults to the resumed checkpoint's, or a new one at a fresh start. `original` is a checkpoint of the
    /// original PyTorch tool to continue (`OriginalRun`), instead of `resumeFrom`.
    public init(model: AutoencoderKL, options: TrainingOptions, data: TrainingSets, replicas: ReplicaGroup,
                resumeFrom: (TrainingCheckpoint.Contents, path: String)? = nil, continuing original: OriginalRun? = nil, runID: String? = nil,
                stopRequested: @escaping () -> Bool = { false }, log: @escaping (String) -> Void = { _ in },
                progress: @escaping (StepProgress) -> Void = { _ in }) throws {
        // The largest share of a global batch any rank computes.
        let perRank = (options.batchSize + replicas.size - 1) / replicas.size
        try model.config.requireRGB(for: "training")
        try MemoryEstimate.require(config: model.config, imageSize: options.imgSize, batch: perRank, work: .training)
        self.model = model
        var options = options
        options.dataset = data.train.fingerprint ?? options.dataset
        options.convolution = model.arithmetic.description
        // Checkpoints record how the images were held: streamed also when the cache fell back for memory.
        if data.train is StreamingImages { options.cacheImages = false }
        self.options = options
        self.images = data.train
        self.runID = runID ?? resumeFrom?.0.runID ?? UUID().uuidString
        self.replicas = replicas
        self.stopRequested = stopRequested
        self.log = log
        self.progress = progress
        reconIndices = ReconstructionGrids.sample(paths: data.trainPaths, total: data.train.count, count: options.numRecon)
        trainPaths = data.trainPaths
        validationRecon = (ReconstructionGrids.sample(paths: data.validationPaths, total: data.validation?.count ?? 0,
                                                      count: options.numRecon), data.validationPaths)
        let loss = VAELoss(klWeight: options.klWeight, klReduction: options.klReduction)
        validator = data.validation.map { Validator(images: $0, loss: loss, batchSize: options.batchSize) }
        let parameters = model.namedParameters.map(\.parameter)
        let optimizer = Optimizer(parameters: parameters, lr: options.lr, settings: options.optimizer)
        self.optimizer = optimizer
        let buckets = GradientBuckets(groups: model.backwardGroups, replicas: replicas)
        if let (contents, path) = resumeFrom {
            // Checked and restored on rank 0, whose failure is every rank's (reported once). Rank 0 alone holds the
            // checkpoint's tensors (`RunDirectory`): the others receive them below.
            let changes = try replicas.rootOnly { () throws -> [String] in
                let changes = try TrainingCheckpointValidation.checkResume(contents, path: path, given: options, imageCount: data.train.count)
                try TrainingCheckpoint.restore(contents, path: path, into: model, optimizer: optimizer)
                return changes
            }
            optimizer.restore(step: contents.position.adamStep)
            log("resuming from \(path) at epoch \(contents.position.epoch + 1), step \(contents.position.step + 1)")
            changes?.forEach(log)
            position = contents.position
            lastCheckpoint = path
        } else if let original {
            let stepsPerEpoch = (data.train.count + options.stepBatch - 1) / options.stepBatch
            let (start, lines) = try original.restore(into: model, optimizer: optimizer, options: options, stepsPerEpoch: stepsPerEpoch)
            lines.forEach(log)
            position = start
            lastCheckpoint = original.path
        } else {
            position = TrainingPosition()
        }
        ema = try options.emaDecay.map { decay in
            let average = ExponentialMovingAverage(parameters: parameters, decay: decay)
            if let (contents, path) = resumeFrom {
                _ = try replicas.rootOnly { try TrainingCheckpoint.restore(contents, path: path, into: average, model: model) }
            }
            return average
        }
        trainingStep = TrainingStep(model: model, images: data.train, options: options, loss: loss, optimizer: optimizer, ema: ema,
                                    buckets: buckets, replicas: replicas)
        // Every replica starts from rank 0's parameters (and optimizer state, when resuming).
        for tensor in parameters.map(\.value) + optimizer.stateTensors + (ema?.shadow ?? []) {
            tensor.withUnsafeMutableBufferPointer { replicas.broadcast($0, from: 0) }
        }
        stepLog = replicas.rank == 0
            ? try StepLog(path: "\(options.outputDir)/metrics.jsonl", resumingAt: position.adamStep, every: options.logEvery, log: log)
            : nil
        if replicas.rank == 0 && !data.validationPaths.isEmpty {
            try writeValidationList(data.validationPaths)
        }
    }

    var isRoot: Bool { replicas.rank == 0 }
    var stepsPerEpoch: Int { trainingStep.stepsPerEpoch }
    var output: String { options.outputDir }

    public func run() throws -> TrainingOutcome {
        if isRoot {
            try createOutputDirectory("\(output)/checkpoints")
            try createOutputDirectory("\(output)/reconstructions")
            if options.tensorboard { events = try TrainingEvents(outputDir: output, resumingAt: position.adamStep) }
        }
        while position.epoch < options.epochs {
            let order = SampleOrder.permutation(count: images.count, seed: options.seed, epoch: position.epoch)
            while position.step < stepsPerEpoch {
                if replicas.any(stopRequested()) { return .interrupted(checkpoint: try interrupt()) }
                let s = position.step
                try takeStep(Array(order[(s * options.stepBatch)..<min((s + 1) * options.stepBatch, order.count)]),
                             next: Array(order[min((s + 1) * options.stepBatch, order.count)..<min((s + 2) * options.stepBatch, order.count)]))
            }
            try finishEpoch()
        }
        let final = try saveCheckpoint("\(output)/vae_final")
        if isRoot {
            try stepLog?.flush()
            try events?.flush()
            log("final weights: \(final.joined(separator: ", "))")
            if let ema {
                let averaged = "\(output)/vae_final_ema.safetensors"
                try CheckpointMetadata.saveWeights(ema.weightsFile(names: model.namedParameters.map(\.name)), config: model.config,
                                                   imageSize: options.imgSize, provenance: provenance?.json().description, to: averaged)
                log("averaged weights (--ema_decay \(ema.decay)): \(averaged)")
            }
        }
        return .completed(finalWeights: final[0])
    }

    /// One optimizer step over `batch` (dataset indices), and its bookkeeping: the position, progress and metrics.
    private func takeStep(_ batch: [Int], next: [Int]) throws {
        let started = Date()
        let epoch = position.epoch, step = position.step
        let outcome: TrainingStep.Outcome
        do {
            outcome = try trainingStep.run(batch, next: next, epoch: epoch)
        } catch let failure as NonFiniteLoss {
            let kept = lastCheckpoint.map { "the last checkpoint \($0) is intact" } ?? "no checkpoint was written yet"
            // Every replica sees the same summed losses and stops here; rank 0's message (it knows the checkpoints) is the one reported.
            throw FailureOnEveryReplica(description: "\(failure) at epoch \(epoch + 1), step \(step + 1); training stopped before the update; \(kept). Try a lower --lr or --kl_weight.")
        }
        let seconds = Date().timeIntervalSince(started)
        let (losses, waited) = (outcome.losses, outcome.commWait)
        if position.adamStep == 0 { noteKLDominance(reconstruction: losses.reconstruction, kl: losses.kl) }
        position.totalSum += losses.total * Double(batch.count)
        position.reconSum += losses.reconstruction * Double(batch.count)
        position.klSum += losses.kl * Double(batch.count)
        position.samples += batch.count
        position.seconds += seconds
        position.waitSeconds += waited
        position.step += 1
        position.adamStep = optimizer.step
        guard isRoot else { return }
        let rate = Double(position.samples) / max(position.seconds, 1e-9)
        let remaining = Double((options.epochs - epoch) * images.count - position.samples)
        let report = StepProgress(epoch: epoch + 1, epochs: options.epochs, step: step + 1, steps: stepsPerEpoch,
                                  loss: losses.total, imagesPerSecond: rate, etaSeconds: remaining / max(rate, 1e-9))
        progress(report)
        let metrics = StepMetrics(epoch: epoch + 1, step: step + 1, globalStep: optimizer.step, loss: losses.total,
                                  reconLoss: losses.reconstruction, klLoss: losses.kl, lr: optimizer.lr, gradNorm: outcome.gradNorm,
                                  imagesPerSecond: Double(batch.count) / max(seconds, 1e-9), commWait: waited)
        try stepLog?.record(metrics, progress: report)
        try events?.step(metrics)
    }

    /// ldm trains SD's VAE with kl_weight 1e-6; at the original tool's default of 1.0 the summed KL swamps the
    /// reconstruction loss and reconstructions stay blurred. Said once, at the first step of a run.
    private func noteKLDominance(reconstruction: Double, kl: Double) {
        let weighted = options.klWeight * kl
        guard isRoot, reconstruction > 0, weighted > 100 * reconstruction else { return }
        log(String(format: "note: the weighted KL term (%.4g) is %.0f× the reconstruction loss (%.4g) at initialisation; "
                   + "Stable Diffusion's VAE was trained with kl_weight 1e-6 (KL summed per sample, as --kl_reduction sum). "
                   + "Consider --kl_weight 1e-6 if reconstructions stay blurred.", weighted, weighted / reconstruction, reconstruction))
    }

    private func finishEpoch() throws {
        let n = Double(max(position.samples, 1))
        let epoch = position.epoch + 1
        let validates = validator != nil && (epoch % options.validation.interval == 0 || epoch == options.epochs)
        let validation = try validates ? validator?.evaluate(model, replicas: replicas) : nil
        let record = EpochRecord(epoch: epoch, totalLoss: position.totalSum / n, reconLoss: position.reconSum / n,
                                 klLoss: position.klSum / n, lr: optimizer.lr, seconds: position.seconds,
                                 imagesPerSecond: Double(position.samples) / max(position.seconds, 1e-9),
                                 commShare: position.waitSeconds / max(position.seconds, 1e-9), validation: validation)
        var next = TrainingPosition()
        next.epoch = epoch
        next.adamStep = position.adamStep
        next.history = position.history + [record]
        next.bestValidationLoss = position.bestValidationLoss
        next.continuedFrom = position.continuedFrom
        let isBest = validation.map { v in next.bestValidationLoss.map { v.total(klWeight: options.klWeight) < $0 } ?? true } ?? false
        if isBest, let validation { next.bestValidationLoss = validation.total(klWeight: options.klWeight) }
        position = next
        guard isRoot else { return }
        var line = String(format: "epoch %d/%d  loss %.5f  recon %.5f  kl %.4f  %.2f img/s  %.1f s  comm %.1f%%",
                          record.epoch, options.epochs, record.totalLoss, record.reconLoss, record.klLoss,
                          record.imagesPerSecond, record.seconds, 100 * record.commShare)
        if let v = validation {
            line += String(format: "  | val recon %.5f  kl %.4f  PSNR %.2f dB  SSIM %.4f", v.reconLoss, v.klLoss, v.psnr, v.ssim)
            try stepLog?.recordValidation(v, epoch: epoch, globalStep: position.adamStep, klWeight: options.klWeight)
            try events?.validation(v, klWeight: options.klWeight, globalStep: position.adamStep)
        }
        log(line)
        try TrainingReport.writeHistory(position.history, provenance: provenance, to: "\(output)/training_history.json")
        try TrainingReport.writeCurves(position.history, to: "\(output)/training_curves.png")
        if isBest && options.validation.keepBest {
            let paths = try saveCheckpoint("\(output)/vae_best")
            log("best validation loss so far: \(paths.joined(separator: ", "))")
        }
        if record.epoch % options.saveInterval == 0 || record.epoch == options.epochs {
            if record.epoch % options.saveInterval == 0 {
                let paths = try saveCheckpoint("\(output)/checkpoints/vae_epoch_\(record.epoch)")
                try stepLog?.flush()
                lastCheckpoint = paths[0]
                log("checkpoint: \(paths.joined(separator: ", "))")
            }
            try writeReconstructions(epoch: record.epoch)
            if !reconIndices.isEmpty {
                // The grid's PNG as written, whoever draws it.
                try events?.image(tag: "reconstructions/training", pngFile: "\(output)/reconstructions/recon_epoch_\(record.epoch).png",
                                  globalStep: position.adamStep)
            }
            try events?.flush()
        }
    }

    /// Originals on the top row, reconstructions (posterior mode) below: training images, and validation images
    /// when the run holds some out.
    private func writeReconstructions(epoch: Int) throws {
        let folder = "\(output)/reconstructions/"
        try ReconstructionGrids.write(model: model, images: images, indices: reconIndices, paths: trainPaths, epoch: epoch,
                                      set: "training", to: folder + ReconstructionGrids.trainingFile(epoch: epoch))
        if let validation = validator?.images {
            try ReconstructionGrids.write(model: model, images: validation, indices: validationRecon.indices,
                                          paths: validationRecon.paths, epoch: epoch, set: "validation",
                                          to: folder + ReconstructionGrids.validationFile(epoch: epoch))
        }
    }

    /// The held-out files, so the split can be reused (e.g. as --val_dir contents or a --train_list filter).
    private func writeValidationList(_ paths: [String]) throws {
        try createOutputDirectory(output)
        try writeFileAtomically(Array((paths.joined(separator: "\n") + "\n").utf8), to: "\(output)/validation_images.txt")
    }

    /// All replicas agreed to stop before this step: save a checkpoint at this exact position.
    private func interrupt() throws -> String {
        let paths = try saveCheckpoint("\(output)/checkpoints/vae_epoch_\(position.epoch)_step_\(position.step)")
        if isRoot {
            try stepLog?.flush()
            try events?.flush()
        }
        return paths[0]
    }

    /// Writes the checkpoint `stem` in each format of --save_format (on rank 0; the others only learn the paths);
    /// returns the paths, safetensors first.
    private func saveCheckpoint(_ stem: String) throws -> [String] {
        let paths = options.saveFormat.suffixes.map { stem + $0 }
        guard isRoot else { return paths }
        for path in paths {
            try TrainingCheckpoint.save(model: model, optimizer: optimizer, ema: ema, position: position, options: options, runID: runID,
                                        provenance: provenance, to: path)
        }
        return paths
    }
}
