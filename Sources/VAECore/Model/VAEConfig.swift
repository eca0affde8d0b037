import Foundation

/// The shape of an ldm `AutoencoderKL`: its `ddconfig`, `embed_dim`, and the GroupNorm group count
/// (`norm_num_groups`, an extension: ldm fixes 32).
///
/// Config files are Stable Diffusion yaml (see `parse(yaml:source:)`). A key left out of the file takes
/// its SD v1 value. `dropout` must be 0 or absent: vae-dist trains without dropout, and silently ignoring
/// a nonzero rate would train a different model than the config describes.
public struct VAEConfig: Equatable, Codable, Sendable {
    public var ch: Int
    public var chMult: [Int]
    public var numResBlocks: Int
    public var attnResolutions: [Int]
    public var zChannels: Int
    public var embedDim: Int
    public var inChannels: Int
    public var outCh: Int
    /// Nominal input size; level i works at `resolution >> i` (ldm's curr_res), which decides where attention sits.
    public var resolution: Int
    public var doubleZ: Bool
    public var normNumGroups: Int
    /// How pipelines scale the latents, when the config the weights came with says (`LatentSpace`).
    public var latentSpace = LatentSpace()

    public init(ch: Int = 128, chMult: [Int] = [1, 2, 4, 4], numResBlocks: Int = 2, attnResolutions: [Int] = [],
                zChannels: Int = 4, embedDim: Int = 4, inChannels: Int = 3, outCh: Int = 3, resolution: Int = 256,
                doubleZ: Bool = true, normNumGroups: Int = 32) {
        self.ch = ch
        self.chMult = chMult
        self.numResBlocks = numResBlocks
        self.attnResolutions = attnResolutions
        self.zChannels = zChannels
        self.embedDim = embedDim
        self.inChannels = inChannels
        self.outCh = outCh
        self.resolution = resolution
        self.doubleZ = doubleZ
        self.normNumGroups = normNumGroups
    }

    /// Stable Diffusion v1's VAE (`v1-inference.yaml`, 32 groups).
    public static let sdV1 = VAEConfig()

    /// Number of resolution levels (`len(ch_mult)`).
    public var levels: Int { chMult.count }

    /// How many times smaller the latent is than the image: the encoder halves at every level but the last.
    public var downsamplingFactor: Int { 1 << (levels - 1) }

    /// Output channels of each level's blocks: `ch · ch_mult[i]`.
    public var levelChannels: [Int] { chMult.map { ch * $0 } }

    /// Levels whose blocks carry attention, in both encoder and decoder (the mid block always has one).
    public var attentionLevels: [Int] { chMult.indices.filter { attnResolutions.contains(resolution >> $0) } }

