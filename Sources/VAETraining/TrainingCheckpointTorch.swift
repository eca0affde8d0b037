import Foundation
import VAECore
import VAEFormats

/// Training checkpoints as `.pt` files (`--save_format pt|both`): the original tool's layout
/// (`TorchTrainingCheckpoint`), which its resume snippet and `torch.load(weights_only=True)` read, plus vae-dist's
/// run state under `vae_dist` (the same strings as a safetensors checkpoint's metadata), so that a .pt resumes here
/// exactly as a .safetensors checkpoint does.
extension TrainingCheckpoint {
    static func savePT(model: AutoencoderKL, optimizer: Optimizer, ema: ExponentialMovingAverage?, position: TrainingPosition,
                       metadata: [String: String], to path: String) throws {
        let parameters = model.namedParameters
        try TorchTrainingCheckpoint.write(
            epoch: position.epoch,
            weights: parameters.map { ($0.name, TorchSaveTensor($0.parameter.value)) },
            optimizer: torchState(of: optimizer, parameterCount: parameters.count),
            loss: loss(at: position), metadata: metadata,
            ema: ema.map { zip(parameters, $0.shadow).map { ($0.0.name, TorchSaveTensor($0.1)) } },
            to: path)
    }

    /// The optimizer's `state_dict()` as torch.optim writes it for the same settings.
    public static func torchState(of optimizer: Optimizer, parameterCount: Int) -> TorchOptimizerState {
        let tensors = Dictionary(uniqueKeysWithValues: optimizer.settings.stateNames.map { ($0, optimizer.state[$0]!.map(TorchSaveTensor.init)) })
        return TorchOptimizerState(group: paramGroup(optimizer.settings, lr: optimizer.lr), step: optimizer.step, tensors: tensors,
                                   parameterCount: parameterCount)
    }

    /// What `vae-dist export --format pt` writes beside the weights of this checkpoint: its epoch, its optimizer's
    /// state (parameters in `parameterNames` order, the model's) and its loss.
    public static func torchTrainingState(of contents: Contents, path: String, parameterNames: [String]) throws -> TorchTrainingState {
        let settings = contents.options.optimizer
        var tensors: [String: [TorchSaveTensor]] = [:]
        for state in settings.stateNames {
            tensors[state] = try parameterNames.map { name in
                guard let entry = contents.file["optimizer.\(state).\(name)"] else {
                    throw VAEDistError("\(path): optimizer state 'optimizer.\(state).\(name)' is missing")
                }
                return TorchSaveTensor(shape: entry.shape, values: entry.values)
            }
        }
        // The rate of the last step (older checkpoints do not record it: their last epoch's, else the base rate).
        let p = contents.position
        let lr = p.lr ?? p.history.last?.lr ?? contents.options.lr
        let optimizer = TorchOptimizerState(group: paramGroup(settings, lr: lr), step: p.adamStep, tensors: tensors,
                                            parameterCount: parameterNames.count)
        return TorchTrainingState(epoch: p.epoch, optimizer: optimizer, loss: loss(at: p))
    }

    static func paramGroup(_ s: OptimizerSettings, lr: Double) -> TorchParamGroup {
        let kind: TorchOptimizerKind = switch s.kind {
        case .adam: .adam
        case .adamw: .adamw
        case .sgd: .sgd
        }
        var group = TorchParamGroup(kind: kind, lr: lr)
        (group.betas, group.eps, group.weightDecay) = ((s.beta1, s.beta2), s.eps, s.weightDecay)
        (group.momentum, group.dampening, group.nesterov) = (s.momentum, s.dampening, s.nesterov)
        return group
    }

    /// The original tool saved the epoch's mean loss: the last complete epoch's, or the running mean of the epoch
    /// in progress for a mid-epoch checkpoint; None before any step.
    static func loss(at position: TrainingPosition) -> Double? {
        if position.samples > 0 { return position.totalSum / Double(position.samples) }
        return position.history.last?.totalLoss
    }

    /// Reads vae-dist's own .pt: the same contents as the safetensors checkpoint of that moment.
    static func readPT(_ torch: TorchTrainingCheckpoint.Contents, path: String) throws -> Contents {
        guard let metadata = torch.metadata, metadata["format"] == format else {
            throw VAEDistError("\(path): a PyTorch checkpoint without vae-dist's run state (no '\(format)' under its 'vae_dist' key); "
                + "to continue a run of the original PyTorch tool from it, give it to `vae-dist train --resume` by itself")
        }
        var file = SafeTensors()
        file.metadata = metadata
        for (name, entry) in torch.weights { file.add(name, shape: entry.shape, values: entry.values) }
        for (state, tensors) in torch.optimizerTensors {
            for ((name, _), entry) in zip(torch.weights, tensors) { file.add("optimizer.\(state).\(name)", shape: entry.shape, values: entry.values) }
        }
        for (name, entry) in torch.ema ?? [] { file.add("ema.\(name)", shape: entry.shape, values: entry.values) }
        let contents = try contents(of: file, path: path)
        if let step = torch.step, !torch.optimizerTensors.isEmpty, step != contents.position.adamStep {
            throw VAEDistError("\(path): optimizer_state_dict is at step \(step) but vae_dist's position at step \(contents.position.adamStep); the file is damaged or was edited")
        }
        return contents
    }
}
