import Foundation
import VAECore
import Yams

/// Stable Diffusion yaml configs.
extension VAEConfig {
    public static func load(path: String) throws -> VAEConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VAEDistError("\(path): cannot read the config (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw VAEDistError("\(path): the config is not UTF-8 text")
        }
        return try parse(yaml: text, source: path)
    }

    /// Accepts four layouts:
    /// (a) a full SD config: `model.params.first_stage_config.params` holds `embed_dim` and `ddconfig`
    ///     (everything outside `first_stage_config` is ignored);
    /// (a') latent-diffusion's autoencoder config: `model` is `{target: …AutoencoderKL, params}` (its `data` and
    ///     `lightning` sections are ignored);
    /// (b) those params alone (`embed_dim`, `ddconfig`, …), possibly with their `target` as `{target, params}`;
    /// (c) the ddconfig keys and `embed_dim` at the top level.
    /// `norm_num_groups` may sit beside `ddconfig` or inside it. `source` names the file in messages.
    public static func parse(yaml: String, source: String) throws -> VAEConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw VAEDistError("\(source)\(yamlProblem(error))")
        } catch {
            throw VAEDistError("\(source): invalid YAML: \(error)")
        }
        guard let root else { throw VAEDistError("\(source): the config is empty") }
        return try ConfigReader(source: source).config(root: root)
    }
}

/// libyaml's nesting limit (`MAX_NESTING_LEVEL`): deeper flow or block collections are refused by the parser,
/// which keeps the composer's recursion shallow.
private let yamlNestingLimit = 1000

/// ":LINE: invalid YAML: what" in one short line: Yams' own description quotes the offending source line, which
/// a forged file makes hundreds of kilobytes long.
private func yamlProblem(_ error: YamlError) -> String {
    let found: (problem: String, mark: Mark?)
    switch error {
    case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
        found = (problem, mark)
    case .reader(let problem, _, _, _):
        found = (problem, nil)
    default:
        found = (String("\(error)".prefix(500)), nil)
    }
    let problem = found.problem.contains("Maximum nesting level") ? "nested too deeply (limit \(yamlNestingLimit))"
        : String(found.problem.prefix(200))
    return (found.mark.map { ":\($0.line)" } ?? "") + ": invalid YAML: " + problem
}

/// Reads a composed yaml tree, reporting every problem as "file:line: key.path …".
private struct ConfigReader {
    let source: String

    static let ddconfigKeys: Set<String> = [
        "double_z", "z_channels", "resolution", "in_channels", "out_ch", "ch", "ch_mult", "num_res_blocks",
        "attn_resolutions", "dropout", "resamp_with_conv", "attn_type", "use_linear_attn", "give_pre_end", "tanh_out",
        "norm_num_groups",
    ]
    /// AutoencoderKL's own arguments; those other than the two we read only matter to ldm's training code.
    static let paramsKeys: Set<String> = [
        "embed_dim", "ddconfig", "norm_num_groups", "lossconfig", "monitor", "ckpt_path", "ignore_keys", "image_key",
        "colorize_nlabels", "ema_decay", "learn_logvar",
    ]

