import VAECore

/// A value `TorchSave` writes: the Python types of a state dict and of what training checkpoints keep beside it.
public indirect enum TorchSaveValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list([TorchSaveValue])
    case tuple([TorchSaveValue])
    /// A plain dict, in the given order (Python dicts keep insertion order).
    case dict([(key: TorchSaveValue, value: TorchSaveValue)])
    /// A `collections.OrderedDict`, as `Module.state_dict()` returns.
    case orderedDict([(key: TorchSaveValue, value: TorchSaveValue)])
    /// A float32 tensor, written with a storage of its own.
    case tensor(TorchSaveTensor)

    /// A dict with string keys, in the given order.
    public static func dict(_ items: [(String, TorchSaveValue)]) -> TorchSaveValue {
        .dict(items.map { (key: .string($0.0), value: $0.1) })
    }

    /// An OrderedDict with string keys, in the given order.
    public static func orderedDict(_ items: [(String, TorchSaveValue)]) -> TorchSaveValue {
        .orderedDict(items.map { (key: .string($0.0), value: $0.1) })
    }
}

/// A contiguous float32 tensor to write: values held in an array, or read from a model's `Tensor` when written
/// (no copy of gigabytes of weights and optimizer state is made first).
public struct TorchSaveTensor {
    enum Values {
        case array([Float])
        case tensor(Tensor)
    }

    public let shape: [Int]
    let values: Values

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "\(values.count) values for shape \(shape)")
        (self.shape, self.values) = (shape, .array(values))
    }

    /// Refers to `tensor`; its values are read when the file is written.
    public init(_ tensor: Tensor) {
        (shape, values) = (tensor.shape, .tensor(tensor))
    }

    /// A 0-d tensor, as torch keeps Adam's `step`.
    public static func scalar(_ value: Float) -> TorchSaveTensor { TorchSaveTensor(shape: [], values: [value]) }

    var count: Int { shape.reduce(1, *) }

    /// Row-major strides of the contiguous layout.
    var strides: [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        return strides
    }

    /// The values as little-endian float32 bytes, in pieces of at most `chunk` elements.
    func withLittleEndianBytes(chunk: Int = 1 << 18, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        func emit(_ floats: UnsafeBufferPointer<Float>) throws {
            var start = 0
            while start < floats.count {
                let piece = UnsafeBufferPointer(rebasing: floats[start..<min(start + chunk, floats.count)])
                #if _endian(little)
                try body(UnsafeRawBufferPointer(piece))
                #else
                try piece.map { $0.bitPattern.littleEndian }.withUnsafeBytes(body)
                #endif
                start += chunk
            }
        }
        switch values {
        case .array(let array): try array.withUnsafeBufferPointer(emit)
        case .tensor(let tensor): try tensor.withUnsafeBufferPointer(emit)
        }
    }
}
