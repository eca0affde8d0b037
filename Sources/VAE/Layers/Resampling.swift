/// ldm's Downsample with conv: pad (left 0, right 1, top 0, bottom 1), then a 3×3 stride-2 convolution.
public final class Downsample: ParameterOwner {
    public let conv: Conv2D

    public init(channels: Int) {
        conv = Conv2D(channels, channels, kernel: 3, stride: 2, padding: (top: 0, left: 0, bottom: 1, right: 1))
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { prefixed([("conv", conv)]) }

    public func forward(_ x: Tensor, train: Bool) -> Tensor { conv.forward(x, train: train) }
    public func backward(_ dy: Tensor) -> Tensor { conv.backward(dy) }
}

/// ldm's Upsample with conv: nearest-neighbour ×2, then a 3×3 convolution.
public final class Upsample: ParameterOwner {
    public let conv: Conv2D

    public init(channels: Int) {
        conv = Conv2D(channels, channels, kernel: 3)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { prefixed([("conv", conv)]) }

    private var input: Tensor?

    private func upsampled(_ x: Tensor) -> Tensor {
        let d = x.dims
        let up = Tensor(uninitializedShape: [d.n, d.c, 2 * d.h, 2 * d.w])
        Elementwise.upsampleNearest2x(x.data, up.data, planes: d.n * d.c, height: d.h, width: d.w)
        return up
    }

    /// Keeps x, not the 4× larger upsampled tensor: backward upsamples again.
    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        input = train ? x : nil
        return conv.forward(upsampled(x), train: train, retainInput: false)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Upsample.backward without a training forward") }
        input = nil
        let dUp = conv.backward(dy, input: upsampled(x))
        let d = dUp.dims
        let dx = Tensor(shape: [d.n, d.c, d.h / 2, d.w / 2])
        Elementwise.upsampleNearest2xBackward(dUp.data, dx.data, planes: d.n * d.c, height: d.h / 2, width: d.w / 2)
        return dx
    }
}