    func config(root: Node) throws -> VAEConfig {
        let top = try mapping(root, at: "")
        if let model = top["model"] {
            let modelMap = try mapping(model.node, at: "model")
            let params = try required(modelMap, "params", in: "model")
            let paramsMap = try mapping(params, at: "model.params")
            if let firstStage = paramsMap["first_stage_config"] {
                var config = try firstStageConfig(firstStage.node, at: "model.params.first_stage_config")
                // The diffusion model multiplies the latents by scale_factor (0.18215 for SD 1.x and 2.x, 0.13025 for
                // SDXL): diffusers' scaling_factor, carried into checkpoints and exports.
                if let scale = paramsMap["scale_factor"] {
                    config.latentSpace.scalingFactor = try positiveNumber(scale.node, at: "model.params.scale_factor")
                }
                return config
            }
            // latent-diffusion's own autoencoder configs (configs/autoencoder/autoencoder_kl_*.yaml, the kl-f8
            // download) put the AutoencoderKL itself at `model`: {target, params: {embed_dim, ddconfig, …}}.
            if modelMap["target"]?.node.string?.contains("AutoencoderKL") == true || paramsMap["ddconfig"] != nil {
                return try firstStageConfig(model.node, at: "model")
            }
            throw VAEDistError("\(source): model.params.first_stage_config is missing: expected a Stable Diffusion config "
                            + "(the VAE at model.params.first_stage_config) or a latent-diffusion autoencoder config "
                            + "(model.target AutoencoderKL with model.params.ddconfig)")
        }
        if top["ddconfig"] == nil && top["params"] != nil {
            return try firstStageConfig(root, at: "")
        }
        if top["ddconfig"] != nil {
            return try autoencoderParams(root, at: "")
        }
        if top.keys.contains(where: Self.ddconfigKeys.contains) {
            return try bareConfig(top)
        }
        throw VAEDistError("\(source): no VAE config found: expected model.params.first_stage_config.params (a Stable "
                        + "Diffusion config), a top-level ddconfig with embed_dim, or the ddconfig keys (ch, ch_mult, "
                        + "…) at the top level; found the keys \(top.keys.sorted())")
    }

    /// A `{target, params}` node such as SD's `first_stage_config`.
    private func firstStageConfig(_ node: Node, at path: String) throws -> VAEConfig {
        let map = try mapping(node, at: path)
        if let target = map["target"] {
            guard let name = target.node.string, target.node.scalar != nil else {
                throw fail(target.node, "\(join(path, "target")) must be a class name, got \(describe(target.node))")
            }
            // SDXL names its class AutoencoderKLInferenceWrapper; VQ models have other parameters.
            guard name.contains("AutoencoderKL") else {
                throw fail(target.node, "\(join(path, "target")) is \(name); vae-dist reads only AutoencoderKL configs")
            }
        }
        let params = try required(map, "params", in: path)
        return try autoencoderParams(params, at: join(path, "params"))
    }

    /// AutoencoderKL's params: `embed_dim`, `ddconfig`, optionally `norm_num_groups`, plus ldm training options.
    private func autoencoderParams(_ node: Node, at path: String) throws -> VAEConfig {
        let map = try mapping(node, at: path)
        try rejectUnknown(map, known: Self.paramsKeys, at: path)
        let ddconfigPath = join(path, "ddconfig")
        let ddconfig = try mapping(try required(map, "ddconfig", in: path), at: ddconfigPath)
        try rejectUnknown(ddconfig, known: Self.ddconfigKeys, at: ddconfigPath)
        var config = VAEConfig.sdV1
        try readDDConfig(ddconfig, at: ddconfigPath, into: &config)
        if let embedDim = map["embed_dim"] { config.embedDim = try positiveInt(embedDim.node, at: join(path, "embed_dim")) }
        config.normNumGroups = try normNumGroups(outer: (map, path), inner: (ddconfig, ddconfigPath))
        return try validated(config, keysAt: path)
    }

    /// Layout (c): the ddconfig keys, `embed_dim` and perhaps `norm_num_groups` at the top.
    private func bareConfig(_ top: Entries) throws -> VAEConfig {
        try rejectUnknown(top, known: Self.ddconfigKeys.union(Self.paramsKeys).subtracting(["ddconfig"]), at: "")
        var config = VAEConfig.sdV1
        try readDDConfig(top, at: "", into: &config)
        if let embedDim = top["embed_dim"] { config.embedDim = try positiveInt(embedDim.node, at: "embed_dim") }
        if let groups = top["norm_num_groups"] { config.normNumGroups = try positiveInt(groups.node, at: "norm_num_groups") }
        return try validated(config, keysAt: nil)
    }

