import Foundation
import VAECore

/// Which model a command works with: its config and, when given, the weights to load. Every command decides
/// it here, the same way:
/// - the config: an explicit `--config` (SD yaml, params yaml or diffusers config.json), else the config stored
///   in a vae-dist checkpoint, else a diffusers folder's config.json (also for a weights file given by itself with
///   that config.json beside it), else the SD v1 VAE; an explicit `--config` that disagrees with the config coming
///   with the weights on anything that changes the arithmetic is refused;
/// - the weights: a directory is a diffusers folder, a zip file a PyTorch checkpoint (`.ckpt`, `.pt`, diffusers'
///   `.bin`), any other file safetensors; either with ldm names, diffusers names or as a full SD checkpoint.
public struct ModelSource {
    /// What a weights option (`--checkpoint`, train's `--init_weights`) accepts, in help's words.
    public static let acceptedWeights =
        "a vae-dist checkpoint (its config comes with it), an ldm / diffusers / full SD safetensors file, a PyTorch .ckpt/.pt, or a diffusers model folder"

    public enum ConfigOrigin: Equatable, Sendable, CustomStringConvertible {
        /// `--config`.
        case file(String)
        /// The metadata of a vae-dist checkpoint.
        case storedInCheckpoint(String)
        /// A diffusers folder's config.json.
        case diffusersFolder(String)
        /// The diffusers config.json beside a weights file given by itself.
        case besideWeights(String)
        case sdV1Default

        public var description: String {
            switch self {
            case .file(let path): return path
            case .storedInCheckpoint(let path): return "stored in \(path)"
            case .diffusersFolder(let path): return "\(path) (diffusers)"
            case .besideWeights(let path): return "\(path) (diffusers, beside the weights)"
            case .sdV1Default: return "SD v1 VAE (default)"
            }
        }
    }

    public let config: VAEConfig
    public let configOrigin: ConfigOrigin
    /// nil when no weights were given.
    public let weights: WeightsFile?
    /// The image size a vae-dist file was trained at (`CheckpointMetadata.storedTrainingImageSize`); nil for other
    /// weights, unreadable metadata, and a source decided elsewhere.
    public let trainingImageSize: Int?

    /// A source decided elsewhere: rank 0's, on a rank that received it (`ReplicaGroup.modelSource`).
    public init(config: VAEConfig, configOrigin: ConfigOrigin, weights: WeightsFile?) {
        (self.config, self.configOrigin, self.weights, trainingImageSize) = (config, configOrigin, weights, nil)
    }

    /// Decides the config and finds the weights file; reads only headers and configs, not the weights. The weights'
    /// metadata is read once (their config, latent settings and training size come from it); a failure to read it
    /// is reported where a value from it is needed.
    public init(checkpoint: String?, config configPath: String?) throws {
        let weights = try checkpoint.map(WeightsFile.locate)
        let read = Result { try weights?.metadata() }
        let metadata = { try read.get() }
        var (config, origin) = try Self.decideConfig(weights: weights, metadata: metadata, configPath: configPath)
        // ldm and sd exports have no config to hold the latent settings: their header does. Settings the config
        // states win; the header fills the others.
        if let weights, weights.format == .safetensors, let mode = fileModeIfPresent(weights.path), mode & S_IFMT == S_IFREG,
           let stated = try metadata().flatMap({ try CheckpointMetadata.storedLatentSpace(in: $0, path: weights.path) }) {
            config.latentSpace = config.latentSpace.filled(from: stated)
            let problems = config.latentSpace.problems(channels: config.embedDim)
            guard problems.isEmpty else {
                throw VAEDistError("\(weights.path): metadata: " + problems.joined(separator: "; "))
            }
        }
        (self.config, self.configOrigin, self.weights) = (config, origin, weights)
        trainingImageSize = (try? metadata()).flatMap { $0 }.flatMap { try? CheckpointMetadata.storedTrainingImageSize(in: $0) }
    }

    private static func decideConfig(weights: WeightsFile?, metadata: () throws -> [String: String]?,
                                     configPath: String?) throws -> (VAEConfig, ConfigOrigin) {
        guard let configPath else {
            return try weights?.storedConfig(metadata: metadata) ?? (.sdV1, .sdV1Default)
        }
        var given = try Self.loadConfig(path: configPath)
        // A config coming with the weights that cannot be read is no reason to refuse an explicit --config
        // (giving one is how a user works around it); one that can be read must agree with it.
        if let weights, let found = try? weights.storedConfig(metadata: metadata) {
            let (stored, origin) = found
            let differences = given.arithmeticDifferences(from: stored)
            guard differences.isEmpty else {
                let theirs: String
                switch origin {
                case .diffusersFolder(let json), .besideWeights(let json): theirs = "\(json), the diffusers config of the weights \(weights.path)"
                default: theirs = "the config \(origin)"
                }
                throw VAEDistError("--config \(configPath) disagrees with \(theirs): " + differences.joined(separator: "; ")
                    + ". The weights were made for their own config (with other GroupNorm groups they would even load "
                    + "without error and compute something else): leave out --config, or give one that agrees")
            }
            // A yaml states at most the scale factor of the latent space: the weights' own config states the rest
            // (an SDXL VAE's 0.13025, its force_upcast).
            given.latentSpace = given.latentSpace.filled(from: stored.latentSpace)
        }
        return (given, .file(configPath))
    }

