@testable import VAECore

/// Ways of looking at tensors that only the tests need.
extension Tensor {
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
