/// A trainable tensor and its gradient (accumulated by backward, cleared by the optimiser's caller).
public final class Parameter {
    public let value: Tensor
    public private(set) var grad: Tensor

    public init(shape: [Int]) {
        value = Tensor(shape: shape)
        grad = Tensor(shape: shape)
    }

    /// Moves the gradient into `storage` (kept alive by `owner`), e.g. a flat buffer that is all-reduced whole.
    public func placeGradient(at storage: UnsafeMutablePointer<Float>, owner: AnyObject) {
        storage.update(from: grad.data, count: grad.count)
        grad = Tensor(viewing: storage, shape: grad.shape, owner: owner)
    }
}

/// Anything that owns parameters, named as ldm's state dict names them relative to the owner.
public protocol ParameterOwner {
    var namedParameters: [(name: String, parameter: Parameter)] { get }
}

extension ParameterOwner {
    /// Children's parameters with "prefix." in front, in the given order.
    public func prefixed(_ children: [(String, ParameterOwner)]) -> [(name: String, parameter: Parameter)] {
        children.flatMap { prefix, child in
            child.namedParameters.map { (name: "\(prefix).\($0.name)", parameter: $0.parameter) }
        }
    }
}
