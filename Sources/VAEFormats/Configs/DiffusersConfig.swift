import Foundation
import VAECore

/// A diffusers `AutoencoderKL` config.json (a pipeline's `vae/config.json`) read as the ldm config it describes.
/// Keys left out take diffusers' defaults, as `AutoencoderKL.from_pretrained` does; keys vae-dist does not know,
/// and values describing another architecture, are refused with the file and key.
enum DiffusersConfig {
    /// A JSON object with diffusers' `_class_name` or the VAE's `block_out_channels` (yaml configs are neither).
    static func isDiffusersConfig(_ text: String) -> Bool {
        guard let map = try? object(text) else { return false }
        return map["_class_name"] != nil || map["block_out_channels"] != nil
    }

    /// The largest config.json read to tell what it is: diffusers writes about 1 kB.
    static let maxConfigBytes = 1 << 20

    /// True when `text` is a diffusers AutoencoderKL config: `_class_name` "AutoencoderKL", or no `_class_name` and
    /// the VAE's `block_out_channels` (a hand-written config). A UNet's or a scheduler's config.json is not one.
    static func isAutoencoderKLConfig(_ text: String) -> Bool {
        guard let map = try? object(text) else { return false }
        guard let className = map["_class_name"] else { return map["block_out_channels"] != nil }
        if case .string("AutoencoderKL") = className { return true }
        return false
    }

    /// The same for the file at `path`, read only when it is a regular file of at most `maxConfigBytes` (a FIFO
    /// named config.json is not opened for a blocking read).
    static func isAutoencoderKLConfig(atPath path: String) -> Bool {
        guard let file = try? ReadOnlyFile(path: path), file.size <= maxConfigBytes,
              let bytes = try? file.read(0..<file.size), let text = String(validating: bytes, as: UTF8.self) else { return false }
        return isAutoencoderKLConfig(text)
    }

    static func parse(json text: String, source: String) throws -> VAEConfig {
        let map: [String: JSONValue]
        do {
            guard let object = try object(text) else { throw VAEDistError("\(source): the config is not a JSON object") }
            map = object
        } catch let error as JSONSyntaxError {
            throw VAEDistError("\(source): invalid JSON: \(error.message)")
        }
        return try Reader(map: map, source: source).config()
    }

    /// The latent settings among `map`'s members under diffusers' names (other members are ignored); messages
    /// start with `source`.
    static func latentSpace(_ map: [String: JSONValue], source: String) throws -> LatentSpace {
        try Reader(map: map, source: source).latentSpace()
    }

    /// diffusers' names of the latent settings.
    static var latentKeys: Set<String> { Reader.latentKeys }

    /// The members of a top-level JSON object (the strict reader refuses a key given twice); nil for other JSON.
    private static func object(_ text: String) throws -> [String: JSONValue]? {
        guard case .object(let members) = try StrictJSONReader.parse(Array(text.utf8)) else { return nil }
        return Dictionary(members, uniquingKeysWith: { first, _ in first })
    }
}

private struct Reader {
    let map: [String: JSONValue]
    let source: String

    static let downBlocks = (plain: "DownEncoderBlock2D", attention: "AttnDownEncoderBlock2D")
    static let upBlocks = (plain: "UpDecoderBlock2D", attention: "AttnUpDecoderBlock2D")
    /// Read into the config, or checked to be what vae-dist implements.
    static let architectureKeys: Set<String> = [
        "_class_name", "act_fn", "block_out_channels", "down_block_types", "up_block_types", "layers_per_block",
        "latent_channels", "norm_num_groups", "in_channels", "out_channels", "sample_size", "use_quant_conv",
        "use_post_quant_conv", "mid_block_add_attention",
    ]
    /// The latent scaling a diffusion pipeline applies outside the autoencoder: kept in `VAEConfig.latentSpace`.
    static let latentKeys: Set<String> = ["scaling_factor", "shift_factor", "latents_mean", "latents_std", "force_upcast"]
    /// Bookkeeping.
    static let ignoredKeys: Set<String> = ["_diffusers_version", "_name_or_path"]

