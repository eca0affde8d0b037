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
/// keys keep their defaults), so that older releases do not warn about unexpected attributes. scaling_factor is
/// left to diffusers' default: it belongs to a diffusion pipeline, which a VAE trained here does not know.
func diffusersConfigJSON(for config: VAEConfig) -> JSONValue {
    // Attention sits in the same levels of encoder and decoder; diffusers lists decoder levels from the lowest
    // resolution (up_blocks.K = ldm up[n-1-K]).
    let attention = Set(config.attentionLevels)
    let down = config.chMult.indices.map { attention.contains($0) ? "AttnDownEncoderBlock2D" : "DownEncoderBlock2D" }
    let up = config.chMult.indices.reversed().map { attention.contains($0) ? "AttnUpDecoderBlock2D" : "UpDecoderBlock2D" }
    return .object([
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
    ])
}
