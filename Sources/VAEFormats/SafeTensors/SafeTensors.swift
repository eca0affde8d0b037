import Foundation
import VAECore

/// The safetensors format: 8-byte little-endian header length, a JSON header mapping names to
/// {dtype, shape, data_offsets} (plus an optional "__metadata__" of strings), then raw data.
public struct SafeTensors {
    public struct Entry {
        public let shape: [Int]
        public let values: [Float]
    }

    public private(set) var tensors: [String: Entry] = [:]
    public var metadata: [String: String] = [:]

    public init() {}

    public var names: [String] { tensors.keys.sorted() }

    public subscript(name: String) -> Entry? { tensors[name] }

    public mutating func add(_ name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): \(values.count) values for shape \(shape)")
        tensors[name] = Entry(shape: shape, values: values)
    }

    public mutating func add(_ name: String, _ tensor: Tensor) {
        add(name, shape: tensor.shape, values: tensor.array)
    }

    /// Reads every tensor whose dtype converts to Float (F32, F16, BF16, F64); tensors of other dtypes
    /// (an SD checkpoint's int64 position ids, say) are validated and skipped.
    public static func read(path: String) throws -> SafeTensors {
        let file = try ReadOnlyFile(path: path)
        return try decode(file.header(), path: path, keeping: { $0.dtype.isReadableAsFloat }, bytes: file.bytes)
    }

    /// Reads only the tensors `keep` accepts, as Float; the others are validated but their data is not even
    /// read. A kept tensor of a dtype that does not convert to Float is an error naming it.
    public static func read(path: String, keep: (String) -> Bool) throws -> SafeTensors {
        let file = try ReadOnlyFile(path: path)
        return try decode(file.header(), path: path, keeping: { keep($0.name) }, bytes: file.bytes)
    }

    /// The validated header (names, dtypes, shapes, offsets, metadata) without reading any tensor data.
    public static func readHeader(path: String) throws -> Header {
        try ReadOnlyFile(path: path).header()
    }

    /// Only the header's "__metadata__", without reading the tensors.
    public static func readMetadata(path: String) throws -> [String: String] {
        try readHeader(path: path).metadata
    }

    /// The whole file already in memory (`read(path:)`'s rules and result).
    public static func parse(_ bytes: [UInt8], path: String) throws -> SafeTensors {
        let length = try Header.length(prefix: Array(bytes.prefix(8)), fileSize: bytes.count, path: path)
        let header = try Header(json: Array(bytes[8..<8 + length]), dataSize: bytes.count - 8 - length, path: path)
        return try decode(header, path: path, keeping: { $0.dtype.isReadableAsFloat }) { range, convert in
            bytes.withUnsafeBytes { convert(UnsafeRawBufferPointer(rebasing: $0[range])) }
        }
    }

    /// Hands the bytes at a file range to a converter.
    private typealias ByteSource = (Range<Int>, (UnsafeRawBufferPointer) -> [Float]?) throws -> [Float]?

    private static func decode(_ header: Header, path: String, keeping keep: (TensorInfo) -> Bool,
                               bytes: ByteSource) throws -> SafeTensors {
        var result = SafeTensors()
        result.metadata = header.metadata
        for info in header.tensors where keep(info) {
            let start = header.dataStart + info.dataOffsets.lowerBound
            guard let values = try bytes(start..<start + info.dataOffsets.count, { floats($0, dtype: info.dtype, count: info.elementCount) }) else {
                throw VAEDistError("\(path): tensor \(quotedName(info.name)) has dtype \(info.dtype.rawValue), which cannot be read as "
                                + "floating-point weights (readable: \(DType.readableAsFloat.map(\.rawValue).joined(separator: ", ")))")
            }
            result.tensors[info.name] = Entry(shape: info.shape, values: values)
        }
        return result
    }

    /// Little-endian F32, F16, BF16 or F64 to Float; nil for other dtypes.
    private static func floats(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int) -> [Float]? {
        switch dtype {
        case .f32: return converted(raw, count: count) { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * $1, as: UInt32.self))) }
        case .f16: return converted(raw, count: count) { Float(Float16(bitPattern: UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self)))) }
        // BF16 is the high half of a float32.
        case .bf16: return converted(raw, count: count) { Float(bitPattern: UInt32(UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self))) << 16) }
        case .f64: return converted(raw, count: count) { Float(Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * $1, as: UInt64.self)))) }
        default: return nil
        }
    }

    /// One tight loop over raw memory (inlined so that each dtype gets its own specialised loop).
    @inline(__always)
    private static func converted(_ raw: UnsafeRawBufferPointer, count: Int, _ element: (UnsafeRawPointer, Int) -> Float) -> [Float] {
        guard count > 0, let base = raw.baseAddress else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            for i in 0..<count { out[i] = element(base, i) }
            initialized = count
        }
    }

    /// Serializes as F32, names sorted, data 8-byte aligned.
    public func serialized() throws -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        for name in names {
            let e = tensors[name]!
            header[name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + 4 * e.values.count]]
            offset += 4 * e.values.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for name in names {
            tensors[name]!.values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes the file atomically (temporary file, fsync, rename).
    public func write(path: String) throws {
        try writeFileAtomically(serialized(), to: path)
    }
}

private extension ReadOnlyFile {
    func header() throws -> SafeTensors.Header {
        let length = try SafeTensors.Header.length(prefix: read(0..<min(8, size)), fileSize: size, path: path)
        return try SafeTensors.Header(json: read(8..<8 + length), dataSize: size - 8 - length, path: path)
    }

    func bytes(_ range: Range<Int>, _ convert: (UnsafeRawBufferPointer) -> [Float]?) throws -> [Float]? {
        try read(range).withUnsafeBytes(convert)
    }
}