    func config() throws -> VAEConfig {
        let className = try string("_class_name", default: "AutoencoderKL")
        guard className == "AutoencoderKL" else {
            throw VAEDistError("\(source): _class_name is \(className); vae-dist reads only AutoencoderKL configs "
                            + "(in a diffusers pipeline, the vae/ folder's config.json)")
        }
        let known = Self.architectureKeys.union(Self.latentKeys).union(Self.ignoredKeys)
        let unknown = map.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw VAEDistError("\(source): unknown key\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")) "
                            + "(a diffusers AutoencoderKL config has: \(known.sorted().joined(separator: ", ")))")
        }
        let activation = try string("act_fn", default: "silu")
        guard activation == "silu" else {
            throw VAEDistError("\(source): act_fn is \(activation); vae-dist implements the SD architecture, act_fn \"silu\"")
        }
        // SD3's and FLUX's VAEs have no quant convs; some others no attention in the mid block. One line says so,
        // rather than the long list of missing and mis-shaped tensors their weights would give.
        let architectures = [("use_quant_conv", "no quant_conv, as SD3's and FLUX's VAEs"),
                             ("use_post_quant_conv", "no post_quant_conv, as SD3's and FLUX's VAEs"),
                             ("mid_block_add_attention", "no attention in the mid block")]
        for (key, what) in architectures where !(try bool(key, default: true)) {
            throw VAEDistError("\(source): \(key) is false: that architecture (\(what)) is not supported; vae-dist "
                            + "implements the Stable Diffusion VAE (SD 1.x, 2.x, SDXL), with quant convs and mid-block attention")
        }

        let blockChannels = try positiveInts("block_out_channels", default: [64])
        // diffusers' conv_in yields block_out_channels[0], ldm's yields ch: so ch = block_out_channels[0].
        let ch = blockChannels[0]
        if let notMultiple = blockChannels.first(where: { $0 % ch != 0 }) {
            throw VAEDistError("\(source): block_out_channels \(blockChannels): \(notMultiple) is not a multiple of the first "
                            + "entry \(ch); ldm's ch_mult needs every level's channels as a multiple of ch")
        }
        let levels = blockChannels.count
        let downAttention = try attentionLevels("down_block_types", blocks: Self.downBlocks, levels: levels)
        // diffusers numbers up blocks from the lowest resolution: up block k is ldm level levels-1-k.
        let upAttention = Set(try attentionLevels("up_block_types", blocks: Self.upBlocks, levels: levels).map { levels - 1 - $0 })
        guard downAttention == upAttention else {
            throw VAEDistError("\(source): up_block_types puts attention at other levels than down_block_types; ldm's "
                            + "AutoencoderKL has attention at the same resolutions in encoder and decoder")
        }
        var config = VAEConfig(ch: ch, chMult: blockChannels.map { $0 / ch },
                               numResBlocks: try positiveInt("layers_per_block", default: 1),
                               zChannels: try positiveInt("latent_channels", default: 4),
                               inChannels: try positiveInt("in_channels", default: 3),
                               outCh: try positiveInt("out_channels", default: 3),
                               normNumGroups: try positiveInt("norm_num_groups", default: 32))
        config.embedDim = config.zChannels
        // diffusers places attention by block type; ldm by resolution. Any resolution whose levels stay
        // distinct and halve evenly places it the same way, so an odd sample_size falls back to the factor.
        let sampleSize = try self.sampleSize()
        config.resolution = sampleSize % config.downsamplingFactor == 0 ? sampleSize : config.downsamplingFactor
        config.attnResolutions = downAttention.sorted().map { config.resolution >> $0 }
        config.latentSpace = try latentSpace()
        do {
            try config.validate()
        } catch {
            throw VAEDistError("\(source): \(error)")
        }
        return config
    }

    /// The levels (in block order) whose block type carries attention.
    private func attentionLevels(_ key: String, blocks: (plain: String, attention: String), levels: Int) throws -> Set<Int> {
        let types = try strings(key, default: [blocks.plain])
        guard types.count == levels else {
            throw VAEDistError("\(source): \(key) has \(types.count) entries but block_out_channels \(levels); "
                            + "diffusers needs one block type per level")
        }
        var attention = Set<Int>()
        for (i, type) in types.enumerated() {
            switch type {
            case blocks.plain: continue
            case blocks.attention: attention.insert(i)
            default:
                throw VAEDistError("\(source): \(key)[\(i)] is \(type); vae-dist implements \(blocks.plain) and \(blocks.attention)")
            }
        }
        return attention
    }

    /// The latent settings the file states; a key left out or null is not stated (diffusers' default applies).
    func latentSpace() throws -> LatentSpace {
        func number(_ key: String) throws -> Double? {
            guard let entry = map[key], !isNull(entry) else { return nil }
            guard let value = double(entry) else { throw VAEDistError("\(source): \(key) must be a number, got \(entry.quoted())") }
            return value
        }
        func numbers(_ key: String) throws -> [Double]? {
            guard let entry = map[key], !isNull(entry) else { return nil }
            if case .array(let items) = entry {
                let values = items.compactMap(double)
                if values.count == items.count { return values }
            }
            throw VAEDistError("\(source): \(key) must be a list of numbers, got \(entry.quoted())")
        }
        let upcast: Bool? = try map["force_upcast"].flatMap { isNull($0) ? nil : try bool("force_upcast", default: true) }
        return LatentSpace(scalingFactor: try number("scaling_factor"), shiftFactor: try number("shift_factor"),
                           latentsMean: try numbers("latents_mean"), latentsStd: try numbers("latents_std"), forceUpcast: upcast)
    }

    private func isNull(_ value: JSONValue) -> Bool {
        if case .null = value { return true } else { return false }
    }

    private func double(_ value: JSONValue) -> Double? {
        guard case .number(let literal) = value, let x = Double(literal), x.isFinite else { return nil }
        return x
    }

    /// `sample_size` is an int or [height, width]; only its divisibility matters here.
    private func sampleSize() throws -> Int {
        guard let entry = map["sample_size"] else { return 32 }
        if let n = positiveInt(entry) { return n }
        if case .array(let sides) = entry, sides.count == 2, let h = positiveInt(sides[0]), let w = positiveInt(sides[1]) {
            return min(h, w)
        }
        throw VAEDistError("\(source): sample_size must be a positive integer or [height, width], got \(entry.quoted())")
    }

    // MARK: Typed access

    /// An integer literal (not 2.0 or 1e3) above zero.
    private func positiveInt(_ value: JSONValue) -> Int? {
        guard case .number(let literal) = value, let n = Int(literal), n > 0 else { return nil }
        return n
    }

    private func positiveInt(_ key: String, default value: Int) throws -> Int {
        guard let entry = map[key] else { return value }
        guard let n = positiveInt(entry) else { throw VAEDistError("\(source): \(key) must be a positive integer, got \(entry.quoted())") }
        return n
    }

    private func positiveInts(_ key: String, default value: [Int]) throws -> [Int] {
        guard let entry = map[key] else { return value }
        if case .array(let items) = entry {
            let values = items.compactMap(positiveInt)
            if values.count == items.count && !values.isEmpty { return values }
        }
        throw VAEDistError("\(source): \(key) must be a non-empty list of positive integers, got \(entry.quoted())")
    }

    private func strings(_ key: String, default value: [String]) throws -> [String] {
        guard let entry = map[key] else { return value }
        if case .array(let items) = entry {
            let values = items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
            if values.count == items.count { return values }
        }
        throw VAEDistError("\(source): \(key) must be a list of block type names, got \(entry.quoted())")
    }

    private func string(_ key: String, default value: String) throws -> String {
        guard let entry = map[key] else { return value }
        guard case .string(let s) = entry else { throw VAEDistError("\(source): \(key) must be a string, got \(entry.quoted())") }
        return s
    }

    private func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let entry = map[key] else { return value }
        guard case .bool(let b) = entry else { throw VAEDistError("\(source): \(key) must be true or false, got \(entry.quoted())") }
        return b
    }
}
