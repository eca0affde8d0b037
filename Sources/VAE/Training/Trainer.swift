import Foundation

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

public struct TrainingFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Data-parallel training: each replica computes its share of every global batch, gradients are summed over
/// replicas in buckets during backward, every replica applies the same Adam step. Rank 0 writes the outputs.
public final class Trainer {
    public let model: AutoencoderKL
    public let options: TrainingOptions
    public let images: ImageSource
    /// Dataset indices of the images shown in the reconstruction grids.
    public let reconIndices: [Int]
    let replicas: ReplicaGroup
    let adam: Adam
    let buckets: GradientBuckets
    var position: TrainingPosition
    let loss: VAELoss
    /// Local stop request (a signal); replicas agree on it at each step boundary.
    let stopRequested: () -> Bool
    let log: (String) -> Void
    let progress: (StepProgress) -> Void
    private var lastCheckpoint: String?

    public init(model: AutoencoderKL, options: TrainingOptions, images: ImageSource, replicas: ReplicaGroup,
                resumeFrom: (Checkpoint.Contents, path: String)? = nil,
                stopRequested: @escaping () -> Bool = { false }, log: @escaping (String) -> Void = { _ in },
                progress: @escaping (StepProgress) -> Void = { _ in }) throws {
        // The largest share of a global batch any rank computes.
        let perRank = (options.batchSize + replicas.size - 1) / replicas.size
        try model.config.requireRGB(for: "training")
        try MemoryEstimate.require(config: model.config, imageSize: options.imgSize, batch: perRank, work: .training)
        self.model = model
        self.options = options
        self.images = images
        self.replicas = replicas
        self.stopRequested = stopRequested
        self.log = log
        self.progress = progress
        reconIndices = Array(0..<min(options.numRecon, images.count))
        loss = VAELoss(klWeight: options.klWeight, klReduction: options.klReduction)
        adam = Adam(parameters: model.namedParameters.map(\.parameter), lr: options.lr,
                    beta1: options.beta1, beta2: options.beta2)
        buckets = GradientBuckets(groups: model.backwardGroups, replicas: replicas)
        if let (contents, path) = resumeFrom {
            try Checkpoint.restore(contents, path: path, into: model, adam: adam)
            position = contents.position
            lastCheckpoint = path
        } else {
            position = TrainingPosition()
        }
        // Every replica starts from rank 0's parameters (and optimizer state, when resuming).
        for (i, (_, p)) in model.namedParameters.enumerated() {
            replicas.broadcast(p.value.buffer, from: 0)
            replicas.broadcast(adam.expAvg[i].buffer, from: 0)
            replicas.broadcast(adam.expAvgSq[i].buffer, from: 0)
        }
    }

    var isRoot: Bool { replicas.rank == 0 }
    var stepsPerEpoch: Int { (images.count + options.batchSize - 1) / options.batchSize }
    var output: String { options.outputDir }

