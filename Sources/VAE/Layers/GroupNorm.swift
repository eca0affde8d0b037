/// torch.nn.GroupNorm(num_groups, C, eps=1e-6, affine=True) as ldm's Normalize builds it.
public final class GroupNorm: ParameterOwner {
    public let channels, groups: Int
    public let eps: Float
    public let weight: Parameter
    public let bias: Parameter
    private var input: Tensor?
    private var mean = Tensor(shape: [0]), rstd = Tensor(shape: [0])

    public init(channels: Int, groups: Int, eps: Float = 1e-6) {
        precondition(channels % groups == 0, "\(channels) channels do not split into \(groups) groups")
        self.channels = channels
        self.groups = groups
        self.eps = eps
        weight = Parameter(shape: [channels])
        bias = Parameter(shape: [channels])
        weight.value.buffer.update(repeating: 1)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        let d = x.dims
        precondition(d.c == channels, "GroupNorm expects \(channels) channels, got \(d.c)")
        let y = Tensor(shape: d.shape)
        mean = Tensor(shape: [d.n * groups])
        rstd = Tensor(shape: [d.n * groups])
        GroupNormKernel.forward(x: x.data, y: y.data, dims: d, groups: groups, gamma: weight.value.data,
                                beta: bias.value.data, eps: eps, mean: mean.data, rstd: rstd.data)
        input = train ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("GroupNorm.backward without a training forward") }
        input = nil
        let dx = Tensor(shape: x.shape)
        GroupNormKernel.backward(x: x.data, dy: dy.data, dx: dx.data, dims: x.dims, groups: groups,
                                 gamma: weight.value.data, mean: mean.data, rstd: rstd.data,
                                 dgamma: weight.grad.data, dbeta: bias.grad.data)
        return dx
    }
}
