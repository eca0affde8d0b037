/// A module of the networks. A training forward keeps what its backward needs; backward, called once after
/// each training forward, accumulates the gradients of `namedParameters` and returns the input's gradient.
public protocol Layer: AnyObject, ParameterOwner {
    func forward(_ x: Tensor, train: Bool) -> Tensor
    /// Forward that shows `report` the output of the ldm module the layer stands for: the layer's output,
    /// except for a norm fused with the swish after it (`GroupNorm`), whose module ends before the swish.
    func forward(_ x: Tensor, train: Bool, report: (Tensor) -> Void) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
    /// The layer's convolutions (to choose their arithmetic, `ConvolutionArithmetic`); none by default.
    var convolutions: [Conv2D] { get }
}

extension Layer {
    public var convolutions: [Conv2D] { [] }

    public func forward(_ x: Tensor, train: Bool, report: (Tensor) -> Void) -> Tensor {
        let y = forward(x, train: train)
        report(y)
        return y
    }
}

extension Array where Element == any Layer {
    /// Backward through the layers in this order (forward's reversed); `ready` is called after each layer,
    /// when its parameters' gradients are final (what bucketed all-reduce waits for).
    func backward(_ gradient: Tensor, ready: () -> Void) -> Tensor {
        var g = gradient
        for layer in self {
            g = layer.backward(g)
            ready()
        }
        return g
    }
}