    private func readDDConfig(_ map: Entries, at path: String, into config: inout VAEConfig) throws {
        func int(_ key: String, _ field: WritableKeyPath<VAEConfig, Int>) throws {
            if let entry = map[key] { config[keyPath: field] = try positiveInt(entry.node, at: join(path, key)) }
        }
        try int("ch", \.ch)
        try int("num_res_blocks", \.numResBlocks)
        try int("z_channels", \.zChannels)
        try int("in_channels", \.inChannels)
        try int("out_ch", \.outCh)
        try int("resolution", \.resolution)
        if let entry = map["ch_mult"] {
            config.chMult = try positiveInts(entry.node, at: join(path, "ch_mult"), allowEmpty: false,
                                            maxCount: VAEConfig.maxLevels)
        }
        if let entry = map["attn_resolutions"] {
            config.attnResolutions = try positiveInts(entry.node, at: join(path, "attn_resolutions"), allowEmpty: true,
                                                     maxCount: VAEConfig.maxAttentionResolutions)
        }
        if let entry = map["double_z"] {
            let key = join(path, "double_z")
            guard try bool(entry.node, at: key) else {
                throw fail(entry.node, "\(key) must be true: a KL VAE's encoder outputs mean and log-variance")
            }
            config.doubleZ = true
        }
        if let entry = map["dropout"] {
            let key = join(path, "dropout")
            guard let rate = entry.node.float, entry.node.scalar != nil, rate.isFinite else {
                throw fail(entry.node, "\(key) must be a number, got \(describe(entry.node))")
            }
            guard rate == 0 else {
                throw fail(entry.node, "\(key) is \(rate), but vae-dist trains without dropout; set it to 0.0 "
                                       + "(as Stable Diffusion's VAEs do)")
            }
        }
        // ldm options that change the architecture; vae-dist implements their defaults only.
        if let entry = map["resamp_with_conv"], try !bool(entry.node, at: join(path, "resamp_with_conv")) {
            throw fail(entry.node, "\(join(path, "resamp_with_conv")) must be true: vae-dist resamples with convolutions")
        }
        for key in ["use_linear_attn", "give_pre_end", "tanh_out"] {
            if let entry = map[key], try bool(entry.node, at: join(path, key)) {
                throw fail(entry.node, "\(join(path, key)) must be false: vae-dist implements only the SD architecture")
            }
        }
        if let entry = map["attn_type"] {
            // xformers changes how attention is computed, not what it computes.
            guard let kind = entry.node.string, entry.node.scalar != nil, ["vanilla", "vanilla-xformers"].contains(kind) else {
                throw fail(entry.node, "\(join(path, "attn_type")) must be \"vanilla\" or \"vanilla-xformers\", "
                                       + "got \(describe(entry.node))")
            }
        }
    }

    /// `norm_num_groups` beside `ddconfig` or inside it; both places must agree.
    private func normNumGroups(outer: (Entries, String), inner: (Entries, String)) throws -> Int {
        let outerKey = join(outer.1, "norm_num_groups"), innerKey = join(inner.1, "norm_num_groups")
        let outerValue = try outer.0["norm_num_groups"].map { try positiveInt($0.node, at: outerKey) }
        let innerValue = try inner.0["norm_num_groups"].map { try positiveInt($0.node, at: innerKey) }
        if let outerValue, let innerValue, outerValue != innerValue {
            throw fail(inner.0["norm_num_groups"]?.node,
                       "\(innerKey) is \(innerValue) but \(outerKey) is \(outerValue); give it once")
        }
        return outerValue ?? innerValue ?? VAEConfig.sdV1.normNumGroups
    }

    /// Cross-key checks; messages use ldm key names, prefixed with where the params sit in this file.
    private func validated(_ config: VAEConfig, keysAt path: String?) throws -> VAEConfig {
        let found = config.problems()
        guard found.isEmpty else {
            let location = path.map { $0.isEmpty ? "" : " (keys under \($0))" } ?? " (ddconfig keys at the top level)"
            throw VAEDistError("\(source): invalid VAE config\(location): " + found.joined(separator: "; "))
        }
        return config
    }

    // MARK: Typed access

    /// A mapping's entries by key, keeping each value's node for its line number (Yams rejects duplicate keys).
    typealias Entries = [String: (key: Node, node: Node)]

