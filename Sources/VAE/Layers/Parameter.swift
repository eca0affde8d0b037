/// A trainable tensor and its gradient (accumulated by backward, cleared by the optimiser's caller).
public final class Parameter {
    public let value: Tensor
    public let grad: Tensor

    public init(shape: [Int]) {
        value = Tensor(shape: shape)
        grad = Tensor(shape: shape)
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
