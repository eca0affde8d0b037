import VAECore

/// A whole torch.save file, read as data: the pickle is walked key by key (its containers stay flat in the heap, so
/// no nesting a file builds can exhaust the stack), and a tensor's storage is read only when it is asked for. For
/// what a state dict alone does not hold: a training checkpoint's epoch and optimizer state.
public final class TorchDocument {
    public let path: String
    let heap: PickleHeap
    let rootValue: PickleValue
    let decoder: TorchTensorDecoder

    public convenience init(path: String) throws {
        try self.init(try RandomAccessFile(path: path))
    }

    /// The file whose whole contents are `bytes` (as rank 0 read and sent them); `path` names it in messages.
    public convenience init(bytes: [UInt8], path: String) throws {
        try self.init(RandomAccessFile(bytes: bytes, path: path))
    }

    private init(_ file: RandomAccessFile) throws {
        let opened = try TorchCheckpoint.open(file)
        path = file.path
        (heap, rootValue) = (opened.heap, opened.root)
        decoder = TorchTensorDecoder(archive: opened.archive, prefix: opened.prefix, bigEndian: opened.bigEndian)
    }

    public var root: TorchObject { TorchObject(value: rootValue, document: self) }
}

/// One value of a `TorchDocument`. The accessors return nil for a value of another type.
public struct TorchObject {
    let value: PickleValue
    let document: TorchDocument

    /// For messages: "an int", "a dict", "a tensor", …
    public var kind: String { value.kind }

    public var isNone: Bool { if case .none = value { true } else { false } }

    public var bool: Bool? { if case .bool(let b) = value { b } else { nil } }

    public var int: Int? { if case .int(let i) = value { i } else { nil } }

    /// A float, or an int as a float (Python writes `0` where a float is meant, e.g. `weight_decay=0`).
    public var number: Double? {
        switch value {
        case .float(let d): d
        case .int(let i): Double(i)
        default: nil
        }
    }

    public var string: String? { if case .string(let s) = value { s } else { nil } }

    /// A list's or tuple's elements.
    public var elements: [TorchObject]? {
        switch value {
        case .list(let i): document.heap.lists[i].map { TorchObject(value: $0, document: document) }
        case .tuple(let i): document.heap.tuples[i].map { TorchObject(value: $0, document: document) }
        default: nil
        }
    }

    /// A dict's items, in the file's order.
    public var items: [(key: TorchObject, value: TorchObject)]? {
        guard case .dict(let i) = value else { return nil }
        return document.heap.dicts[i].items.map { (TorchObject(value: $0.key, document: document), TorchObject(value: $0.value, document: document)) }
    }

    /// The value under a string key of a dict.
    public subscript(key: String) -> TorchObject? {
        guard case .dict(let i) = value, let found = document.heap.dicts[i][key] else { return nil }
        return TorchObject(value: found, document: document)
    }

    public var isTensor: Bool { if case .tensor = value { true } else { false } }

    /// A tensor's shape, without reading its storage.
    public var tensorShape: [Int]? { if case .tensor(let t) = value { t.shape } else { nil } }

    /// A tensor's values as Float32 (other float dtypes converted); `name` says which in errors.
    public func tensor(name: String) throws -> SafeTensors.Entry {
        guard case .tensor(let tensor) = value else {
            throw VAEDistError("\(document.path): '\(printable(name))' is \(kind), not a tensor")
        }
        return try document.decoder.decode(tensor, name: name)
    }
}
