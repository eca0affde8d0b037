import VAECore

/// A value that travels between replicas as bytes. A small explicit encoding rather than Codable: integers and
/// lengths as 8 little-endian bytes, doubles by bit pattern (NaN, -0 and subnormals arrive as sent), strings as
/// their UTF-8 bytes after their length (NUL and newlines survive), byte arrays (PNG thumbnails) one byte per byte:
/// JSON would quadruple the pictures and needs a NaN convention, property lists make every byte an object.
public protocol ReplicaMessage {
    func encode(to writer: inout ReplicaMessageWriter)
    init(from reader: inout ReplicaMessageReader) throws
}

public struct ReplicaMessageWriter {
    public private(set) var bytes: [UInt8] = []

    static func encode<Value: ReplicaMessage>(_ value: Value) -> [UInt8] {
        var writer = ReplicaMessageWriter()
        writer.write(value)
        return writer.bytes
    }

    public mutating func write<Value: ReplicaMessage>(_ value: Value) { value.encode(to: &self) }

    mutating func writeWord(_ word: UInt64) {
        withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func writeByte(_ byte: UInt8) { bytes.append(byte) }

    mutating func writeUTF8(_ text: String) {
        writeWord(UInt64(text.utf8.count))
        bytes.append(contentsOf: text.utf8)
    }
}

public struct ReplicaMessageReader {
    private let bytes: [UInt8]
    private var at = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The one value `bytes` hold; bytes left over or missing are an error (a message of another type).
    static func decode<Value: ReplicaMessage>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        var reader = ReplicaMessageReader(bytes)
        let value = try reader.read(Value.self)
        guard reader.at == bytes.count else {
            throw VAEDistError("replica message (\(Value.self)): \(bytes.count - reader.at) bytes left over after byte \(reader.at)")
        }
        return value
    }

    public mutating func read<Value: ReplicaMessage>(_ type: Value.Type = Value.self) throws -> Value {
        try Value(from: &self)
    }

    mutating func readWord() throws -> UInt64 {
        let raw = try take(8)
        return raw.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func readUTF8() throws -> String {
        let count = try readWord()
        guard count <= UInt64(bytes.count - at) else { throw cutOff(Int(clamping: count)) }
        return String(decoding: try take(Int(count)), as: UTF8.self)
    }

    mutating func readByte() throws -> UInt8 { try take(1).first! }

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count <= bytes.count - at else { throw cutOff(count) }
        defer { at += count }
        return bytes[at..<at + count]
    }

    private func cutOff(_ count: Int) -> VAEDistError {
        VAEDistError("replica message: \(count) bytes expected at byte \(at) of \(bytes.count): the message is cut off")
    }
}

extension Int: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) { writer.writeWord(UInt64(bitPattern: Int64(self))) }
    public init(from reader: inout ReplicaMessageReader) throws { self = Int(Int64(bitPattern: try reader.readWord())) }
}

extension Double: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) { writer.writeWord(bitPattern) }
    public init(from reader: inout ReplicaMessageReader) throws { self = Double(bitPattern: try reader.readWord()) }
}

extension String: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) { writer.writeUTF8(self) }
    public init(from reader: inout ReplicaMessageReader) throws { self = try reader.readUTF8() }
}

extension UInt8: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) { writer.writeByte(self) }
    public init(from reader: inout ReplicaMessageReader) throws { self = try reader.readByte() }
}

extension Array: ReplicaMessage where Element: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) {
        writer.write(count)
        for element in self { writer.write(element) }
    }

    public init(from reader: inout ReplicaMessageReader) throws {
        let count: Int = try reader.read()
        guard count >= 0 else { throw VAEDistError("replica message: a list of \(count) elements") }
        self = []
        for _ in 0..<count { append(try reader.read()) }
    }
}

extension Optional: ReplicaMessage where Wrapped: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) {
        writer.write(self == nil ? 0 : 1)
        if let self { writer.write(self) }
    }

    public init(from reader: inout ReplicaMessageReader) throws {
        switch try reader.read(Int.self) {
        case 0: self = nil
        case 1: self = try reader.read(Wrapped.self)
        case let flag: throw VAEDistError("replica message: \(flag) is not an optional's 0 or 1")
        }
    }
}
