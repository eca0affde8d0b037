/// One resolution level of the decoder: num_res_blocks + 1 res blocks (each optionally followed by attention),
/// then an upsample (except at level 0).
public final class DecoderLevel: ParameterOwner {
    public let block: [ResnetBlock]
    public let attn: [AttnBlock]
    public let upsample: Upsample?

    init(block: [ResnetBlock], attn: [AttnBlock], upsample: Upsample?) {
        (self.block, self.attn, self.upsample) = (block, attn, upsample)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var children: [(String, ParameterOwner)] = []
        for (j, b) in block.enumerated() { children.append(("block.\(j)", b)) }
        for (j, a) in attn.enumerated() { children.append(("attn.\(j)", a)) }
        if let upsample { children.append(("upsample", upsample)) }
        return prefixed(children)
    }
}

/// ldm's Decoder: conv_in, mid, up levels from the highest index down, norm_out, swish, conv_out.
/// `up[i]` is indexed by resolution level, as in ldm's state dict.
public final class Decoder: ParameterOwner {
    public let convIn: Conv2D
    public let midBlock1: ResnetBlock, midAttn1: AttnBlock, midBlock2: ResnetBlock
    public let up: [DecoderLevel]
    public let normOut: GroupNorm
    public let convOut: Conv2D

    public init(_ cfg: VAEConfig) {
        let groups = cfg.normNumGroups
        let levels = cfg.chMult.count
        var blockIn = cfg.ch * cfg.chMult[levels - 1]
        var resolution = cfg.resolution >> (levels - 1)
        convIn = Conv2D(cfg.zChannels, blockIn, kernel: 3)
        midBlock1 = ResnetBlock(blockIn, blockIn, groups: groups)
        midAttn1 = AttnBlock(channels: blockIn, groups: groups)
        midBlock2 = ResnetBlock(blockIn, blockIn, groups: groups)
        var built: [DecoderLevel] = []
        for i in (0..<levels).reversed() {
            let blockOut = cfg.ch * cfg.chMult[i]
            var blocks: [ResnetBlock] = [], attns: [AttnBlock] = []
            for _ in 0...cfg.numResBlocks {
                blocks.append(ResnetBlock(blockIn, blockOut, groups: groups))
                blockIn = blockOut
                if cfg.attnResolutions.contains(resolution) { attns.append(AttnBlock(channels: blockIn, groups: groups)) }
            }
            built.insert(DecoderLevel(block: blocks, attn: attns, upsample: i == 0 ? nil : Upsample(channels: blockIn)), at: 0)
            if i != 0 { resolution *= 2 }
        }
        up = built
        normOut = GroupNorm(channels: blockIn, groups: groups, swish: true)
        convOut = Conv2D(blockIn, cfg.outCh, kernel: 3)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var children: [(String, ParameterOwner)] = [("conv_in", convIn), ("mid.block_1", midBlock1),
                                                     ("mid.attn_1", midAttn1), ("mid.block_2", midBlock2)]
        for (i, level) in up.enumerated() { children.append(("up.\(i)", level)) }
        children += [("norm_out", normOut), ("conv_out", convOut)]
        return prefixed(children)
    }

    /// Layer names in the order their outputs appear (ldm's module names, used by the layer analysis).
    public var layerNames: [String] {
        var names = ["decoder.conv_in", "decoder.mid.block_1", "decoder.mid.attn_1", "decoder.mid.block_2"]
        for i in up.indices.reversed() {
            for j in up[i].block.indices {
                names.append("decoder.up.\(i).block.\(j)")
                if !up[i].attn.isEmpty { names.append("decoder.up.\(i).attn.\(j)") }
            }
            if up[i].upsample != nil { names.append("decoder.up.\(i).upsample") }
        }
        return names + ["decoder.norm_out", "decoder.conv_out"]
    }

    /// Decodes z; `observe` sees each named layer output as it appears (in `layerNames` order).
    public func forward(_ z: Tensor, train: Bool, observe: ((String, Tensor) -> Void)? = nil) -> Tensor {
        var h = convIn.forward(z, train: train)
        observe?("decoder.conv_in", h)
        h = midBlock1.forward(h, train: train)
        observe?("decoder.mid.block_1", h)
        h = midAttn1.forward(h, train: train)
        observe?("decoder.mid.attn_1", h)
        h = midBlock2.forward(h, train: train)
        observe?("decoder.mid.block_2", h)
        for i in up.indices.reversed() {
            let level = up[i]
            for (j, block) in level.block.enumerated() {
                h = block.forward(h, train: train)
                observe?("decoder.up.\(i).block.\(j)", h)
                if !level.attn.isEmpty {
                    h = level.attn[j].forward(h, train: train)
                    observe?("decoder.up.\(i).attn.\(j)", h)
                }
            }
            if let us = level.upsample {
                h = us.forward(h, train: train)
                observe?("decoder.up.\(i).upsample", h)
            }
        }
        h = normOut.forward(h, train: train, preActivation: observe.map { o in { o("decoder.norm_out", $0) } })
        h = convOut.forward(h, train: train)
        observe?("decoder.conv_out", h)
        return h
    }

    /// The backward pass as a sequence of steps, forward's order reversed (up[0] was decoded last).
    var backwardSteps: [BackwardStep] {
        var steps = [BackwardStep(convOut) { self.convOut.backward($0) }, BackwardStep(normOut) { self.normOut.backward($0) }]
        for level in up {
            if let us = level.upsample { steps.append(BackwardStep(us) { us.backward($0) }) }
            for (j, block) in level.block.enumerated().reversed() {
                if !level.attn.isEmpty { steps.append(BackwardStep(level.attn[j]) { level.attn[j].backward($0) }) }
                steps.append(BackwardStep(block) { block.backward($0) })
            }
        }
        return steps + [BackwardStep(midBlock2) { self.midBlock2.backward($0) }, BackwardStep(midAttn1) { self.midAttn1.backward($0) },
                        BackwardStep(midBlock1) { self.midBlock1.backward($0) }, BackwardStep(convIn) { self.convIn.backward($0) }]
    }
}
