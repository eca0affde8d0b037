/// torch.nn.GroupNorm(num_groups, C, eps=1e-6, affine=True) as ldm's Normalize builds it, optionally fused
/// with the swish (`nonlinearity`) that follows it in res blocks and before conv_out.
public final class GroupNorm: Layer {
    public let channels, groups: Int
    public let eps: Float
    /// Whether the layer outputs swish(norm(x)) (ldm: `nonlinearity(self.norm(x))`).
    public let swish: Bool
    public let weight: Parameter
    public let bias: Parameter
    private var input: Tensor?
    private var mean = Tensor(shape: [0]), rstd = Tensor(shape: [0])

    public init(channels: Int, groups: Int, swish: Bool = false, eps: Float = 1e-6) {
        precondition(channels % groups == 0, "\(channels) channels do not split into \(groups) groups")
        self.channels = channels
        self.groups = groups
        self.swish = swish
        self.eps = eps
        weight = Parameter(shape: [channels], initialization: .constant(1))
        bias = Parameter(shape: [channels], initialization: .constant(0))
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        normalize(x, train: train, swish: swish, keepPreActivation: false).output
    }

    /// Reports ldm's norm module output: for a fused layer the normalised values before the swish (what the
    /// layer analysis shows as `norm_out`).
    public func forward(_ x: Tensor, train: Bool, report: (Tensor) -> Void) -> Tensor {
        let (y, pre) = normalize(x, train: train, swish: swish, keepPreActivation: swish)
        report(pre ?? y)
        return y
    }

    /// The output as a 3×3 convolution reads it (`Conv2D.forward(_: NormalizedTensor, train:)`): only the
    /// statistics are computed, the normalised tensor is never written.
    public func normalizedInput(_ x: Tensor, train: Bool) -> NormalizedTensor {
        let d = x.dims
        precondition(d.c == channels, "GroupNorm expects \(channels) channels, got \(d.c)")
        (mean, rstd) = (Tensor(shape: [d.n * groups]), Tensor(shape: [d.n * groups]))
        let affine = Tensor(uninitializedShape: [2, d.n * d.c])
        GroupNormKernel.statistics(x: x.data, dims: d, groups: groups, gamma: weight.value.data, beta: bias.value.data,
                                   eps: eps, mean: mean.data, rstd: rstd.data, scale: affine.data,
                                   shift: affine.data + d.n * d.c)
        input = train ? x : nil
        return NormalizedTensor(source: x, affine: affine, swish: swish)
    }

    /// As above, showing `report` ldm's norm module output: the normalised values (before the swish) are written
    /// for the report, and the convolution reads them with the swish left to apply.
    public func normalizedInput(_ x: Tensor, train: Bool, report: (Tensor) -> Void) -> NormalizedTensor {
        let normalized = normalize(x, train: train, swish: false, keepPreActivation: false).output
        report(normalized)
        return NormalizedTensor(source: normalized, affine: nil, swish: swish)
    }

    private func normalize(_ x: Tensor, train: Bool, swish: Bool,
                           keepPreActivation: Bool) -> (output: Tensor, preActivation: Tensor?) {
        let d = x.dims
        precondition(d.c == channels, "GroupNorm expects \(channels) channels, got \(d.c)")
        let y = Tensor(uninitializedShape: d.shape)
        let pre = keepPreActivation ? Tensor(uninitializedShape: d.shape) : nil
        mean = Tensor(shape: [d.n * groups])
        rstd = Tensor(shape: [d.n * groups])
        GroupNormKernel.forward(x: x.data, y: y.data, dims: d, groups: groups, gamma: weight.value.data,
                                beta: bias.value.data, eps: eps, swish: swish, preActivation: pre?.data,
                                mean: mean.data, rstd: rstd.data)
        input = train ? x : nil
        return (y, pre)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("GroupNorm.backward without a training forward") }
        input = nil
        let dx = Tensor(uninitializedShape: x.shape)
        GroupNormKernel.backward(x: x.data, dy: dy.data, dx: dx.data, dims: x.dims, groups: groups,
                                 gamma: weight.value.data, beta: bias.value.data, swish: swish,
                                 mean: mean.data, rstd: rstd.data, dgamma: weight.grad.data, dbeta: bias.grad.data)
        return dx
    }
}

/// A group norm's output (+ swish) left unwritten: the norm's input with its per-(image, channel) scale and shift
/// (`affine`, [2, N · C]: scales, then shifts), which a 3×3 convolution applies as it reads the rows; or, without
/// `affine`, normalised values written anyway (for the layer analysis) with only the swish left to apply.
/// In a training forward the convolution keeps it for its weight gradient: it holds nothing the norm does not keep.
public struct NormalizedTensor {
    public let source: Tensor
    let affine: Tensor?
    let swish: Bool

    /// Pointers into `source` and `affine`: valid while this value is alive.
    var read: NormalizedRead {
        let planes = source.dims.n * source.dims.c
        return NormalizedRead(scale: affine.map { UnsafePointer($0.data) },
                              shift: affine.map { UnsafePointer($0.data + planes) }, swish: swish)
    }
}

extension GroupNorm: MeasuredLayer {
    /// Keeps its input. Inference counts nothing for the networks' one norm of its own, norm_out (conv_out reads its
    /// output unwritten, unless observed): the res block before it holds more.
    func footprint(_ input: ActivationShape) -> Footprint {
        Footprint(output: ActivationShape(channels: channels, share: input.share), kept: input.floats)
    }
}
