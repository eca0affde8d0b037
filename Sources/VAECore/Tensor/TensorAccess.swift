/// The way into a tensor's elements from outside VAECore: checked element access, items of a batch, fill and
/// copy, and closures lending the memory for bulk work (hot loops, BLAS, MPI, file I/O). The pointer a closure
/// receives is valid only inside it.
extension Tensor {
    /// The element at a flat row-major index.
    @inlinable public subscript(index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "index \(index) outside a tensor of shape \(shape)")
            return data[index]
        }
        set {
            precondition(index >= 0 && index < count, "index \(index) outside a tensor of shape \(shape)")
            data[index] = newValue
        }
    }

    /// Calls `body` with the elements, row-major.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: data, count: count))
    }

    /// Calls `body` with the elements, row-major, to write.
    @inlinable public func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: data, count: count))
    }

    /// Calls `body` with the elements of several tensors of one size, in argument order: for loops that go through
    /// them together (an optimizer's weights, gradients and moments).
    @inlinable public static func withElements<R>(
        of tensors: [Tensor], _ body: ([UnsafeMutablePointer<Float>]) throws -> R
    ) rethrows -> R {
        precondition(tensors.allSatisfy { $0.count == tensors[0].count },
                     "tensors of different sizes side by side: \(tensors.map(\.shape))")
        return try withExtendedLifetime(tensors) { try body(tensors.map(\.data)) }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Copies `values` (as many as the tensor has elements) in, row-major.
    public func copy(from values: [Float]) {
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// Elements per item of the batch (the first dimension).
    @usableFromInline var itemCount: Int { shape.isEmpty || shape[0] == 0 ? 0 : count / shape[0] }

    /// Calls `body` with item `n` of the batch (the first dimension), to read.
    @inlinable public func withItem<R>(_ n: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(shape.count >= 1 && n >= 0 && n < shape[0], "item \(n) of a tensor of shape \(shape)")
        return try body(UnsafeBufferPointer(start: data + n * itemCount, count: itemCount))
    }

    /// Calls `body` with item `n` of the batch (the first dimension), to write.
    @inlinable public func withMutableItem<R>(_ n: Int, _ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(shape.count >= 1 && n >= 0 && n < shape[0], "item \(n) of a tensor of shape \(shape)")
        return try body(UnsafeMutableBufferPointer(start: data + n * itemCount, count: itemCount))
    }
}
