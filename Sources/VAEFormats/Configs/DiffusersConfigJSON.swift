import Foundation
import VAECore

/// Why diffusers' `AutoencoderKL` cannot express `config`, nil when it can: it has one `latent_channels` for
/// ldm's z_channels and embed_dim (its quant convs keep the width).
func diffusersProblem(with config: VAEConfig) -> String? {
    guard config.zChannels == config.embedDim else {
        return "diffusers' AutoencoderKL has one latent_channels for ldm's z_channels and embed_dim, but this "
            + "model has z_channels \(config.zChannels) and embed_dim \(config.embedDim); export it with --format ldm"
    }
    return nil
}

/// diffusers' `AutoencoderKL` config.json for `config`. Only keys every diffusers release reads (newer optional
/// keys keep their defaults), so that older releases do not warn about unexpected attributes, plus the latent
/// settings the model's source stated (`LatentSpace`: an SDXL VAE keeps its scaling_factor 0.13025); a VAE trained
/// here from scratch states none, and diffusers' defaults apply.
func diffusersConfigJSON(for config: VAEConfig) -> JSONValue {
    // Attention sits in the same levels of encoder and decoder; diffusers lists decoder levels from the lowest
    // resolution (up_blocks.K = ldm up[n-1-K]).
    let attention = Set(config.attentionLevels)
    let down = config.chMult.indices.map { attention.contains($0) ? "AttnDownEncoderBlock2D" : "DownEncoderBlock2D" }
    let up = config.chMult.indices.reversed().map { attention.contains($0) ? "AttnUpDecoderBlock2D" : "UpDecoderBlock2D" }
    let members: [(key: String, value: JSONValue)] = [
        ("_class_name", .string("AutoencoderKL")),
        ("act_fn", .string("silu")),
        ("block_out_channels", .array(config.levelChannels.map { .integer($0) })),
        ("down_block_types", .array(down.map { .string($0) })),
        ("in_channels", .integer(config.inChannels)),
        ("latent_channels", .integer(config.zChannels)),
        ("layers_per_block", .integer(config.numResBlocks)),
        ("norm_num_groups", .integer(config.normNumGroups)),
        ("out_channels", .integer(config.outCh)),
        ("sample_size", .integer(config.resolution)),
        ("up_block_types", .array(up.map { .string($0) })),
    ]
    return .object((members + config.latentSpace.jsonMembers).sorted { $0.key < $1.key })
}

extension LatentSpace {
    /// The stated settings as diffusers' config.json holds them.
    var jsonMembers: [(key: String, value: JSONValue)] {
        var members: [(key: String, value: JSONValue)] = []
        if let forceUpcast { members.append(("force_upcast", .bool(forceUpcast))) }
        if let latentsMean { members.append(("latents_mean", .array(latentsMean.map(JSONValue.double)))) }
        if let latentsStd { members.append(("latents_std", .array(latentsStd.map(JSONValue.double)))) }
        if let scalingFactor { members.append(("scaling_factor", .double(scalingFactor))) }
        if let shiftFactor { members.append(("shift_factor", .double(shiftFactor))) }
        return members
    }

    /// The same as safetensors metadata (diffusers' key names, JSON values), for the files that have no config.
    var metadata: [String: String] {
        Dictionary(uniqueKeysWithValues: jsonMembers.map { ($0.key, $0.value.description) })
    }
}
