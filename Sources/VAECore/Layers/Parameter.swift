/// A trainable tensor and its gradient (accumulated by backward, cleared by the optimiser's caller).
public final class Parameter {
    let shape: [Int]
    /// How `AutoencoderKL.initialize(seed:)` starts it, as the layer owning it declares (PyTorch's default for
    /// that kind of layer).
    let initialization: Initialization
    /// The values once allocated.
    private(set) var storedValue: Tensor?
    private var storedGrad: Tensor?

    public convenience init(shape: [Int]) {
        self.init(shape: shape, initialization: .constant(0))
    }

    init(shape: [Int], initialization: Initialization) {
        (self.shape, self.initialization) = (shape, initialization)
    }

    /// Trainable values, known without allocating them.
    var count: Int { shape.reduce(1, *) }

    /// Allocated on first use, holding the initialisation's constant (zero until a uniform draw is made): a model
    /// built to estimate its memory (`MemoryEstimate`) holds shapes only.
    public var value: Tensor {
        if let storedValue { return storedValue }
        let v = Tensor(shape: shape)
        if case let .constant(c) = initialization, c != 0 { v.fill(c) }
        storedValue = v
        return v
    }

    /// Allocated (zeroed) on first use: a model that only runs forward (analysis, reconstruction) never pays
    /// for a gradient per weight.
    public var grad: Tensor {
        if let storedGrad { return storedGrad }
        let g = Tensor(shape: shape)
        storedGrad = g
        return g
    }

    /// Moves the gradient into `storage` (kept alive by `owner`), e.g. a flat buffer that is all-reduced whole.
    public func placeGradient(at storage: UnsafeMutablePointer<Float>, owner: AnyObject) {
        storage.update(from: grad.data, count: grad.count)
        storedGrad = Tensor(viewing: storage, shape: shape, owner: owner)
    }

    /// PyTorch's initialisation of a parameter, by the kind of layer owning it.
    enum Initialization {
        /// Uniform in ±1/√fan_in: a convolution's weight and bias (kaiming_uniform with a = √5 reduces to that bound).
        case uniform(fanIn: Int)
        /// A group norm's weight (1) and bias (0).
        case constant(Float)
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
