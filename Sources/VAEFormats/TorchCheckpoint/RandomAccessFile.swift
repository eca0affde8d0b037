import Foundation
import VAECore

/// A file read by ranges (pread), so that a multi-gigabyte checkpoint is never loaded whole: only the zip
/// directory, the pickle and the storages of the tensors asked for are read.
final class RandomAccessFile {
    let path: String
    let size: Int
    private let source: Source

    /// An open file, or a whole file's bytes already in memory (as rank 0 read and sent them).
    private enum Source {
        case descriptor(Int32)
        case memory([UInt8])
    }

    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw VAEDistError("\(path): cannot open the file: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw VAEDistError("\(path): not a regular file")
        }
        size = Int(info.st_size)
        source = .descriptor(descriptor)
    }

    /// The file whose contents are `bytes`; `path` names it in messages.
    init(bytes: [UInt8], path: String) {
        (self.path, size, source) = (path, bytes.count, .memory(bytes))
    }

    deinit { if case .descriptor(let descriptor) = source { close(descriptor) } }

    /// `count` bytes from `offset`; `what` names the part for the error when the range lies outside the file.
    func read(at offset: Int, count: Int, what: String) throws -> [UInt8] {
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard offset >= 0, count >= 0, !overflow, end <= size else {
            throw VAEDistError("\(path): \(what) (bytes \(offset) to \(offset &+ count)) lies outside the \(size)-byte file (truncated or corrupt)")
        }
        switch source {
        case .memory(let bytes): return Array(bytes[offset..<end])
        case .descriptor(let descriptor): return try read(descriptor, at: offset, count: count, what: what)
        }
    }

    private func read(_ descriptor: Int32, at offset: Int, count: Int, what: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw VAEDistError("\(path): cannot read \(what): \(n < 0 ? String(cString: strerror(errno)) : "unexpected end of file")")
            }
            done += n
        }
        return bytes
    }
}

/// Little-endian field access with bounds checks, for the zip structures.
struct ByteCursor {
    let bytes: [UInt8]
    var position: Int
    let context: String

    init(_ bytes: [UInt8], at position: Int = 0, context: String) {
        self.bytes = bytes
        self.position = position
        self.context = context
    }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, position >= 0, count <= bytes.count - position else {
            throw VAEDistError("\(context) ends early (needs \(count) bytes at \(position) of \(bytes.count))")
        }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func uint(_ width: Int) throws -> UInt64 {
        var value: UInt64 = 0
        for (i, byte) in try take(width).enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        return value
    }

    mutating func u16() throws -> Int { Int(try uint(2)) }
    mutating func u32() throws -> Int { Int(try uint(4)) }

    /// An 8-byte size or offset; refuses values that do not fit an Int (hostile zip64 fields).
    mutating func u64() throws -> Int {
        let value = try uint(8)
        guard value <= UInt64(Int.max) else { throw VAEDistError("\(context) holds an impossible size \(value)") }
        return Int(value)
    }
}
