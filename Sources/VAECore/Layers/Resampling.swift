/// ldm's Downsample with conv: pad (left 0, right 1, top 0, bottom 1), then a 3×3 stride-2 convolution.
public final class Downsample: Layer {
    public let conv: Conv2D

    public init(channels: Int) {
        conv = Conv2D(inChannels: channels, outChannels: channels, kernel: 3, stride: 2,
                      padding: (top: 0, left: 0, bottom: 1, right: 1))
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { prefixed([("conv", conv)]) }
    public var convolutions: [Conv2D] { [conv] }

    public func forward(_ x: Tensor, train: Bool) -> Tensor { conv.forward(x, train: train) }
    public func backward(_ dy: Tensor) -> Tensor { conv.backward(dy) }
}

/// ldm's Upsample with conv: nearest-neighbour ×2, then a 3×3 convolution — fused: the convolution reads the
/// upsampled image on the fly, and its input gradient is summed back over each 2×2 block as it is produced.
public final class Upsample: Layer {
    public let conv: Conv2D

    public init(channels: Int) {
        conv = Conv2D(inChannels: channels, outChannels: channels, kernel: 3)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { prefixed([("conv", conv)]) }
    public var convolutions: [Conv2D] { [conv] }

    public func forward(_ x: Tensor, train: Bool) -> Tensor { conv.forward(x, train: train, upsampling: true) }
    public func backward(_ dy: Tensor) -> Tensor { conv.backward(dy) }
}

extension Downsample: MeasuredLayer {
    func footprint(_ input: ActivationShape) -> Footprint { conv.footprint(input) }
}

extension Upsample: MeasuredLayer {
    func footprint(_ input: ActivationShape) -> Footprint { conv.footprint(input, upsampling: true) }
}
