/// A layer of a network under its ldm module name relative to the network (e.g. "up.3.block.0").
public struct Stage {
    public let name: String
    let layer: any MeasuredLayer

    init(_ name: String, _ layer: any MeasuredLayer) {
        (self.name, self.layer) = (name, layer)
    }
}

/// One of ldm's networks (`Network.encoder`, `Network.decoder`), declared once as its stages in forward
/// order: forward, backward, the analysed layer names and the state-dict order all derive from that list.
public final class Network: ParameterOwner {
    /// "encoder" or "decoder": the network's ldm name, in front of its layer names.
    public let name: String
    public let stages: [Stage]
    /// Layer names in the order their outputs appear (ldm's module names, used by the layer analysis).
    public let layerNames: [String]
    private let registrationOrder: [Int]

    init(_ name: String, _ stages: [Stage]) {
        self.name = name
        self.stages = stages
        layerNames = stages.map { "\(name).\($0.name)" }
        registrationOrder = Self.registrationOrder(of: stages.map(\.name))
    }

    /// Runs the stages in order; `observe` sees each named layer output as it appears (in `layerNames` order).
    public func forward(_ x: Tensor, train: Bool, observe: ((String, Tensor) -> Void)? = nil) -> Tensor {
        var h = x
        var k = 0
        while k < stages.count {
            if case let (norm, conv)? = normalizedConvolution(at: k) {
                // norm_out → conv_out: the convolution reads the norm's output unwritten (`NormalizedTensor`).
                let name = layerNames[k]
                let normalized = observe.map { observe in norm.normalizedInput(h, train: train) { observe(name, $0) } }
                    ?? norm.normalizedInput(h, train: train)
                h = conv.forward(normalized, train: train)
                observe?(layerNames[k + 1], h)
                k += 2
                continue
            }
            let layerName = layerNames[k]
            if let observe {
                h = stages[k].layer.forward(h, train: train) { observe(layerName, $0) }
            } else {
                h = stages[k].layer.forward(h, train: train)
            }
            k += 1
        }
        return h
    }

    /// Forward-only over a batch's items held as separate tensors [1, C, H, W]: each item comes out bitwise as it
    /// does in a batch (no kernel mixes images; a Winograd chunk never spans two). With `observe`, which sees every
    /// item's output of a layer at once (in `layerNames` order), the items run each stage in turn, and an item's
    /// stage input is released as soon as its output exists: the peak is all items' stage inputs beside one
    /// item's working set, where a batch holds every item's working set. Without it, each item runs the whole
    /// network alone.
    public func forward(items: [Tensor], observe: ((String, [Tensor]) -> Void)? = nil) -> [Tensor] {
        guard let observe else { return items.map { forward($0, train: false) } }
        var items = items
        var k = 0
        while k < stages.count {
            if case let (norm, conv)? = normalizedConvolution(at: k) {
                // The items' norm outputs are written for `observe` and released once conv_out has read them.
                items = normalizedInputs(items, norm, observe: { observe(layerNames[k], $0) }).map { conv.forward($0, train: false) }
                observe(layerNames[k + 1], items)
                k += 2
                continue
            }
            forwardStage(k, items: &items, observe: observe)
            k += 1
        }
        return items
    }

    /// Stage k over the items one after the other, each item's input replaced by its output.
    private func forwardStage(_ k: Int, items: inout [Tensor], observe: (String, [Tensor]) -> Void) {
        var reports: [Tensor] = []
        for i in items.indices {
            items[i] = stages[k].layer.forward(items[i], train: false) { reports.append($0) }
        }
        observe(layerNames[k], reports)
    }

    /// Each item's norm output as the next convolution reads it, written so that `observe` sees it (before the swish).
    private func normalizedInputs(_ items: [Tensor], _ norm: GroupNorm, observe: ([Tensor]) -> Void) -> [NormalizedTensor] {
        var reports: [Tensor] = []
        let normalized = items.map { norm.normalizedInput($0, train: false) { reports.append($0) } }
        observe(reports)
        return normalized
    }

