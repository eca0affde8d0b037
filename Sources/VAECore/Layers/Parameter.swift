/// A trainable tensor and its gradient (accumulated by backward, cleared by the optimiser's caller).
public final class Parameter {
    public let value: Tensor
    private var storedGrad: Tensor?

    public init(shape: [Int]) {
        value = Tensor(shape: shape)
    }

    /// Allocated (zeroed) on first use: a model that only runs forward (analysis, reconstruction) never pays
    /// for a gradient per weight.
    public var grad: Tensor {
        if let storedGrad { return storedGrad }
        let g = Tensor(shape: value.shape)
        storedGrad = g
        return g
    }

    /// Moves the gradient into `storage` (kept alive by `owner`), e.g. a flat buffer that is all-reduced whole.
    public func placeGradient(at storage: UnsafeMutablePointer<Float>, owner: AnyObject) {
        storage.update(from: grad.data, count: grad.count)
        storedGrad = Tensor(viewing: storage, shape: value.shape, owner: owner)
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
