/// ldm's AutoencoderKL: encoder → quant_conv → moments; z → post_quant_conv → decoder.
public final class AutoencoderKL: ParameterOwner {
    public let config: VAEConfig
    public let encoder: Encoder
    public let decoder: Decoder
    public let quantConv: Conv2D
    public let postQuantConv: Conv2D

    public init(_ config: VAEConfig) {
        self.config = config
        encoder = Encoder(config)
        decoder = Decoder(config)
        quantConv = Conv2D(2 * config.zChannels, 2 * config.embedDim, kernel: 1)
        postQuantConv = Conv2D(config.embedDim, config.zChannels, kernel: 1)
    }

    /// The encoder's observed layers in forward order, ending with the moments (`quant_conv`).
    public var encoderLayerNames: [String] { encoder.layerNames + ["quant_conv"] }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        prefixed([("encoder", encoder), ("decoder", decoder), ("quant_conv", quantConv), ("post_quant_conv", postQuantConv)])
    }

    /// Total number of trainable values.
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.parameter.value.count } }

    /// `observe` sees each encoder layer output as it appears (`encoderLayerNames` order), the moments last.
    public func encode(_ x: Tensor, train: Bool, observe: ((String, Tensor) -> Void)? = nil) -> DiagonalGaussian {
        precondition(x.dims.c == config.inChannels, "the model expects \(config.inChannels) input channels, got \(x.dims.c)")
        let h = encoder.forward(x, train: train, observe: observe)
        let moments = quantConv.forward(h, train: train)
        observe?("quant_conv", moments)
        return DiagonalGaussian(moments: moments)
    }

    public func decode(_ z: Tensor, train: Bool, observe: ((String, Tensor) -> Void)? = nil) -> Tensor {
        let h = postQuantConv.forward(z, train: train)
        return decoder.forward(h, train: train, observe: observe)
    }

    private var decodeBackwardSteps: [BackwardStep] {
        decoder.backwardSteps + [BackwardStep(postQuantConv) { self.postQuantConv.backward($0) }]
    }

    private var encodeBackwardSteps: [BackwardStep] {
        [BackwardStep(quantConv) { self.quantConv.backward($0) }] + encoder.backwardSteps
    }

    /// Parameter groups in the order backward completes them: after the k-th call of a backward's
    /// `ready` callback, the gradients of groups 0...k are final (what bucketed all-reduce needs).
    public var backwardGroups: [[Parameter]] {
        (decodeBackwardSteps + encodeBackwardSteps).map(\.parameters)
    }

    /// Backward through decode: returns the gradient with respect to z.
    public func decodeBackward(_ dRec: Tensor, ready: () -> Void = {}) -> Tensor {
        BackwardStep.run(decodeBackwardSteps, dRec, ready: ready)
    }

    /// Backward through encode, given the gradient with respect to the moments.
    public func encodeBackward(_ dMoments: Tensor, ready: () -> Void = {}) {
        _ = BackwardStep.run(encodeBackwardSteps, dMoments, ready: ready)
    }

    public func zeroGradients() {
        for (_, p) in namedParameters { p.grad.zero() }
    }
}
