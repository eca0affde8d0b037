import Foundation

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

    /// Reads F32, F16 and BF16 tensors (converted to Float).
    public static func read(path: String) throws -> SafeTensors {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IOFailure("\(path): cannot read the file (missing or unreadable)")
        }
        return try parse([UInt8](data), path: path)
    }

    /// Only the header's "__metadata__", without reading the tensors.
    public static func readMetadata(path: String) throws -> [String: String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw IOFailure("\(path): cannot read the file (missing or unreadable)")
        }
        defer { try? handle.close() }
        let lengthBytes = [UInt8](handle.readData(ofLength: 8))
        guard lengthBytes.count == 8 else { throw IOFailure("\(path): not a valid safetensors file: shorter than the 8-byte header length") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(lengthBytes[i]) << (8 * UInt64(i)) }
        guard length < 100_000_000 else { throw IOFailure("\(path): not a valid safetensors file: header length \(length)") }
        let header = [UInt8](handle.readData(ofLength: Int(length)))
        // Parsing the header with no data: offsets are not checked here, only the metadata is wanted.
        guard let json = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any] else {
            throw IOFailure("\(path): not a valid safetensors file: the header is not JSON")
        }
        return (json["__metadata__"] as? [String: String]) ?? [:]
    }

    public static func parse(_ bytes: [UInt8], path: String) throws -> SafeTensors {
        func fail(_ why: String) -> IOFailure { IOFailure("\(path): not a valid safetensors file: \(why)") }
        guard bytes.count >= 8 else { throw fail("shorter than the 8-byte header length") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("header length \(headerLength) exceeds the file size \(bytes.count) (truncated or not safetensors)")
        }
        let headerEnd = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw fail("the header is not JSON")
        }
        guard let header = json as? [String: Any] else { throw fail("the header is not a JSON object") }
        let dataSize = bytes.count - headerEnd
        var result = SafeTensors()
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (k, v) in meta {
                    guard let s = v as? String else { throw fail("__metadata__.\(k) is not a string") }
                    result.metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2
            else { throw fail("tensor '\(name)' lacks dtype, shape or data_offsets") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(name)' has a negative dimension") }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default:
                throw IOFailure("\(path): tensor '\(name)' has dtype \(dtype); supported are F32, F16 and BF16")
            }
            let count = shape.reduce(1, *)
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("tensor '\(name)' has data offsets [\(begin), \(end)] outside the \(dataSize) data bytes (truncated?)")
            }
            guard end - begin == count * width else {
                throw fail("tensor '\(name)' has \(end - begin) bytes for shape \(shape) of \(dtype)")
            }
            let values = decode(bytes, from: headerEnd + begin, count: count, dtype: dtype)
            result.tensors[name] = Entry(shape: shape, values: values)
        }
        return result
    }

    private static func decode(_ bytes: [UInt8], from start: Int, count: Int, dtype: String) -> [Float] {
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + start
            switch dtype {
            case "F32":
                return (0..<count).map { Float(bitPattern: base.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
            case "F16":
                return (0..<count).map { Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian)) }
            default: // BF16: the high half of a float32
                return (0..<count).map { Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian) << 16) }
            }
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
