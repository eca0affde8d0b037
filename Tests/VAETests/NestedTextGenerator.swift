import Foundation

/// Random YAML and JSON documents shaped like the configs vae-dist reads (SD yaml, latent-diffusion yaml, diffusers
/// config.json) with random trees grafted in: small ones of mixed block and flow style whose scalars sit at the
/// integer and float edges, nestings on both sides of the readers' limits (64 for JSON, 1000 for YAML) and far
/// beyond, and anchors whose aliases expand exponentially (a "billion laughs").
struct NestedTextGenerator {
    private var random: FuzzRandom

    init(seed: UInt64) { random = FuzzRandom(seed: seed) }

    private static let scalars = [
        "0", "1", "-1", "8", "32", "4", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "18446744073709551616", "1e308", "1e309", "-0", ".nan", ".inf", "0.18215", "true", "null",
        "~", "\"x\"", "''", "0x7fffffffffffffff", "0o17", "1_000",
    ]

    private static let yamlKeys = [
        "model", "params", "first_stage_config", "target", "embed_dim", "ddconfig", "ch", "ch_mult", "num_res_blocks",
        "z_channels", "attn_resolutions", "resolution", "in_channels", "out_ch", "double_z", "norm_num_groups", "dropout",
        "scale_factor", "lossconfig", "monitor",
    ]

    private static let jsonKeys = [
        "_class_name", "block_out_channels", "down_block_types", "up_block_types", "layers_per_block", "latent_channels",
        "norm_num_groups", "in_channels", "out_channels", "sample_size", "scaling_factor", "shift_factor", "latents_mean",
        "latents_std", "force_upcast", "use_quant_conv", "mid_block_add_attention", "act_fn",
    ]

    /// Nesting depths: under, at and over the limits, and far over.
    private mutating func depth() -> Int { random.pick([2, 10, 63, 64, 65, 999, 1000, 1001, 5000, 50_000]) }

    // MARK: YAML

    mutating func yaml() -> String {
        let graft = yamlGraft()
        switch random.below(4) {
        case 0:                                                // an SD config with the graft somewhere inside
            return """
                model:
                  params:
                    first_stage_config:
                      target: ldm.models.autoencoder.AutoencoderKL
                      params:
                        embed_dim: 4
                        \(random.pick(["ddconfig", "lossconfig", "embed_dim", "monitor"])): \(graft)
                """
        case 1:
            return "model:\n  target: ldm.models.autoencoder.AutoencoderKL\n  params:\n    ddconfig: {ch: 8, ch_mult: \(graft)}\n"
        case 2: return "\(random.pick(Self.yamlKeys)): \(graft)\n\(random.pick(Self.yamlKeys)): \(random.pick(Self.scalars))\n"
        default: return graft
        }
    }

    /// One flow-style YAML value (so it can sit after any key).
    private mutating func yamlGraft() -> String {
        switch random.below(5) {
        case 0:
            let n = depth()
            return String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n)
        case 1:
            let n = depth()
            return String(repeating: "{a: ", count: n) + "1" + String(repeating: "}", count: n)
        case 2:                                                // anchors, each level doubling the one before
            let levels = random.pick([5, 20, 40])
            var text = "[&l0 [1, 2]"
            for i in 1..<levels { text += ", &l\(i) [*l\(i - 1), *l\(i - 1)]" }
            return text + "]"
        case 3: return String(repeating: "[", count: depth())  // unclosed
        default: return flowTree(depth: 0)
        }
    }

    private mutating func flowTree(depth: Int) -> String {
        guard depth < 5, random.chance(0.6) else { return random.pick(Self.scalars) }
        let count = random.below(4)
        if random.chance(0.5) {
            return "[" + (0..<count).map { _ in flowTree(depth: depth + 1) }.joined(separator: ", ") + "]"
        }
        return "{" + (0..<count).map { _ in "\(random.pick(Self.yamlKeys)): \(flowTree(depth: depth + 1))" }.joined(separator: ", ") + "}"
    }

    // MARK: JSON

    mutating func json() -> String {
        var members = ["\"_class_name\": \"AutoencoderKL\"", "\"block_out_channels\": [32, 64]",
                       "\"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"]",
                       "\"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]", "\"norm_num_groups\": 8"]
        for _ in 0..<1 + random.below(3) {
            let value: String
            switch random.below(4) {
            case 0:
                let n = depth()
                value = String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n)
            case 1:
                let n = depth()
                value = String(repeating: "{\"a\": ", count: n) + "1" + String(repeating: "}", count: n)
            case 2: value = String(repeating: random.pick(["[", "{\"a\":"]), count: depth())
            default: value = jsonTree(depth: 0)
            }
            let key = random.pick(Self.jsonKeys)
            if let at = members.firstIndex(where: { $0.hasPrefix("\"\(key)\"") }) { members.remove(at: at) }
            members.append("\"\(key)\": \(value)")
        }
        members.shuffle(using: &random)
        return "{" + members.joined(separator: ", ") + "}"
    }

    private mutating func jsonTree(depth: Int) -> String {
        guard depth < 5, random.chance(0.6) else {
            return random.pick(["0", "1", "-1", "32", "1e308", "1e309", "-0", "0.13025", "9223372036854775808",
                                "18446744073709551616", "true", "null", "\"silu\"", "\"AutoencoderKL\"", "1.5"])
        }
        let count = random.below(4)
        if random.chance(0.5) {
            return "[" + (0..<count).map { _ in jsonTree(depth: depth + 1) }.joined(separator: ", ") + "]"
        }
        return "{" + (0..<count).map { _ in "\"\(random.pick(Self.jsonKeys))\": \(jsonTree(depth: depth + 1))" }.joined(separator: ", ") + "}"
    }
}
