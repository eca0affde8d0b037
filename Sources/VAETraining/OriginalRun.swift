import Foundation
import VAECore
import VAEFormats

/// Where a run continued from a checkpoint of the original PyTorch tool started: its epochs and optimizer steps
/// come before this run's (the history and step count of a continued run are counted from here).
public struct ContinuedRun: Codable, Equatable, Sendable {
    /// The original tool's checkpoint.
    public var path: String
    /// Epochs it had completed.
    public var epoch: Int
    /// Optimizer steps it had taken.
    public var adamStep: Int
}

/// `vae-dist train --resume vae_epoch_50.pt` with a checkpoint the original PyTorch tool wrote,
/// `torch.save({"epoch", "model_state_dict", "optimizer_state_dict", "loss"})`: it holds the weights, the optimizer's
/// state and the epoch, and is continued from them. It holds no seed, data order, options or config: the run takes
/// this run's flags (--config_path for the model), and its data order starts fresh from --seed.
public struct OriginalRun {
    public let path: String
    public let checkpoint: TorchTrainingCheckpoint.Contents

    /// Whether `path` is a torch.save file without vae-dist's run state, i.e. to be continued as an original run.
    /// A file that cannot be read is not: reading it as a vae-dist checkpoint then reports why.
    public static func isOriginalCheckpoint(path: String) -> Bool {
        guard TorchCheckpoint.isZipArchive(path: path) else { return false }
        do { return try TorchTrainingCheckpoint.readMetadata(path: path) == nil } catch { return false }
    }

    public static func read(path: String) throws -> OriginalRun {
        OriginalRun(path: path, checkpoint: try TorchTrainingCheckpoint.read(path: path))
    }

    /// The checkpoint whose whole file is `bytes`, as rank 0 read it from `path` and sent it.
    public static func read(bytes: [UInt8], path: String) throws -> OriginalRun {
        OriginalRun(path: path, checkpoint: try TorchTrainingCheckpoint.read(bytes: bytes, path: path))
    }

    /// Continuing an original run mixes nothing: refused in an output directory holding any file a run writes
    /// there (the original run's checkpoints, history and curves would be replaced; a vae-dist run there is
    /// another run).
    public static func checkOutputDirectory(_ outputDir: String, checkpoint path: String) throws {
        var found: [String] = []
        for folder in ["", "checkpoints", "reconstructions"] {
            let dir = (outputDir as NSString).appendingPathComponent(folder)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            found += names.filter { RunDirectory.isRunFileName($0, in: folder) }.map { (dir as NSString).appendingPathComponent($0) }
        }
        guard found.isEmpty else {
            let shown = found.prefix(4).joined(separator: ", ") + (found.count > 4 ? ", … (\(found.count) in all)" : "")
            throw VAEDistError("--output_dir \(outputDir) holds a run's outputs (\(shown)); continuing the original run of \(path) "
                + "there would replace or mix with them: give another --output_dir (the files there stay as they are), or "
                + "--resume auto to continue the vae-dist run in it")
        }
    }

