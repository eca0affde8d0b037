/// ldm's AutoencoderKL: encoder → quant_conv → moments; z → post_quant_conv → decoder.
public final class AutoencoderKL: ParameterOwner {
    public let config: VAEConfig
    public let encoder: Network
    public let decoder: Network
    public let quantConv: Conv2D
    public let postQuantConv: Conv2D
    /// The Winograd algorithm of each part's convolutions.
    public var arithmetic: ConvolutionArithmetic {
        didSet { applyArithmetic() }
    }

    public init(_ config: VAEConfig, arithmetic: ConvolutionArithmetic = .exact) {
        self.config = config
        encoder = .encoder(config)
        decoder = .decoder(config)
        quantConv = Conv2D(inChannels: 2 * config.zChannels, outChannels: 2 * config.embedDim, kernel: 1)
        postQuantConv = Conv2D(inChannels: config.embedDim, outChannels: config.zChannels, kernel: 1)
        self.arithmetic = arithmetic
        applyArithmetic()
    }

    private func applyArithmetic() {
        encoder.useWinograd(arithmetic)
        decoder.useWinograd(arithmetic)
    }

    /// The encoder's observed layers in forward order, ending with the moments (`quant_conv`).
    public var encoderLayerNames: [String] { encoder.layerNames + ["quant_conv"] }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        prefixed([("encoder", encoder), ("decoder", decoder), ("quant_conv", quantConv), ("post_quant_conv", postQuantConv)])
    }

    /// Total number of trainable values.
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.parameter.count } }

    /// `observe` sees each encoder layer output as it appears (`encoderLayerNames` order), the moments last.
    public func encode(_ x: Tensor, train: Bool, observe: ((String, Tensor) -> Void)? = nil) -> DiagonalGaussian {
        requireInputChannels(x)
        let h = encoder.forward(x, train: train, observe: observe)
        let moments = quantConv.forward(h, train: train)
        observe?("quant_conv", moments)
        return DiagonalGaussian(moments: moments)
    }

    public func decode(_ z: Tensor, train: Bool, observe: ((String, Tensor) -> Void)? = nil) -> Tensor {
        let h = postQuantConv.forward(z, train: train)
        return decoder.forward(h, train: train, observe: observe)
    }

    /// Forward-only encoding of images held as separate tensors [1, C, H, W] (`Network.forward(items:observe:)`):
    /// `observe` sees each encoder layer's outputs of all items at once (`encoderLayerNames` order), the moments last.
    public func encode(items: [Tensor], observe: ((String, [Tensor]) -> Void)? = nil) -> [DiagonalGaussian] {
        items.forEach(requireInputChannels)
        let moments = encoder.forward(items: items, observe: observe).map { quantConv.forward($0, train: false) }
        observe?("quant_conv", moments)
        return moments.map { DiagonalGaussian(moments: $0) }
    }

    private func requireInputChannels(_ x: Tensor) {
        precondition(x.dims.c == config.inChannels, "the model expects \(config.inChannels) input channels, got \(x.dims.c)")
    }

    /// Forward-only decoding of latents held as separate tensors [1, E, h, w]: one reconstruction per item.
    public func decode(items: [Tensor], observe: ((String, [Tensor]) -> Void)? = nil) -> [Tensor] {
        decoder.forward(items: items.map { postQuantConv.forward($0, train: false) }, observe: observe)
    }

    private var decodeBackwardLayers: [any Layer] { decoder.backwardLayers + [postQuantConv] }

    private var encodeBackwardLayers: [any Layer] { [quantConv] + encoder.backwardLayers }

    /// Parameter groups in the order backward completes them: after the k-th call of a backward's
    /// `ready` callback, the gradients of groups 0...k are final (what bucketed all-reduce needs).
    public var backwardGroups: [[Parameter]] {
        (decodeBackwardLayers + encodeBackwardLayers).map { $0.namedParameters.map(\.parameter) }
    }

    /// Backward through decode: returns the gradient with respect to z.
    public func decodeBackward(_ dRec: Tensor, ready: () -> Void = {}) -> Tensor {
        decodeBackwardLayers.backward(dRec, ready: ready)
    }

    /// Backward through encode, given the gradient with respect to the moments.
    public func encodeBackward(_ dMoments: Tensor, ready: () -> Void = {}) {
        _ = encodeBackwardLayers.backward(dMoments, ready: ready)
    }

    public func zeroGradients() {
        for (_, p) in namedParameters { p.grad.zero() }
    }
}

extension VAEConfig {
    /// Trainable values of the model this config builds, counted on the model before it allocates any. Built with
    /// one group, which divides every width: validation counts before it checks the groups, on which the count
    /// does not depend.
    public var parameterCount: Int {
        var counted = self
        counted.normNumGroups = 1
        return AutoencoderKL(counted).parameterCount
    }
}