    /// One line for messages: "ch 128, ch_mult [1,2,4,4], num_res_blocks 2, …".
    public var yamlDescription: String {
        func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ",") + "]" }
        var parts = ["ch \(ch)", "ch_mult \(list(chMult))", "num_res_blocks \(numResBlocks)",
                     "attn_resolutions \(list(attnResolutions))", "z_channels \(zChannels)", "embed_dim \(embedDim)",
                     "in_channels \(inChannels)", "out_ch \(outCh)", "resolution \(resolution)",
                     "norm_num_groups \(normNumGroups)"]
        if !doubleZ { parts.append("double_z false") }
        parts += latentSpace.entries.map { "\($0.key) \($0.json)" }
        return parts.joined(separator: ", ")
    }

    /// The jobs read RGB images and write RGB reconstructions.
    public func requireRGB(for job: String) throws {
        guard inChannels == 3, outCh == 3 else {
            throw VAEDistError("\(job) works on RGB images: the model needs in_channels 3 and out_ch 3, the config has "
                            + "\(inChannels) and \(outCh)")
        }
    }

    public func validate() throws {
        let found = problems()
        if !found.isEmpty {
            throw VAEDistError("invalid VAE config (\(yamlDescription)): " + found.joined(separator: "; "))
        }
    }

    // MARK: Limits

    /// The largest value of each integer key, by its yaml name. Far beyond any published VAE (SD's: ch 128,
    /// ch_mult [1,2,4,4], num_res_blocks 2, z_channels 4), yet small enough that every size derived from them
    /// fits an Int, so that a typo such as `ch: 100000` is refused by name before anything is allocated.
    public static let maxima: [String: Int] = [
        "ch": 4096, "num_res_blocks": 64, "z_channels": 1024, "embed_dim": 1024, "in_channels": 1024,
        "out_ch": 1024, "resolution": 65536, "norm_num_groups": 4096,
        "ch_mult": 64, "attn_resolutions": 65536,
    ]
    /// Most `ch_mult` entries (levels): each level halves the image, 10 levels shrink it 512 times.
    public static let maxLevels = 10
    /// Most `attn_resolutions` entries.
    public static let maxAttentionResolutions = 64
    /// Most channels of one level (`ch · ch_mult[i]`): a 3×3 convolution of that width holds 2.4 G weights.
    public static let maxLevelChannels = 16384
    /// Most parameters: 8.6 GB of float32 weights, 25 times SD's VAE (83.7 M).
    public static let maxParameters = 1 << 31

    /// Everything wrong with the values, phrased with the yaml key names.
    public func problems() -> [String] {
        var found: [String] = []
        let scalars: [(key: String, name: String, value: Int)] = [
            ("ddconfig.ch", "ch", ch), ("ddconfig.num_res_blocks", "num_res_blocks", numResBlocks),
            ("ddconfig.z_channels", "z_channels", zChannels), ("embed_dim", "embed_dim", embedDim),
            ("ddconfig.in_channels", "in_channels", inChannels), ("ddconfig.out_ch", "out_ch", outCh),
            ("ddconfig.resolution", "resolution", resolution), ("norm_num_groups", "norm_num_groups", normNumGroups),
        ]
        // Products of the values (channel and parameter counts) are computed only when every value is in bounds.
        var withinLimits = true
        for (key, name, value) in scalars {
            if value <= 0 {
                found.append("\(key) must be a positive integer, got \(value)")
                withinLimits = false
            }
            if let limit = Self.maxima[name], value > limit {
                found.append("\(key) is \(value), more than the \(limit) accepted")
                withinLimits = false
            }
        }
        if chMult.isEmpty || chMult.contains(where: { $0 <= 0 }) {
            found.append("ddconfig.ch_mult must be a non-empty list of positive integers, got \(chMult)")
            withinLimits = false
        }
        if let problem = Self.listProblem("ddconfig.ch_mult", chMult, maxCount: Self.maxLevels) {
            found.append(problem)
            withinLimits = false
        }
        if attnResolutions.contains(where: { $0 <= 0 }) {
            found.append("ddconfig.attn_resolutions must be a list of positive integers, got \(attnResolutions)")
        }
        if let problem = Self.listProblem("ddconfig.attn_resolutions", attnResolutions, maxCount: Self.maxAttentionResolutions) {
            found.append(problem)
        }
        if !doubleZ {
            found.append("ddconfig.double_z must be true (a KL VAE's encoder outputs mean and log-variance)")
        }
        found += latentSpace.problems(channels: embedDim)
        guard withinLimits else { return found }
        let widest = levelChannels.max() ?? 0
        if widest > Self.maxLevelChannels {
            found.append("ddconfig.ch \(ch) × ddconfig.ch_mult \(chMult) gives \(widest) channels, more than the "
                         + "\(Self.maxLevelChannels) accepted")
        } else {
            let parameters = parameterCount
            if parameters > Self.maxParameters {
                found.append("this model would have \(parameters) parameters, more than the \(Self.maxParameters) accepted "
                             + "(\(ByteCount.text(4 * Double(Self.maxParameters))) of float32 weights)")
            }
        }
        // conv_in yields ch channels and every level ch·mult; GroupNorm normalizes each of them.
        let channelCounts = [ch] + levelChannels
        let indivisible = channelCounts.reduce(into: [Int]()) { found, count in
            if count % normNumGroups != 0 && !found.contains(count) { found.append(count) }
        }
        if !indivisible.isEmpty {
            found.append("norm_num_groups \(normNumGroups) must divide every channel count, but ddconfig.ch \(ch) "
                         + "with ddconfig.ch_mult \(chMult) gives \(channelCounts) and "
                         + "\(indivisible.map(String.init).joined(separator: ", ")) "
                         + "\(indivisible.count == 1 ? "is" : "are") not a multiple of \(normNumGroups)")
        }
        return found
    }

    /// A list key's count and entries against its limits (the entry limit is `maxima` of the key's last part).
    public static func listProblem(_ key: String, _ values: [Int], maxCount: Int) -> String? {
        if values.count > maxCount { return "\(key) has \(values.count) entries, more than the \(maxCount) accepted" }
        if let limit = maxima[String(key.split(separator: ".").last ?? "")], let largest = values.max(), largest > limit {
            return "\(key) has the entry \(largest), more than the \(limit) accepted"
        }
        return nil
    }

    // MARK: Codable (yaml and diffusers key names, so stored configs read like the config files)

    enum CodingKeys: String, CodingKey {
        case ch, chMult = "ch_mult", numResBlocks = "num_res_blocks", attnResolutions = "attn_resolutions"
        case zChannels = "z_channels", embedDim = "embed_dim", inChannels = "in_channels", outCh = "out_ch"
        case resolution, doubleZ = "double_z", normNumGroups = "norm_num_groups"
        // The latent space's settings, flat beside the rest and only when stated: checkpoints written before
        // they existed lack them and still load.
        case scalingFactor = "scaling_factor", shiftFactor = "shift_factor", latentsMean = "latents_mean"
        case latentsStd = "latents_std", forceUpcast = "force_upcast"
    }

    public func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ch, forKey: .ch)
        try c.encode(chMult, forKey: .chMult)
        try c.encode(numResBlocks, forKey: .numResBlocks)
        try c.encode(attnResolutions, forKey: .attnResolutions)
        try c.encode(zChannels, forKey: .zChannels)
        try c.encode(embedDim, forKey: .embedDim)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(outCh, forKey: .outCh)
        try c.encode(resolution, forKey: .resolution)
        try c.encode(doubleZ, forKey: .doubleZ)
        try c.encode(normNumGroups, forKey: .normNumGroups)
        try c.encodeIfPresent(latentSpace.scalingFactor, forKey: .scalingFactor)
        try c.encodeIfPresent(latentSpace.shiftFactor, forKey: .shiftFactor)
        try c.encodeIfPresent(latentSpace.latentsMean, forKey: .latentsMean)
        try c.encodeIfPresent(latentSpace.latentsStd, forKey: .latentsStd)
        try c.encodeIfPresent(latentSpace.forceUpcast, forKey: .forceUpcast)
    }

    /// Decoding validates, so no invalid config enters through stored metadata either.
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(ch: try c.decode(Int.self, forKey: .ch),
                  chMult: try c.decode([Int].self, forKey: .chMult),
                  numResBlocks: try c.decode(Int.self, forKey: .numResBlocks),
                  attnResolutions: try c.decode([Int].self, forKey: .attnResolutions),
                  zChannels: try c.decode(Int.self, forKey: .zChannels),
                  embedDim: try c.decode(Int.self, forKey: .embedDim),
                  inChannels: try c.decode(Int.self, forKey: .inChannels),
                  outCh: try c.decode(Int.self, forKey: .outCh),
                  resolution: try c.decode(Int.self, forKey: .resolution),
                  doubleZ: try c.decode(Bool.self, forKey: .doubleZ),
                  normNumGroups: try c.decode(Int.self, forKey: .normNumGroups))
        latentSpace = LatentSpace(scalingFactor: try c.decodeIfPresent(Double.self, forKey: .scalingFactor),
                                  shiftFactor: try c.decodeIfPresent(Double.self, forKey: .shiftFactor),
                                  latentsMean: try c.decodeIfPresent([Double].self, forKey: .latentsMean),
                                  latentsStd: try c.decodeIfPresent([Double].self, forKey: .latentsStd),
                                  forceUpcast: try c.decodeIfPresent(Bool.self, forKey: .forceUpcast))
        try validate()
    }
}
