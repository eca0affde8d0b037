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
    /// size they were trained at, is reconstruct's default.
    public static func saveWeights(_ weights: SafeTensors, config: VAEConfig, imageSize: Int? = nil, to path: String) throws {
        var file = weights
        file.metadata = ["format": weightsFormat, "config": try json(config)]
        if let imageSize { file.metadata["img_size"] = "\(imageSize)" }
        try file.write(path: path)
    }

    /// The image size a vae-dist file was trained at: a training checkpoint's `options.img_size`, the `img_size` of
    /// averaged weights; nil for other files (and for folders).
    public static func storedTrainingImageSize(path: String) throws -> Int? {
        guard let mode = fileModeIfPresent(path), mode & S_IFMT != S_IFDIR else { return nil }
        let metadata = try metadata(path: path)
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
        let metadata = try metadata(path: path)
        guard metadata["format"] == checkpointFormat || metadata["format"] == weightsFormat, let text = metadata["config"] else { return nil }
        do {
            return try JSONDecoder().decode(VAEConfig.self, from: Data(text.utf8))
        } catch {
            throw VAEDistError("\(path): checkpoint metadata 'config' is unreadable: \(describe(error))")
        }
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