    /// Puts the checkpoint's weights into `model` and its state into `optimizer`, checked against this run's
    /// options; returns the position to continue from and the log lines saying what was taken and what not.
    public func restore(into model: AutoencoderKL, optimizer: Optimizer, options: TrainingOptions,
                        stepsPerEpoch: Int) throws -> (position: TrainingPosition, log: [String]) {
        let c = checkpoint
        let parameters = model.namedParameters
        // Names, shapes and values first (the usual error lists every missing, unexpected and mis-shaped tensor),
        // then the order: the optimizer's state is keyed by the index of model.parameters().
        try model.loadWeights(tensors: Dictionary(c.weights.map { ($0.name, $0.entry) }, uniquingKeysWith: { a, _ in a }), path: path,
                              configOrigin: "this run's --config_path: the original tool's checkpoints store no config")
        guard c.weights.map(\.name) == parameters.map(\.name) else {
            throw VAEDistError("\(path): model_state_dict holds ldm's parameters in another order than ldm's AutoencoderKL "
                + "registers them, so its optimizer state (by parameter index) cannot be matched to them")
        }
        let group = try checkOptimizer(optimizer.settings, lr: options.lr)
        guard c.epoch <= options.epochs else {
            throw VAEDistError("--epochs \(options.epochs) is below the \(c.epoch) epochs \(path) has completed")
        }
        // SGD keeps no step count: past its first step (its buffers exist), the epochs done at this run's steps per
        // epoch stand in for it (only the schedule and metrics count it).
        let step = c.step ?? (c.epoch * stepsPerEpoch)
        var lines = ["continuing a run of the original PyTorch tool from \(path): taken from it are the weights "
            + "(\(c.weights.count) tensors of model_state_dict), the optimizer's state (\(optimizerDescription(step: step, inferred: c.step == nil))) "
            + "and the epoch: \(c.epoch) done, training goes on at epoch \(c.epoch + 1) of \(options.epochs)"]
        if !c.optimizerTensors.isEmpty {
            var saved: [String: [Tensor]] = [:]
            for (state, entries) in c.optimizerTensors {
                saved[state] = try zip(parameters, entries).map { p, entry in
                    guard entry.shape == p.parameter.value.shape else {
                        throw VAEDistError("\(path): optimizer state '\(state)' of parameter \(p.name) has shape \(entry.shape), the parameter \(p.parameter.value.shape)")
                    }
                    return Tensor(shape: entry.shape, values: entry.values)
                }
            }
            try optimizer.restore(step: step, saved: saved)
        } else if optimizer.settings.stateNames.isEmpty {
            try optimizer.restore(step: step, saved: [:])          // SGD without momentum: only the count
        }                                                          // else a fresh optimizer: no step taken, nothing kept
        lines.append("not in it: the original tool kept no seed and no data order, so the data order starts fresh from "
            + "--seed \(options.seed) (vae-dist's order for epochs \(c.epoch + 1) on); its options and loss history are not "
            + "carried over (this run's flags apply\(c.loss.map { "; its last loss was \(String(format: "%.6g", $0))" } ?? ""))")
        if group.lr != options.lr {
            lines.append("warning: the checkpoint's learning rate is \(group.lr) (what the original's optimizer.load_state_dict "
                + "would restore), this run's --lr is \(options.lr): vae-dist goes on with --lr and its --lr_schedule")
        }
        if let named = Self.epochInFileName(path), named != c.epoch {
            lines.append("note: \((path as NSString).lastPathComponent) is named for epoch \(named) but its 'epoch' says \(c.epoch); "
                + "continuing after epoch \(c.epoch), as the original's resume snippet would")
        }
        var position = TrainingPosition()
        (position.epoch, position.adamStep) = (c.epoch, step)
        position.continuedFrom = ContinuedRun(path: path, epoch: c.epoch, adamStep: step)
        return (position, lines)
    }

    /// The update rule must be the one that wrote the state (as --optimizer and its settings must stay on resume);
    /// the learning rate may differ.
    private func checkOptimizer(_ settings: OptimizerSettings, lr: Double) throws -> TorchParamGroup {
        let stored = checkpoint.group
        var given = TrainingCheckpoint.paramGroup(settings, lr: stored.lr)
        // Before torch 2.6 AdamW's state_dict does not say it is AdamW (no decoupled_weight_decay): the state is
        // the same as Adam's, so --optimizer decides.
        if stored.kind == .adam && given.kind == .adamw && !checkpoint.distinguishesAdamW { given.kind = .adam }
        guard stored == given else {
            throw VAEDistError("cannot continue \(path): its optimizer is \(stored.description), this run's "
                + "\(given.description.replacingOccurrences(of: "lr \(stored.lr), ", with: "")); give the same --optimizer, "
                + "--adam_betas, --weight_decay, --momentum, --dampening and --nesterov (Adam's eps is torch's default 1e-08 in vae-dist)")
        }
        return stored
    }

    private func optimizerDescription(step: Int, inferred: Bool) -> String {
        let group = checkpoint.group
        let states = checkpoint.optimizerTensors.keys.sorted().joined(separator: ", ")
        switch group.kind {
        case .adam, .adamw:
            return states.isEmpty ? "\(group.kind.rawValue), no step taken yet" : "\(group.kind.rawValue) at step \(step): \(states)"
        case .sgd:
            let count = inferred ? "step \(step) counted as \(checkpoint.epoch) epochs of \(step / max(checkpoint.epoch, 1))" : "step \(step)"
            return states.isEmpty ? "SGD without momentum, \(count)" : "SGD at \(count): \(states)"
        }
    }

    /// N of a `vae_epoch_N.pt`.
    static func epochInFileName(_ path: String) -> Int? {
        let name = (path as NSString).lastPathComponent
        guard name.hasPrefix("vae_epoch_"), name.hasSuffix(".pt") else { return nil }
        return Int(name.dropFirst("vae_epoch_".count).dropLast(".pt".count))
    }
}
