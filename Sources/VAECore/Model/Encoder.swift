extension Network {
    /// ldm's Encoder: conv_in, down levels (each but the last halves the resolution), mid, norm_out + swish,
    /// conv_out → the moments' 2 × z_channels.
    public static func encoder(_ cfg: VAEConfig) -> Network {
        let groups = cfg.normNumGroups, top = cfg.chMult.count - 1
        var channels = cfg.ch
        var stages = [Stage("conv_in", Conv2D(inChannels: cfg.inChannels, outChannels: channels, kernel: 3))]
        for i in 0...top {
            stages += level("down.\(i)", blocks: cfg.numResBlocks, channels: &channels, to: cfg.ch * cfg.chMult[i],
                            attention: cfg.attnResolutions.contains(cfg.resolution >> i), groups: groups,
                            resample: i == top ? nil : ("downsample", { Downsample(channels: $0) }))
        }
        return Network("encoder", stages + middle(channels, groups: groups)
                                         + output(channels, to: 2 * cfg.zChannels, groups: groups))
    }
}
