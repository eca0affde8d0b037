import Foundation

/// A dense float32 buffer with a shape (row-major, NCHW for activations).
/// Reference semantics: layers hand plain buffers to each other, llm.c style.
/// The raw memory is VAECore's (its kernels, layers and model work on `data`); other targets reach the elements
/// through the API of TensorAccess.swift: a checked subscript, items, fill and copy, and `withUnsafe…` closures.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    @usableFromInline let data: UnsafeMutablePointer<Float>
    /// What keeps a view's memory alive; nil when the tensor owns its buffer.
    private let owner: AnyObject?

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        data = .allocate(capacity: max(count, 1))
        owner = nil
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor whose every element the caller is about to write: skips zero-filling.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        data = .allocate(capacity: max(count, 1))
        owner = nil
    }

    /// A view of memory that `owner` keeps alive (e.g. one parameter's gradient inside a flat bucket).
    init(viewing data: UnsafeMutablePointer<Float>, shape: [Int], owner: AnyObject) {
        self.shape = shape
        count = shape.reduce(1, *)
        self.data = data
        self.owner = owner
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(uninitializedShape: shape)
        copy(from: values)
    }

    deinit {
        if owner == nil { data.deallocate() }
    }

    var buffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }
    public var array: [Float] { Array(buffer) }

    public func zero() { data.update(repeating: 0, count: count) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    /// Same values viewed under another shape (a copy: tensors own their buffers).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let t = Tensor(shape: newShape)
        t.copy(from: self)
        return t
    }
}

/// NCHW dimensions of a 4-D activation.
public struct Dims4: Equatable, Sendable {
    public var n, c, h, w: Int
    public init(_ n: Int, _ c: Int, _ h: Int, _ w: Int) { (self.n, self.c, self.h, self.w) = (n, c, h, w) }
    public init(_ shape: [Int]) {
        precondition(shape.count == 4, "expected an NCHW shape, got \(shape)")
        self.init(shape[0], shape[1], shape[2], shape[3])
    }
    public var shape: [Int] { [n, c, h, w] }
    public var plane: Int { h * w }
}

extension Tensor {
    public var dims: Dims4 { Dims4(shape) }
}
