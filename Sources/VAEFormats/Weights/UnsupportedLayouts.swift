import VAECore

/// Refuses in one line the weights of an AutoencoderKL layout vae-dist does not implement (the model always has
/// quant convs and attention in its mid block), instead of the long list of missing and mis-shaped tensors that
/// `matchParameters` would give. `tensors` are under ldm names.
func refuseUnsupportedLayout(_ tensors: [String: SafeTensors.Entry], path: String) throws {
    func has(_ prefix: String) -> Bool { tensors.keys.contains { $0.hasPrefix(prefix) } }
    let supported = "vae-dist implements the Stable Diffusion VAE (SD 1.x, 2.x, SDXL), with quant convs and mid-block attention"
    guard has("encoder.") || has("decoder.") else { return }
    if !has("quant_conv.") && !has("post_quant_conv.") {
        let channels = tensors["decoder.conv_in.weight"].flatMap { $0.shape.count == 4 ? $0.shape[1] : nil }
        throw VAEDistError("\(path): a VAE without quant_conv and post_quant_conv\(channels.map { ", with \($0) latent channels" } ?? ""): "
                        + "that architecture (SD3's and FLUX's VAE) is not supported; \(supported)")
    }
    if has("encoder.mid.block_1.") && has("decoder.mid.block_1.") && !has("encoder.mid.attn_1.") && !has("decoder.mid.attn_1.") {
        throw VAEDistError("\(path): a VAE without attention in its mid block (diffusers' mid_block_add_attention false): "
                        + "that architecture is not supported; \(supported)")
    }
}
