import Foundation
import VAECore

/// What makes a safetensors file vae-dist's own: its header metadata names the format and carries the model
/// config as JSON, so every command loads the weights without --config. Training checkpoints add their state.
public enum CheckpointMetadata {
    /// A training checkpoint (weights, optimizer state, position, options).
    public static let checkpointFormat = "vae-dist-checkpoint-1"
    /// Weights with their config and nothing else (the averaged weights of --ema_decay).
    public static let weightsFormat = "vae-dist-weights-1"

    /// Weights and the config they need, so that every command loads them without --config; `imageSize`, the
    /// size they were trained at, is reconstruct's default; `provenance` the JSON of the run's record.
    public static func saveWeights(_ weights: SafeTensors, config: VAEConfig, imageSize: Int? = nil, provenance: String? = nil,
                                   to path: String) throws {
        var file = weights
        file.metadata = ["format": weightsFormat, "config": try json(config)]
        if let imageSize { file.metadata["img_size"] = "\(imageSize)" }
        file.metadata["provenance"] = provenance
        try file.write(path: path)
    }

    /// The image size a vae-dist file was trained at: a training checkpoint's `options.img_size`, the `img_size` of
    /// averaged weights; nil for other files (and for folders).
    public static func storedTrainingImageSize(path: String) throws -> Int? {
        guard let mode = fileModeIfPresent(path), mode & S_IFMT != S_IFDIR else { return nil }
        return try storedTrainingImageSize(in: metadata(path: path))
    }

    /// `storedTrainingImageSize(path:)` from the file's metadata (`metadata(path:)`).
    public static func storedTrainingImageSize(in metadata: [String: String]) throws -> Int? {
        switch metadata["format"] {
        case checkpointFormat:
            let options = try metadata["options"].flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return options?["img_size"] as? Int
        case weightsFormat:
            return metadata["img_size"].flatMap { Int($0) }
        default:
            return nil
        }
    }

    /// vae-dist's metadata of a file: a safetensors header's, or the `vae_dist` strings of vae-dist's own .pt (read
    /// from its pickle alone); empty for other files of either kind.
    public static func metadata(path: String) throws -> [String: String] {
        TorchCheckpoint.isZipArchive(path: path) ? try TorchTrainingCheckpoint.readMetadata(path: path) ?? [:]
                                                 : try SafeTensors.readMetadata(path: path)
    }

    /// The model config a vae-dist checkpoint (.safetensors or .pt) was trained with, read from its metadata alone;
    /// nil for any other file (plain ldm / diffusers / SD weights and the original tool's .pt carry no config).
    public static func storedConfig(path: String) throws -> VAEConfig? {
        try storedConfig(in: metadata(path: path), path: path)
    }

    /// `storedConfig(path:)` from the file's metadata; `path` names the file in errors.
    static func storedConfig(in metadata: [String: String], path: String) throws -> VAEConfig? {
        guard metadata["format"] == checkpointFormat || metadata["format"] == weightsFormat, let text = metadata["config"] else { return nil }
        do {
            return try JSONDecoder().decode(VAEConfig.self, from: Data(text.utf8))
        } catch {
            throw VAEDistError("\(path): checkpoint metadata 'config' is unreadable: \(describe(error))")
        }
    }

    /// The latent settings an `export --format ldm|sd` wrote into a safetensors header (diffusers' key names, JSON
    /// values), for weights that carry no config; nil when the header states none, and for folders and torch files.
    public static func storedLatentSpace(path: String) throws -> LatentSpace? {
        guard let mode = fileModeIfPresent(path), mode & S_IFMT == S_IFREG, !TorchCheckpoint.isZipArchive(path: path) else { return nil }
        return try storedLatentSpace(in: SafeTensors.readMetadata(path: path), path: path)
    }

    /// `storedLatentSpace(path:)` from a safetensors file's metadata; `path` names the file in errors.
    static func storedLatentSpace(in metadata: [String: String], path: String) throws -> LatentSpace? {
        var stated: [String: JSONValue] = [:]
        for key in DiffusersConfig.latentKeys {
            guard let text = metadata[key] else { continue }
            do {
                stated[key] = try StrictJSONReader.parse(Array(text.utf8))
            } catch let error as JSONSyntaxError {
                throw VAEDistError("\(path): metadata \(quotedName(key)) is not JSON (\(error.message))")
            }
        }
        guard !stated.isEmpty else { return nil }
        let space = try DiffusersConfig.latentSpace(stated, source: "\(path): metadata")
        return space.isEmpty ? nil : space
    }

    public static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ file: SafeTensors, _ key: String, _ path: String) throws -> T {
        guard let text = file.metadata[key] else { throw VAEDistError("\(path): checkpoint metadata lacks '\(key)'") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw VAEDistError("\(path): checkpoint metadata '\(key)' is unreadable: \(describe(error))")
        }
    }

    /// A JSON decoding error in words naming the field (its description is a nested dump of contexts).
    private static func describe(_ error: Error) -> String {
        func field(_ path: [CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?: return "the field '\(field(context.codingPath + [key]))' is missing"
        case .typeMismatch(let type, let context)?: return "the field '\(field(context.codingPath))' is not of type \(type)"
        case .valueNotFound(let type, let context)?: return "the field '\(field(context.codingPath))' is null, expected \(type)"
        case .dataCorrupted(let context)?:
            return context.codingPath.isEmpty ? "not valid JSON" : "the field '\(field(context.codingPath))': \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}
