import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// A training checkpoint (safetensors; `TrainingCheckpointTorch.swift` for .pt): the weights under ldm names (loadable by PyTorch as they are), the optimizer's state as
/// `optimizer.STATE.NAME` (torch's state names: `exp_avg`, `exp_avg_sq`, `momentum_buffer`), and in the header metadata the position, history,
/// config and options. Randomness needs no saved generator state: every draw derives from (seed, epoch, index).
public enum TrainingCheckpoint {
    static let format = CheckpointMetadata.checkpointFormat

    /// Writes a checkpoint to `path`: a `.pt` path in the original tool's torch.save layout (`savePT`), any other
    /// as safetensors.
    public static func save(model: AutoencoderKL, optimizer: Optimizer, ema: ExponentialMovingAverage? = nil,
                            position: TrainingPosition, options: TrainingOptions, runID: String, provenance: Provenance? = nil,
                            to path: String) throws {
        var position = position
        position.adamStep = optimizer.step
        position.lr = optimizer.lr
        var metadata = [
            "format": format,
            "config": try CheckpointMetadata.json(model.config),
            "options": try CheckpointMetadata.json(options),
            "position": try CheckpointMetadata.json(position),
            "epoch": "\(position.epoch)",
            "step": "\(position.step)",
            "run_id": runID,
            "rng": "order and noise derive from (seed \(options.seed), epoch, sample index)",
        ]
        metadata["provenance"] = provenance?.json().description
        if path.hasSuffix(".pt") {
            try savePT(model: model, optimizer: optimizer, ema: ema, position: position, metadata: metadata, to: path)
            return
        }
        var file = model.weightsFile()
        let names = model.namedParameters.map(\.name)
        for stateName in optimizer.settings.stateNames {
            for (name, tensor) in zip(names, optimizer.state[stateName]!) {
                file.add("optimizer.\(stateName).\(name)", tensor)
            }
        }
        for (name, tensor) in zip(names, ema?.shadow ?? []) { file.add("ema.\(name)", tensor) }
        file.metadata = metadata
        try file.write(path: path)
    }

    public struct Contents {
        public let file: SafeTensors
        public let config: VAEConfig
        public let options: TrainingOptions
        public let position: TrainingPosition
        /// The identity of the run that wrote it (made at a fresh start, kept across resumes); nil in older files.
        public let runID: String?
    }

    /// Reads a checkpoint (safetensors, or vae-dist's own .pt) and checks that its metadata is consistent
    /// (`TrainingCheckpointValidation`).
    public static func read(path: String) throws -> Contents {
        if TorchCheckpoint.isZipArchive(path: path) { return try readPT(TorchTrainingCheckpoint.read(path: path), path: path) }
        return try checked(SafeTensors.read(path: path), path: path)
    }

    /// The checkpoint whose whole file is `bytes` (as rank 0 read it from `path` and sent it), with `read(path:)`'s checks.
    public static func read(bytes: [UInt8], path: String) throws -> Contents {
        if TorchCheckpoint.isZipArchive(bytes: bytes) {
            return try readPT(TorchTrainingCheckpoint.read(bytes: bytes, path: path), path: path)
        }
        return try checked(SafeTensors.parse(bytes, path: path), path: path)
    }

    private static func checked(_ file: SafeTensors, path: String) throws -> Contents {
        guard file.metadata["format"] == format else {
            throw VAEDistError("\(path): not a vae-dist training checkpoint (no '\(format)' format in its metadata); to start from plain weights use --init_weights")
        }
        return try contents(of: file, path: path)
    }

    /// The contents of a checkpoint's tensors and metadata, checked.
    static func contents(of file: SafeTensors, path: String) throws -> Contents {
        let contents = Contents(file: file, config: try CheckpointMetadata.decode(VAEConfig.self, file, "config", path),
                                options: try CheckpointMetadata.decode(TrainingOptions.self, file, "options", path),
                                position: try CheckpointMetadata.decode(TrainingPosition.self, file, "position", path),
                                runID: file.metadata["run_id"])
        try TrainingCheckpointValidation.check(contents, path: path)
        return contents
    }

