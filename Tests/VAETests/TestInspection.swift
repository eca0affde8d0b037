@testable import VAECore

/// Ways of looking at tensors that only the tests need.
extension Tensor {
    /// The batch's items, [1, …] each, as views of this tensor's memory (which they keep alive).
    var batchItems: [Tensor] {
        let n = shape.first ?? 0, perItem = n == 0 ? 0 : count / n
        return (0..<n).map { Tensor(viewing: data + $0 * perItem, shape: [1] + shape.dropFirst(), owner: self) }
    }

    func clone() -> Tensor {
        let t = Tensor(shape: shape)
        t.copy(from: self)
        return t
    }

    /// Largest absolute value, 0 for an empty tensor.
    var maxAbs: Float {
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i])) }
        return m
    }
}