    public func run() throws -> TrainingOutcome {
        if isRoot {
            try FileManager.default.createDirectory(atPath: "\(output)/checkpoints", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(output)/reconstructions", withIntermediateDirectories: true)
        }
        let latentSide = options.imgSize >> (model.config.chMult.count - 1)
        let latentPerSample = model.config.embedDim * latentSide * latentSide
        while position.epoch < options.epochs {
            let epoch = position.epoch
            let order = SampleOrder.permutation(count: images.count, seed: options.seed, epoch: epoch)
            let batches = (0..<stepsPerEpoch).map { s in Array(order[(s * options.batchSize)..<min((s + 1) * options.batchSize, order.count)]) }
            func myShare(_ step: Int) -> [Int] {
                guard step < batches.count else { return [] }
                return Array(batches[step][SampleOrder.share(of: batches[step].count, rank: replicas.rank, ranks: replicas.size)])
            }
            while position.step < stepsPerEpoch {
                if replicas.any(stopRequested()) { return .interrupted(checkpoint: try interrupt()) }
                let step = position.step
                let started = Date()
                let batch = batches[step]
                let mine = myShare(step)
                model.zeroGradients()
                var sums = [0.0, 0.0, 0.0]
                if !mine.isEmpty {
                    let x = try images.batch(mine, upcoming: myShare(step + 1))
                    let eps = Tensor(shape: [mine.count, model.config.embedDim, latentSide, latentSide])
                    for (slot, sample) in mine.enumerated() {
                        SampleOrder.noise(count: latentPerSample, seed: options.seed, epoch: epoch, sample: sample,
                                          into: eps.data + slot * latentPerSample)
                    }
                    let result = model.forwardBackward(input: x, eps: eps, loss: loss, batchTotal: batch.count,
                                                       ready: buckets.groupReady)
                    sums = [result.losses.total, result.losses.reconstruction, result.losses.kl]
                }
                let waited = buckets.finish()
                replicas.sum(&sums)
                guard sums.allSatisfy(\.isFinite) else {
                    let kept = lastCheckpoint.map { "the last checkpoint \($0) is intact" } ?? "no checkpoint was written yet"
                    throw TrainingFailure(description: "the loss became non-finite (total \(sums[0]), reconstruction \(sums[1]), KL \(sums[2])) at epoch \(epoch + 1), step \(step + 1); training stopped before the update; \(kept). Try a lower --lr or --kl_weight.")
                }
                adam.update()
                let seconds = Date().timeIntervalSince(started)
                position.totalSum += sums[0] * Double(batch.count)
                position.reconSum += sums[1] * Double(batch.count)
                position.klSum += sums[2] * Double(batch.count)
                position.samples += batch.count
                position.seconds += seconds
                position.waitSeconds += waited
                position.step += 1
                if isRoot {
                    let rate = Double(position.samples) / max(position.seconds, 1e-9)
                    let remaining = Double((options.epochs - epoch) * images.count - position.samples)
                    progress(StepProgress(epoch: epoch + 1, epochs: options.epochs, step: step + 1, steps: stepsPerEpoch,
                                          loss: sums[0], imagesPerSecond: rate, etaSeconds: remaining / max(rate, 1e-9)))
                }
            }
            try finishEpoch()
        }
        let final = "\(output)/vae_final.safetensors"
        if isRoot {
            try Checkpoint.save(model: model, adam: adam, position: position, options: options, to: final)
            log("final weights: \(final)")
        }
        return .completed(finalWeights: final)
    }

    private func finishEpoch() throws {
        let n = Double(max(position.samples, 1))
        let record = EpochRecord(epoch: position.epoch + 1, totalLoss: position.totalSum / n, reconLoss: position.reconSum / n,
                                 klLoss: position.klSum / n, lr: options.lr, seconds: position.seconds,
                                 imagesPerSecond: Double(position.samples) / max(position.seconds, 1e-9),
                                 commShare: position.waitSeconds / max(position.seconds, 1e-9))
        var next = TrainingPosition()
        next.epoch = position.epoch + 1
        next.history = position.history + [record]
        position = next
        guard isRoot else { return }
        log(String(format: "epoch %d/%d  loss %.5f  recon %.5f  kl %.4f  %.2f img/s  %.1f s  comm %.1f%%",
                   record.epoch, options.epochs, record.totalLoss, record.reconLoss, record.klLoss,
                   record.imagesPerSecond, record.seconds, 100 * record.commShare))
        try TrainingReport.writeHistory(position.history, to: "\(output)/training_history.json")
        try TrainingReport.writeCurves(position.history, to: "\(output)/training_curves.png")
        if record.epoch % options.saveInterval == 0 || record.epoch == options.epochs {
            if record.epoch % options.saveInterval == 0 {
                let path = "\(output)/checkpoints/vae_epoch_\(record.epoch).safetensors"
                try Checkpoint.save(model: model, adam: adam, position: position, options: options, to: path)
                lastCheckpoint = path
                log("checkpoint: \(path)")
            }
            try writeReconstructions(epoch: record.epoch)
        }
    }

    /// Originals on the top row, reconstructions (posterior mode) below.
    private func writeReconstructions(epoch: Int) throws {
        guard !reconIndices.isEmpty else { return }
        let x = try images.batch(reconIndices, upcoming: [])
        let rec = model.decode(model.encode(x, train: false).mode, train: false)
        let s = options.imgSize, plane = 3 * s * s
        let originals = reconIndices.indices.map { rgb8FromCHW(x.data + $0 * plane, width: s, height: s) }
        let decoded = reconIndices.indices.map { rgb8FromCHW(rec.data + $0 * plane, width: s, height: s) }
        try writePNG(composeGrid([originals, decoded]), to: "\(output)/reconstructions/recon_epoch_\(epoch).png")
    }

    /// All replicas agreed to stop before this step: save a checkpoint at this exact position.
    private func interrupt() throws -> String {
        let path = "\(output)/checkpoints/vae_epoch_\(position.epoch)_step_\(position.step).safetensors"
        if isRoot {
            try Checkpoint.save(model: model, adam: adam, position: position, options: options, to: path)
        }
        return path
    }
}