    /// Puts the checkpoint's weights into the model and its state into the optimizer.
    public static func restore(_ contents: Contents, path: String, into model: AutoencoderKL, optimizer: Optimizer) throws {
        try model.loadWeights(contents.file, path: path)
        var saved: [String: [Tensor]] = [:]
        for stateName in optimizer.settings.stateNames {
            saved[stateName] = try model.namedParameters.map { name, p in
                let key = "optimizer.\(stateName).\(name)"
                guard let e = contents.file[key], e.shape == p.value.shape else {
                    throw VAEDistError("\(path): optimizer state '\(key)' is missing or mis-shaped")
                }
                return Tensor(shape: e.shape, values: e.values)
            }
        }
        try optimizer.restore(step: contents.position.adamStep, saved: saved)
    }

    /// The averaged weights of --ema_decay, saved as `ema.NAME`.
    public static func restore(_ contents: Contents, path: String, into ema: ExponentialMovingAverage, model: AutoencoderKL) throws {
        for ((name, _), shadow) in zip(model.namedParameters, ema.shadow) {
            guard let e = contents.file["ema.\(name)"], e.shape == shadow.shape else {
                throw VAEDistError("\(path): has no averaged weights 'ema.\(name)' (was it trained without --ema_decay?)")
            }
            shadow.copy(from: e.values)
        }
    }

    /// A checkpoint found in an output directory, by its header alone (the tensors are not read).
    public struct Candidate: Equatable, Sendable {
        public let path: String
        public let epoch: Int, step: Int
        public let runID: String?
    }

    /// The vae-dist checkpoints among output_dir/checkpoints/*.safetensors|.pt and output_dir/vae_final.safetensors|.pt,
    /// furthest along first; `unreadable` lists the files whose header (a .pt's pickle) cannot be read or holds no
    /// vae-dist position, with the reason.
    public static func candidates(in outputDir: String) -> (found: [Candidate], unreadable: [String]) {
        let dir = (outputDir as NSString).appendingPathComponent("checkpoints")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var paths = names.filter { $0.hasSuffix(".safetensors") || $0.hasSuffix(".pt") }.sorted()
            .map { (dir as NSString).appendingPathComponent($0) }
        for name in ["vae_final.safetensors", "vae_final.pt"] {
            let final = (outputDir as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: final) { paths.append(final) }
        }
        var found: [Candidate] = [], unreadable: [String] = []
        for path in paths {
            do {
                let meta = path.hasSuffix(".pt") ? try TorchTrainingCheckpoint.readMetadata(path: path) ?? [:]
                                                 : try SafeTensors.readMetadata(path: path)
                guard meta["format"] == format, let e = meta["epoch"].flatMap(Int.init), let s = meta["step"].flatMap(Int.init) else {
                    unreadable.append("\(path): no vae-dist position in its metadata"
                                      + (path.hasSuffix(".pt") ? " (a checkpoint of the original PyTorch tool?)" : ""))
                    continue
                }
                found.append(Candidate(path: path, epoch: e, step: s, runID: meta["run_id"]))
            } catch {
                unreadable.append("\(error)")
            }
        }
        // Ties (vae_final and the last epoch's checkpoint; a .safetensors and its .pt twin) go to safetensors, then
        // to the earlier path, so the choice is reproducible.
        func rank(_ c: Candidate) -> Int { c.path.hasSuffix(".safetensors") ? 1 : 0 }
        return (found.sorted { ($0.epoch, $0.step, rank($0), $1.path) > ($1.epoch, $1.step, rank($1), $0.path) }, unreadable)
    }

    /// The checkpoint furthest along in `outputDir` by its header, whatever run wrote it.
    public static func newest(in outputDir: String) -> String? {
        candidates(in: outputDir).found.first?.path
    }
}
