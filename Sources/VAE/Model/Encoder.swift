/// One resolution level of the encoder: res blocks (each optionally followed by attention), then a downsample.
public final class EncoderLevel: ParameterOwner {
    public let block: [ResnetBlock]
    public let attn: [AttnBlock]
    public let downsample: Downsample?

    init(block: [ResnetBlock], attn: [AttnBlock], downsample: Downsample?) {
        (self.block, self.attn, self.downsample) = (block, attn, downsample)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var children: [(String, ParameterOwner)] = []
        for (j, b) in block.enumerated() { children.append(("block.\(j)", b)) }
        for (j, a) in attn.enumerated() { children.append(("attn.\(j)", a)) }
        if let downsample { children.append(("downsample", downsample)) }
        return prefixed(children)
    }
}

/// ldm's Encoder: conv_in, down levels, mid (block_1, attn_1, block_2), norm_out, swish, conv_out → moments.
public final class Encoder: ParameterOwner {
    public let convIn: Conv2D
    public let down: [EncoderLevel]
    public let midBlock1: ResnetBlock, midAttn1: AttnBlock, midBlock2: ResnetBlock
    public let normOut: GroupNorm
    public let convOut: Conv2D

    public init(_ cfg: VAEConfig) {
        let groups = cfg.normNumGroups
        convIn = Conv2D(cfg.inChannels, cfg.ch, kernel: 3)
        var levels: [EncoderLevel] = []
        var blockIn = cfg.ch
        var resolution = cfg.resolution
        for (i, mult) in cfg.chMult.enumerated() {
            let blockOut = cfg.ch * mult
            var blocks: [ResnetBlock] = [], attns: [AttnBlock] = []
            for _ in 0..<cfg.numResBlocks {
                blocks.append(ResnetBlock(blockIn, blockOut, groups: groups))
                blockIn = blockOut
                if cfg.attnResolutions.contains(resolution) { attns.append(AttnBlock(channels: blockIn, groups: groups)) }
            }
            let isLast = i == cfg.chMult.count - 1
            levels.append(EncoderLevel(block: blocks, attn: attns, downsample: isLast ? nil : Downsample(channels: blockIn)))
            if !isLast { resolution /= 2 }
        }
        down = levels
        midBlock1 = ResnetBlock(blockIn, blockIn, groups: groups)
        midAttn1 = AttnBlock(channels: blockIn, groups: groups)
        midBlock2 = ResnetBlock(blockIn, blockIn, groups: groups)
        normOut = GroupNorm(channels: blockIn, groups: groups, swish: true)
        convOut = Conv2D(blockIn, 2 * cfg.zChannels, kernel: 3)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var children: [(String, ParameterOwner)] = [("conv_in", convIn)]
        for (i, level) in down.enumerated() { children.append(("down.\(i)", level)) }
        children += [("mid.block_1", midBlock1), ("mid.attn_1", midAttn1), ("mid.block_2", midBlock2),
                     ("norm_out", normOut), ("conv_out", convOut)]
        return prefixed(children)
    }

    /// Layer names in the order their outputs appear (ldm's module names, used by the layer analysis).
    public var layerNames: [String] {
        var names = ["encoder.conv_in"]
        for (i, level) in down.enumerated() {
            for j in level.block.indices {
                names.append("encoder.down.\(i).block.\(j)")
                if !level.attn.isEmpty { names.append("encoder.down.\(i).attn.\(j)") }
            }
            if level.downsample != nil { names.append("encoder.down.\(i).downsample") }
        }
        return names + ["encoder.mid.block_1", "encoder.mid.attn_1", "encoder.mid.block_2", "encoder.norm_out", "encoder.conv_out"]
    }

    /// Encodes x; `observe` sees each named layer output as it appears (in `layerNames` order).
    public func forward(_ x: Tensor, train: Bool, observe: ((String, Tensor) -> Void)? = nil) -> Tensor {
        var h = convIn.forward(x, train: train)
        observe?("encoder.conv_in", h)
        for (i, level) in down.enumerated() {
            for (j, block) in level.block.enumerated() {
                h = block.forward(h, train: train)
                observe?("encoder.down.\(i).block.\(j)", h)
                if !level.attn.isEmpty {
                    h = level.attn[j].forward(h, train: train)
                    observe?("encoder.down.\(i).attn.\(j)", h)
                }
            }
            if let ds = level.downsample {
                h = ds.forward(h, train: train)
                observe?("encoder.down.\(i).downsample", h)
            }
        }
        h = midBlock1.forward(h, train: train)
        observe?("encoder.mid.block_1", h)
        h = midAttn1.forward(h, train: train)
        observe?("encoder.mid.attn_1", h)
        h = midBlock2.forward(h, train: train)
        observe?("encoder.mid.block_2", h)
        h = normOut.forward(h, train: train, preActivation: observe.map { o in { o("encoder.norm_out", $0) } })
        h = convOut.forward(h, train: train)
        observe?("encoder.conv_out", h)
        return h
    }

    /// The backward pass as a sequence of steps, forward's order reversed.
    var backwardSteps: [BackwardStep] {
        var steps = [BackwardStep(convOut) { self.convOut.backward($0) }, BackwardStep(normOut) { self.normOut.backward($0) }, BackwardStep(midBlock2) { self.midBlock2.backward($0) },
                     BackwardStep(midAttn1) { self.midAttn1.backward($0) }, BackwardStep(midBlock1) { self.midBlock1.backward($0) }]
        for level in down.reversed() {
            if let ds = level.downsample { steps.append(BackwardStep(ds) { ds.backward($0) }) }
            for (j, block) in level.block.enumerated().reversed() {
                if !level.attn.isEmpty { steps.append(BackwardStep(level.attn[j]) { level.attn[j].backward($0) }) }
                steps.append(BackwardStep(block) { block.backward($0) })
            }
        }
        return steps + [BackwardStep(convIn) { self.convIn.backward($0) }]
    }
}