    /// Every 3×3 stride-1 convolution of the network computes with the tiling `arithmetic` gives its part from now on.
    func useWinograd(_ arithmetic: ConvolutionArithmetic) {
        for stage in stages {
            let convolutions = stage.layer.convolutions
            guard !convolutions.isEmpty else { continue }
            guard let part = ConvolutionPart(network: name, stage: stage.name) else {
                preconditionFailure("stage \(name).\(stage.name) has convolutions but no ConvolutionPart")
            }
            for conv in convolutions { conv.winogradTiling = arithmetic.tiling(of: part) }
        }
    }

    /// The group norm of stage k and the convolution of stage k + 1 when the convolution can apply the norm.
    private func normalizedConvolution(at k: Int) -> (GroupNorm, Conv2D)? {
        guard k + 1 < stages.count, let norm = stages[k].layer as? GroupNorm, let conv = stages[k + 1].layer as? Conv2D,
              conv.readsNormalizedInput else { return nil }
        return (norm, conv)
    }

    /// Each stage's footprint for one image entering as `input` (`MemoryEstimate`), in forward order.
    func footprints(_ input: ActivationShape) -> [Footprint] {
        var x = input
        return stages.indices.map { k in
            let footprint = stages[k].layer.footprint(x)
            x = footprint.output
            // As forward runs them: the convolution after a norm reads its output unwritten.
            x.normalized = normalizedConvolution(at: k) != nil
            return footprint
        }
    }

    /// The layers in backward order (forward's reversed).
    var backwardLayers: [any Layer] { stages.reversed().map(\.layer) }

    /// In ldm's state-dict order, which checkpoints, exports and the seeded initialisation follow.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        prefixed(registrationOrder.map { (stages[$0].name, stages[$0].layer) })
    }

    /// Stage indices in the order ldm's `__init__` registers the modules: a module's children in the order
    /// forward first reaches them, except that the items of a ModuleList (numbered) go by number. So the decoder
    /// registers up.0 first though it runs it last, and a level registers all its blocks before its attentions.
    static func registrationOrder(of names: [String]) -> [Int] {
        var rank: [String: Int] = [:]      // module path → position among its parent's children
        var children: [String: Int] = [:]  // parent path → children seen so far
        let keys = names.map { name in
            let parts = name.split(separator: ".")
            return parts.indices.map { k -> Int in
                if let number = Int(parts[k]) { return number }
                let path = parts[...k].joined(separator: ".")
                if let known = rank[path] { return known }
                let parent = parts[..<k].joined(separator: ".")
                let next = children[parent, default: 0]
                (rank[path], children[parent]) = (next, next + 1)
                return next
            }
        }
        return names.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
    }
}

extension Network {
    /// One resolution level as both networks build it (ldm's `down[i]`, `up[i]`): `blocks` res blocks to
    /// `outChannels`, each followed by attention when `attention`, then the resampling layer if any.
    /// `channels` is the level's input width on entry, its output width on return.
    static func level(_ prefix: String, blocks: Int, channels: inout Int, to outChannels: Int, attention: Bool,
                      groups: Int, resample: (name: String, make: (Int) -> any MeasuredLayer)?) -> [Stage] {
        var stages: [Stage] = []
        for j in 0..<blocks {
            stages.append(Stage("\(prefix).block.\(j)", ResnetBlock(inChannels: channels, outChannels: outChannels, groups: groups)))
            channels = outChannels
            if attention { stages.append(Stage("\(prefix).attn.\(j)", AttnBlock(channels: channels, groups: groups))) }
        }
        if let resample { stages.append(Stage("\(prefix).\(resample.name)", resample.make(channels))) }
        return stages
    }

    /// ldm's mid: res block, attention, res block at the lowest resolution.
    static func middle(_ channels: Int, groups: Int) -> [Stage] {
        [Stage("mid.block_1", ResnetBlock(inChannels: channels, outChannels: channels, groups: groups)),
         Stage("mid.attn_1", AttnBlock(channels: channels, groups: groups)),
         Stage("mid.block_2", ResnetBlock(inChannels: channels, outChannels: channels, groups: groups))]
    }

    /// norm_out (the swish after it fused in) and conv_out, each network's last two modules.
    static func output(_ channels: Int, to outChannels: Int, groups: Int) -> [Stage] {
        [Stage("norm_out", GroupNorm(channels: channels, groups: groups, swish: true)),
         Stage("conv_out", Conv2D(inChannels: channels, outChannels: outChannels, kernel: 3))]
    }
}
