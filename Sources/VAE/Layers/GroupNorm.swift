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
        weight = Parameter(shape: [channels])
        bias = Parameter(shape: [channels])
        weight.value.buffer.update(repeating: 1)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        normalize(x, train: train, keepPreActivation: false).output
    }

    /// Reports ldm's norm module output: for a fused layer the normalised values before the swish (what the
    /// layer analysis shows as `norm_out`).
    public func forward(_ x: Tensor, train: Bool, report: (Tensor) -> Void) -> Tensor {
        let (y, pre) = normalize(x, train: train, keepPreActivation: swish)
        report(pre ?? y)
        return y
    }

    private func normalize(_ x: Tensor, train: Bool, keepPreActivation: Bool) -> (output: Tensor, preActivation: Tensor?) {
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

    /// The training forward's output again, from the kept input and statistics (for layers that did not keep it).
    public func recomputeOutput() -> Tensor {
        guard let x = input else { preconditionFailure("GroupNorm.recomputeOutput without a training forward") }
        let y = Tensor(uninitializedShape: x.shape)
        GroupNormKernel.normalize(x: x.data, y: y.data, dims: x.dims, groups: groups, gamma: weight.value.data,
                                  beta: bias.value.data, swish: swish, mean: mean.data, rstd: rstd.data)
        return y
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
