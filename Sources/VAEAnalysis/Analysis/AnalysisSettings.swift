import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// What an analysis run was asked to do, recorded beside its numbers.
public struct AnalysisSettings: Sendable {
    public var method: AnalysisMethod
    public var imageSize: Int
    /// The weights file; nil means random weights drawn from `seed` (differences then mean nothing).
    public var checkpoint: String?
    public var seed: UInt64
    /// Where the model config came from (a file); nil means the SD v1 VAE.
    public var config: String?
    /// Bootstrap resamples of a folder's confidence intervals (drawn from `seed`).
    public var bootstrap: Int
    /// The confidence level of a folder's intervals.
    public var level = 0.95
    /// Random permutations of a group comparison's p-value (drawn from `seed`) when its splits are more.
    public var permutations = 10000
    /// How a folder's pairs are grouped (`--group_by`).
    public var groupBy: GroupChoice = .automatic
    /// What the bootstrap resamples (`--cluster_by`): nil, the pairs.
    public var clusterBy: PairKey?
    /// Which layers are compared.
    public var layers: AnalysisLayers = .decoder
    /// How the run was made (the launcher's), written into every JSON file and report.html's footer.
    public var provenance: Provenance?

    public init(method: AnalysisMethod = .both, imageSize: Int = 512, checkpoint: String? = nil, seed: UInt64 = 0,
                config: String? = nil, bootstrap: Int = 2000) {
        self.bootstrap = bootstrap
        self.method = method
        self.imageSize = imageSize
        self.checkpoint = checkpoint
        self.seed = seed
        self.config = config
    }

    /// The model for these settings on `context`: the source's weights, or random ones from the seed; `log` gets the line
    /// saying what was loaded. The analysis feeds RGB images and draws RGB reconstructions, so the model must
    /// have 3 channels each way. `weights`: the source's tensors when already read (on rank 0, sent to this rank).
    public func makeModel(_ source: ModelSource, arithmetic: ConvolutionArithmetic, context: ComputeContext,
                          weights: ReadWeights? = nil, log: (String) -> Void) throws -> AutoencoderKL {
        let config = source.config
        try config.requireRGB(for: "the analysis")
        let model = AutoencoderKL(config, arithmetic: arithmetic, context: context)
        if source.weights != nil {
            log(try source.loadWeights(weights ?? source.readWeights(), into: model))
        } else {
            model.initialize(seed: seed)
        }
        return model
    }

    /// The settings as JSON members, for summary.json and aggregated_results.json.
    func jsonMembers(model: AutoencoderKL) -> [(key: String, value: JSONValue)] {
        var members: [(key: String, value: JSONValue)] = [
            ("checkpoint", checkpoint.map(JSONValue.string) ?? .null),
        ]
        if checkpoint == nil {
            members.append(("random_weights_seed", seed <= UInt64(Int.max) ? .integer(Int(seed)) : .string("\(seed)")))
        }
        members += [
            ("config", .string(config ?? "SD v1 VAE (default)")),
            ("model", .string(model.config.yamlDescription)),
            ("img_size", .integer(imageSize)),
            ("method", .string(method.rawValue)),
            ("compared_layers", .string(layers.rawValue)),
            // The arithmetic the model computes with (--fast_conv, --exact_conv change results by rounding).
            ("convolution", .string(model.arithmetic.description)),
        ]
        if let provenance { members.append(("provenance", provenance.json())) }
        return members
    }
}

/// `--layers`: the encoder's layers (`encoder.conv_in` … `encoder.conv_out`, then the moments `quant_conv`), the
/// decoder's, or both, in forward order.
public enum AnalysisLayers: String, CaseIterable, Sendable {
    case encoder, decoder, both

    public var encoder: Bool { self != .decoder }
    public var decoder: Bool { self != .encoder }
}

/// `--group_by`: the pairs' sub-folders when they are in some (make-pairs --recursive), else no groups; no groups;
/// or a rule.
public enum GroupChoice: Equatable, Sendable {
    case automatic, none
    case by(PairKey)

    /// `folder`, `regex:PATTERN` or `none`; the message names `flag`.
    public init(parsing text: String, flag: String) throws {
        self = text == "none" ? .none : .by(try PairKey(parsing: text, flag: flag))
    }

    /// The rule for pairs of these names: automatic groups by folder when any pair is in a sub-folder.
    public func rule(for names: [String]) -> PairKey? {
        switch self {
        case .automatic: return names.contains { $0.contains("/") } ? .folder : nil
        case .none: return nil
        case .by(let key): return key
        }
    }
}