    /// A config file: Stable Diffusion yaml (or its params) or a diffusers config.json.
    public static func loadConfig(path: String) throws -> VAEConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VAEDistError("\(path): cannot read the config (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw VAEDistError("\(path): the config is not UTF-8 text")
        }
        return DiffusersConfig.isDiffusersConfig(text)
            ? try DiffusersConfig.parse(json: text, source: path)
            : try VAEConfig.parse(yaml: text, source: path)
    }

    /// Puts the weights into `model` (built from `config`) and returns one line saying what was loaded: the
    /// file, its naming and where the config came from.
    public func loadWeights(into model: AutoencoderKL) throws -> String {
        try loadWeights(readWeights(), into: model)
    }

    /// The weights file's tensors that can be VAE weights (what `loadWeights` loads), read once, e.g. on rank 0 to
    /// send to the other ranks.
    public func readWeights() throws -> ReadWeights {
        guard let weights else { throw VAEDistError("no weights file was given") }
        let read = try weights.readVAETensors()
        return ReadWeights(tensors: read.tensors, location: read.location)
    }

    /// Loads weights read by `readWeights` (here or on rank 0) into `model`; the line says what was loaded.
    public func loadWeights(_ read: ReadWeights, into model: AutoencoderKL) throws -> String {
        guard let weights else { throw VAEDistError("no weights file was given") }
        // A mismatch under the default config most likely means a config was not given: say so.
        let origin = configOrigin == .sdV1Default ? "\(configOrigin): no --config given and the weights carry none" : "\(configOrigin)"
        let loaded = try model.loadWeights(tensors: read.tensors, path: weights.path, configOrigin: origin)
        return "loaded \(weights.path) (\(loaded.namingDescription)\(read.location.map { ", PyTorch checkpoint, state dict at \($0)" } ?? "")); "
            + "config \(configOrigin): \(config.yamlDescription)"
    }
}

/// A weights file's VAE tensors as read, and for a PyTorch checkpoint the dict they were found in.
public struct ReadWeights {
    public let tensors: [String: SafeTensors.Entry]
    public let location: String?

    public init(tensors: [String: SafeTensors.Entry], location: String?) { (self.tensors, self.location) = (tensors, location) }
}

extension VAEConfig {
    /// Whether `self` (a given --config) is `stored` (a checkpoint's config): equal, but for latent settings only
    /// one of them states (a yaml states at most the scale factor; the checkpoint keeps those it was made with).
    public func describesSameModel(as stored: VAEConfig) -> Bool {
        var (given, other) = (self, stored)
        given.latentSpace = latentSpace.filled(from: stored.latentSpace)
        other.latentSpace = stored.latentSpace.filled(from: latentSpace)
        return given == other
    }

    /// How `self` (a given --config) and `other` (the config coming with the weights) differ in what changes the
    /// network's arithmetic: every key but the nominal `resolution`, which only places attention and is compared
    /// as the levels that carry it. Each entry reads "norm_num_groups 32 in --config but 16 with the weights"; empty
    /// when both compute the same.
    public func arithmeticDifferences(from other: VAEConfig) -> [String] {
        func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ",") + "]" }
        let pairs: [(String, String, String)] = [
            ("ch", "\(ch)", "\(other.ch)"), ("ch_mult", list(chMult), list(other.chMult)),
            ("num_res_blocks", "\(numResBlocks)", "\(other.numResBlocks)"),
            ("attention at levels", list(attentionLevels), list(other.attentionLevels)),
            ("z_channels", "\(zChannels)", "\(other.zChannels)"), ("embed_dim", "\(embedDim)", "\(other.embedDim)"),
            ("in_channels", "\(inChannels)", "\(other.inChannels)"), ("out_ch", "\(outCh)", "\(other.outCh)"),
            ("double_z", "\(doubleZ)", "\(other.doubleZ)"), ("norm_num_groups", "\(normNumGroups)", "\(other.normNumGroups)"),
        ]
        return pairs.filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) in --config but \($0.2) with the weights" }
    }

    /// The encoder halves the image at each level but the last, so the side must divide evenly.
    public func checkImageSize(_ size: Int, option: String) throws {
        guard size % downsamplingFactor == 0 else {
            throw VAEDistError("\(option) \(size) is not divisible by \(downsamplingFactor) = 2^(levels-1) for ch_mult \(chMult)")
        }
    }
}

extension LatentSpace {
    /// These settings, with those they do not state taken from `other`.
    func filled(from other: LatentSpace) -> LatentSpace {
        LatentSpace(scalingFactor: scalingFactor ?? other.scalingFactor, shiftFactor: shiftFactor ?? other.shiftFactor,
                    latentsMean: latentsMean ?? other.latentsMean, latentsStd: latentsStd ?? other.latentsStd,
                    forceUpcast: forceUpcast ?? other.forceUpcast)
    }
}
