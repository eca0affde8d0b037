extension Network {
    /// ldm's Decoder: conv_in, mid, up levels from the highest index down (each but up.0 doubles the
    /// resolution), norm_out + swish, conv_out. `up.i` is indexed by resolution level, as in ldm's state dict.
    public static func decoder(_ cfg: VAEConfig) -> Network {
        let groups = cfg.normNumGroups, top = cfg.chMult.count - 1
        var channels = cfg.ch * cfg.chMult[top]
        var stages = [Stage("conv_in", Conv2D(inChannels: cfg.zChannels, outChannels: channels, kernel: 3))]
            + middle(channels, groups: groups)
        // ldm's curr_res: the lowest resolution, doubled by every upsample.
        let lowest = cfg.resolution >> top
        for i in (0...top).reversed() {
            stages += level("up.\(i)", blocks: cfg.numResBlocks + 1, channels: &channels, to: cfg.ch * cfg.chMult[i],
                            attention: cfg.attnResolutions.contains(lowest << (top - i)), groups: groups,
                            resample: i == 0 ? nil : ("upsample", { Upsample(channels: $0) }))
        }
        return Network("decoder", stages + output(channels, to: cfg.outCh, groups: groups))
    }
}
