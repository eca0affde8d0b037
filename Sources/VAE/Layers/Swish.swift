/// ldm's `nonlinearity`: x · sigmoid(x).
public final class Swish {
    private var input: Tensor?

    public init() {}

    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        let y = Tensor(shape: x.shape)
        Elementwise.swishForward(x.data, y.data, count: x.count)
        input = train ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Swish.backward without a training forward") }
        input = nil
        let dx = Tensor(shape: x.shape)
        Elementwise.swishBackward(x.data, dy.data, dx.data, count: x.count)
        return dx
    }
}