    private func mapping(_ node: Node, at path: String) throws -> Entries {
        guard let map = node.mapping else {
            throw fail(node, "\(path.isEmpty ? "the top level" : path) must be a mapping, got \(describe(node))")
        }
        var entries: Entries = [:]
        for (key, value) in map {
            guard let name = key.string, key.scalar != nil else {
                throw fail(key, "\(path.isEmpty ? "the top level" : path) has a non-string key \(describe(key))")
            }
            entries[name] = (key, value)
        }
        return entries
    }

    private func required(_ map: Entries, _ key: String, in path: String) throws -> Node {
        guard let entry = map[key] else {
            throw VAEDistError("\(source): \(join(path, key)) is missing")
        }
        return entry.node
    }

    private func rejectUnknown(_ map: Entries, known: Set<String>, at path: String) throws {
        let unknown = map.keys.filter { !known.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        let keys = unknown.map { join(path, $0) }.joined(separator: ", ")
        throw fail(map[first]?.key, "unknown key\(unknown.count == 1 ? "" : "s") \(keys) (known here: "
                                    + "\(known.sorted().joined(separator: ", ")))")
    }

    /// A positive integer no larger than `VAEConfig.maxima` of the key's last part.
    private func positiveInt(_ node: Node, at key: String) throws -> Int {
        guard node.scalar != nil, let value = node.int, value > 0 else {
            throw fail(node, "\(key) must be a positive integer, got \(describe(node))")
        }
        if let limit = VAEConfig.maxima[lastPart(key)], value > limit {
            throw fail(node, "\(key) is \(value), more than the \(limit) accepted")
        }
        return value
    }

    private func positiveNumber(_ node: Node, at key: String) throws -> Double {
        guard node.scalar != nil, let value = node.float, value.isFinite, value > 0 else {
            throw fail(node, "\(key) must be a positive number, got \(describe(node))")
        }
        return value
    }

    private func positiveInts(_ node: Node, at key: String, allowEmpty: Bool, maxCount: Int) throws -> [Int] {
        let what = allowEmpty ? "a list of positive integers" : "a non-empty list of positive integers"
        guard let sequence = node.sequence else { throw fail(node, "\(key) must be \(what), got \(describe(node))") }
        let values = sequence.compactMap { $0.scalar != nil ? $0.int : nil }
        guard values.count == sequence.count, values.allSatisfy({ $0 > 0 }), allowEmpty || !values.isEmpty else {
            throw fail(node, "\(key) must be \(what), got \(describe(node))")
        }
        if let problem = VAEConfig.listProblem(key, values, maxCount: maxCount) { throw fail(node, problem) }
        return values
    }

    private func bool(_ node: Node, at key: String) throws -> Bool {
        guard node.scalar != nil, let value = node.bool else {
            throw fail(node, "\(key) must be true or false, got \(describe(node))")
        }
        return value
    }

    // MARK: Messages

    private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    private func lastPart(_ key: String) -> String { String(key.split(separator: ".").last ?? "") }

    private func fail(_ node: Node?, _ message: String) -> VAEDistError {
        if let line = node?.mark?.line { return VAEDistError("\(source):\(line): \(message)") }
        return VAEDistError("\(source): \(message)")
    }

    /// The value as written, e.g. `-1`, `"abc"`, `[1, "x"]`, `a mapping`; numbers bare, anything else quoted.
    /// Cut at about 100 characters: through aliases a small file can hold an exponentially large value.
    private func describe(_ node: Node) -> String {
        var text = ""
        describe(node, into: &text)
        return text
    }

    private static let describedLength = 100

    private func describe(_ node: Node, into text: inout String) {
        switch node {
        case .scalar(let scalar):
            let value = scalar.string.count > Self.describedLength
                ? String(scalar.string.prefix(Self.describedLength)) + "…" : scalar.string
            if value.isEmpty { text += "nothing" } else { text += node.float != nil ? value : "\"\(value)\"" }
        case .sequence(let sequence):
            text += "["
            for (i, item) in sequence.enumerated() {
                guard text.count < Self.describedLength else {
                    text += "…"
                    break
                }
                if i > 0 { text += ", " }
                describe(item, into: &text)
            }
            text += "]"
        case .mapping:
            text += "a mapping"
        case .alias:
            text += "an alias"
        }
    }
}
