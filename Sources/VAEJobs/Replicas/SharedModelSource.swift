import Foundation
import VAECore
import VAEFormats

/// The model a command works with and the weights read for it, the same on every replica.
public struct SharedModel {
    public let source: ModelSource
    /// The VAE tensors of the weights file; nil without weights.
    public let weights: ReadWeights?
    /// The weights file's SHA-256 (for the provenance record), computed where the file was read; nil without weights.
    public let weightsSHA256: String?

    /// Decides the model here and reads its weights (and their hash: one streamed pass over the whole file, before
    /// the VAE's tensors are read from it, then mostly from the page cache).
    public static func read(checkpoint: String?, config: String?) throws -> SharedModel {
        let source = try ModelSource(checkpoint: checkpoint, config: config)
        let hash = try source.weights.map { try SHA256.hex(file: $0.path) }
        return SharedModel(source: source, weights: try source.weights.map { _ in try source.readWeights() }, weightsSHA256: hash)
    }

    /// Loads the weights into `model`; the line saying what was loaded, nil without weights.
    public func loadWeights(into model: AutoencoderKL) throws -> String? {
        try weights.map { try source.loadWeights($0, into: model) }
    }
}

extension ReplicaGroup {
    /// Decides the model on rank 0 from `checkpoint` (`option` names the flag) and `config`, as `ModelSource` does,
    /// reads the weights there and sends every replica the decision and the VAE's tensors (float32, in a safetensors
    /// file made for the trip, checked against its checksum): the files need exist only on rank 0's host, and a
    /// full SD checkpoint sends only its VAE.
    public func modelSource(checkpoint: String?, option: String, config: String?, log: (String) -> Void) throws -> SharedModel {
        guard size > 1 else { return try SharedModel.read(checkpoint: checkpoint, config: config) }
        var decided: SharedModel?
        let what = checkpoint.map { "\(option) \($0) (its VAE tensors as float32, and the config)" } ?? config.map { "--config \($0)" }
            ?? "the model (SD v1 VAE)"
        let bytes = try fromRoot(what, log: checkpoint == nil && config == nil ? { _ in } : log) {
            let model = try SharedModel.read(checkpoint: checkpoint, config: config)
            decided = model
            return try Self.package(model)
        }
        return try decided ?? Self.unpack(bytes, what: "\(what), as rank 0 sent it")
    }

    private static func package(_ model: SharedModel) throws -> [UInt8] {
        var file = SafeTensors()
        for (name, entry) in model.weights?.tensors ?? [:] { file.add(name, shape: entry.shape, values: entry.values) }
        let (kind, path) = originTerms(model.source.configOrigin)
        var metadata = ["config": try CheckpointMetadata.json(model.source.config), "config_origin": kind, "config_path": path]
        if let weights = model.source.weights {
            metadata["weights_path"] = weights.path
            metadata["weights_format"] = weights.format == .torch ? "torch" : "safetensors"
            metadata["diffusers_folder"] = weights.diffusersFolder
            metadata["sibling_config"] = weights.siblingConfig
            metadata["location"] = model.weights?.location
            metadata["weights_sha256"] = model.weightsSHA256
        }
        file.metadata = metadata
        return try file.serialized()
    }

    private static func unpack(_ bytes: [UInt8], what: String) throws -> SharedModel {
        let file = try SafeTensors.parse(bytes, path: what)
        let meta = file.metadata
        let config = try CheckpointMetadata.decode(VAEConfig.self, file, "config", what)
        let origin: ModelSource.ConfigOrigin
        switch (meta["config_origin"], meta["config_path"] ?? "") {
        case ("file", let path): origin = .file(path)
        case ("checkpoint", let path): origin = .storedInCheckpoint(path)
        case ("diffusers", let path): origin = .diffusersFolder(path)
        case ("beside", let path): origin = .besideWeights(path)
        case ("default", _): origin = .sdV1Default
        case (let other, _): throw VAEDistError("\(what): unknown config origin \(other ?? "none")")
        }
        let weights = meta["weights_path"].map { path in
            WeightsFile(path: path, format: meta["weights_format"] == "torch" ? .torch : .safetensors, diffusersFolder: meta["diffusers_folder"],
                        siblingConfig: meta["sibling_config"])
        }
        let source = ModelSource(config: config, configOrigin: origin, weights: weights)
        return SharedModel(source: source, weights: weights.map { _ in ReadWeights(tensors: file.tensors, location: meta["location"]) },
                           weightsSHA256: meta["weights_sha256"])
    }

    private static func originTerms(_ origin: ModelSource.ConfigOrigin) -> (kind: String, path: String) {
        switch origin {
        case .file(let path): return ("file", path)
        case .storedInCheckpoint(let path): return ("checkpoint", path)
        case .diffusersFolder(let path): return ("diffusers", path)
        case .besideWeights(let path): return ("beside", path)
        case .sdV1Default: return ("default", "")
        }
    }
}
