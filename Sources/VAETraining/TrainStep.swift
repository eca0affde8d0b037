import VAECore
import VAEJobs

/// The parts of a training step in order (with --grad_accum, forward and backward repeat per micro-batch). A step's
/// `phase` hook is called as each part ends: what `vae-dist bench` times.
public enum StepPhase: String, CaseIterable, Sendable {
    /// Zeroing the gradients, the input batch and noise, encode, sample, decode and the loss.
    case forward
    /// Gradients, each bucket handed to the all-reduce as soon as backward completes it.
    case backward
    /// Waiting for the gradient sums still under way, and summing the losses over replicas.
    case allreduceWait = "allreduce_wait"
    /// Gradient norm and clipping, the learning rate, the update and the weight average.
    case optimizer
}

extension AutoencoderKL {
    /// Encodes, samples z with the given noise, decodes, evaluates the loss and backpropagates it; gradients are
    /// accumulated into the parameters. `batchTotal` is the global batch the loss is averaged over (this call may see
    /// only a share of it). `ready` is called each time the next group of `backwardGroups` has its final gradient.
    @discardableResult
    public func forwardBackward(input: Tensor, eps: Tensor, loss: VAELoss, batchTotal: Int? = nil,
                                ready: () -> Void = {}, phase: (StepPhase) -> Void = { _ in }) -> Losses {
        let total = batchTotal ?? input.shape[0]
        let posterior = encode(input, train: true)
        let z = posterior.sample(eps: eps)
        let rec = decode(z, train: true)
        let (losses, dRec) = loss.evaluate(rec: rec, input: input, posterior: posterior, batchTotal: total)
        phase(.forward)
        let dz = decodeBackward(dRec, ready: ready)
        encodeBackward(posterior.momentsGradient(dz: dz, eps: eps, klScale: loss.klGradientScale(posterior, batchTotal: total)),
                       ready: ready)
        phase(.backward)
        return losses
    }
}

/// One optimizer step of data-parallel training, for `vae-dist train` and `vae-dist bench` alike: each replica
/// computes its share of every micro-batch, gradients are summed over replicas in buckets while backward runs,
/// and every replica applies the same update.
public struct TrainingStep {
    let model: AutoencoderKL
    let images: ImageSource
    /// What the step uses: batch size, seed, augmentation, clipping, the learning rate and its schedule.
    let options: TrainingOptions
    let loss: VAELoss
    let optimizer: Optimizer
    let ema: ExponentialMovingAverage?
    let buckets: GradientBuckets
    let replicas: ReplicaGroup

    public init(model: AutoencoderKL, images: ImageSource, options: TrainingOptions, loss: VAELoss, optimizer: Optimizer,
                ema: ExponentialMovingAverage?, buckets: GradientBuckets, replicas: ReplicaGroup) {
        self.model = model
        self.images = images
        self.options = options
        self.loss = loss
        self.optimizer = optimizer
        self.ema = ema
        self.buckets = buckets
        self.replicas = replicas
    }

    public struct Outcome {
        /// Means over the global batch.
        public let losses: Losses
        /// Before clipping; the same on every replica.
        public let gradNorm: Double
        /// Seconds blocked on the gradient sums.
        public let commWait: Double
    }

    var stepsPerEpoch: Int { (images.count + options.stepBatch - 1) / options.stepBatch }

    /// One step over `batch` (dataset indices), in `gradAccum` micro-batches whose gradients add up; `next` is the
    /// following step's batch, which a streaming source may start loading. A non-finite loss throws
    /// `NonFiniteLoss` before the update.
    public func run(_ batch: [Int], next: [Int], epoch: Int, phase: (StepPhase) -> Void = { _ in }) throws -> Outcome {
        let micro = stride(from: 0, to: batch.count, by: options.batchSize).map { Array(batch[$0..<min($0 + options.batchSize, batch.count)]) }
        func myShare(_ samples: [Int]) -> [Int] {
            Array(samples[SampleOrder.share(of: samples.count, rank: replicas.rank, ranks: replicas.size)])
        }
        model.zeroGradients()
        var sums = [0.0, 0.0, 0.0]
        for (k, samples) in micro.enumerated() {
            let mine = myShare(samples)
            guard !mine.isEmpty else { continue }
            let upcoming = k + 1 < micro.count ? myShare(micro[k + 1]) : myShare(Array(next.prefix(options.batchSize)))
            let x = try images.batch(mine, upcoming: upcoming)
            if options.augment == .hflip {
                for (slot, sample) in mine.enumerated() where SampleOrder.flips(seed: options.seed, epoch: epoch, sample: sample) {
                    flipHorizontally(x, item: slot)
                }
            }
            // Only the last micro-batch hands gradients to the all-reduce: the earlier ones accumulate locally.
            let last = k == micro.count - 1
            let losses = model.forwardBackward(input: x, eps: noise(mine, epoch: epoch), loss: loss, batchTotal: batch.count,
                                               ready: last ? buckets.groupReady : {}, phase: phase)
            sums[0] += losses.total
            sums[1] += losses.reconstruction
            sums[2] += losses.kl
        }
        let waited = buckets.finish()
        replicas.sum(&sums)
        phase(.allreduceWait)
        let losses = Losses(total: sums[0], reconstruction: sums[1], kl: sums[2])
        guard sums.allSatisfy(\.isFinite) else { throw NonFiniteLoss(losses: losses) }
        let gradNorm = buckets.globalNorm()
        if options.gradClip > 0 && gradNorm > options.gradClip {
            // torch's clip_grad_norm_: scale by max_norm / (norm + 1e-6).
            buckets.scale(by: Float(options.gradClip / (gradNorm + 1e-6)))
        }
        optimizer.lr = options.schedule.rate(base: options.lr, step: optimizer.step, totalSteps: options.epochs * stepsPerEpoch,
                                             stepsPerEpoch: stepsPerEpoch)
        optimizer.update()
        ema?.update()
        phase(.optimizer)
        return Outcome(losses: losses, gradNorm: gradNorm, commWait: waited)
    }

    /// The reparameterization noise of these samples: a function of (seed, epoch, sample) alone, so every rank
    /// count draws the same.
    private func noise(_ samples: [Int], epoch: Int) -> Tensor {
        let side = images.size / model.config.downsamplingFactor
        let eps = Tensor(shape: [samples.count, model.config.embedDim, side, side])
        for (slot, sample) in samples.enumerated() {
            eps.withMutableItem(slot) { SampleOrder.noise(seed: options.seed, epoch: epoch, sample: sample, into: $0) }
        }
        return eps
    }
}

/// A step's loss was NaN or infinite; it stopped before the update.
struct NonFiniteLoss: Error, CustomStringConvertible {
    let losses: Losses
    var description: String {
        "the loss became non-finite (total \(losses.total), reconstruction \(losses.reconstruction), KL \(losses.kl))"
    }
}

/// Mirrors one batch item left to right, in place.
func flipHorizontally(_ batch: Tensor, item: Int) {
    let (c, h, w) = (batch.shape[1], batch.shape[2], batch.shape[3])
    batch.withMutableItem(item) { values in
        for row in 0..<(c * h) {
            let line = row * w
            for x in 0..<(w / 2) { values.swapAt(line + x, line + w - 1 - x) }
        }
    }
}
