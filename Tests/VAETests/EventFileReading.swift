import Foundation
import VAEFormats
import XCTest

/// A reader of TensorBoard event files for the tests, written apart from the writer: TFRecord framing with both
/// CRCs checked, and the fields of `Event`, `Summary` and `SessionLog` (tensorflow/core/util/event.proto,
/// framework/summary.proto) that vae-dist writes.
struct ReadEvent {
    var wallTime = 0.0
    var step = 0
    var fileVersion: String?
    var sessionStatus: Int?
    var scalars: [String: Float] = [:]
    var images: [String: ReadImage] = [:]
}

struct ReadImage: Equatable {
    var width = 0, height = 0, colorspace = 0
    var png: [UInt8] = []
}

enum EventFileReading {
    enum Field {
        case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes([UInt8])
    }

    struct Malformed: Error, CustomStringConvertible { let description: String }

    /// The records of a TFRecord file, and how many bytes follow the last whole one (a record cut short).
    static func records(_ bytes: [UInt8]) throws -> (records: [[UInt8]], trailing: Int) {
        func le<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            bytes[at..<at + MemoryLayout<T>.size].reversed().reduce(T.zero) { $0 << 8 | T($1) }
        }
        var records: [[UInt8]] = [], at = 0
        while at + 12 <= bytes.count {
            let length = Int(le(at, UInt64.self))
            guard le(at + 8, UInt32.self) == CRC32C.masked(CRC32C.checksum(Array(bytes[at..<at + 8]))) else {
                throw Malformed(description: "length CRC mismatch at byte \(at)")
            }
            guard at + 12 + length + 4 <= bytes.count else { break }
            let data = Array(bytes[at + 12..<at + 12 + length])
            guard le(at + 12 + length, UInt32.self) == CRC32C.masked(CRC32C.checksum(data)) else {
                throw Malformed(description: "data CRC mismatch at byte \(at)")
            }
            records.append(data)
            at += 16 + length
        }
        return (records, bytes.count - at)
    }

    static func fields(_ message: [UInt8]) throws -> [(number: Int, value: Field)] {
        var at = 0, out: [(Int, Field)] = []
        func varint() throws -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard at < message.count, shift < 64 else { throw Malformed(description: "varint runs past the message") }
                let byte = message[at]
                at += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        func fixed(_ n: Int) throws -> UInt64 {
            guard at + n <= message.count else { throw Malformed(description: "fixed field runs past the message") }
            defer { at += n }
            return message[at..<at + n].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        while at < message.count {
            let key = try varint()
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: out.append((number, .varint(try varint())))
            case 1: out.append((number, .fixed64(try fixed(8))))
            case 5: out.append((number, .fixed32(UInt32(try fixed(4)))))
            case 2:
                let n = Int(try varint())
                guard at + n <= message.count else { throw Malformed(description: "field \(number) runs past the message") }
                out.append((number, .bytes(Array(message[at..<at + n]))))
                at += n
            default: throw Malformed(description: "wire type \(key & 7) of field \(number)")
            }
        }
        return out
    }

    static func event(_ record: [UInt8]) throws -> ReadEvent {
        var event = ReadEvent()
        for (number, value) in try fields(record) {
            switch (number, value) {
            case (1, .fixed64(let bits)): event.wallTime = Double(bitPattern: bits)
            case (2, .varint(let step)): event.step = Int(Int64(bitPattern: step))
            case (3, .bytes(let text)): event.fileVersion = String(decoding: text, as: UTF8.self)
            case (5, .bytes(let summary)):
                for case (1, .bytes(let entry)) in try fields(summary) {
                    var tag = ""
                    for (n, v) in try fields(entry) {
                        switch (n, v) {
                        case (1, .bytes(let t)): tag = String(decoding: t, as: UTF8.self)
                        case (2, .fixed32(let bits)): event.scalars[tag] = Float(bitPattern: bits)
                        case (4, .bytes(let image)):
                            var read = ReadImage()
                            for (i, f) in try fields(image) {
                                switch (i, f) {
                                case (1, .varint(let h)): read.height = Int(h)
                                case (2, .varint(let w)): read.width = Int(w)
                                case (3, .varint(let c)): read.colorspace = Int(c)
                                case (4, .bytes(let png)): read.png = png
                                default: throw Malformed(description: "unexpected Image field \(i)")
                                }
                            }
                            event.images[tag] = read
                        default: throw Malformed(description: "unexpected Summary.Value field \(n)")
                        }
                    }
                }
            case (7, .bytes(let log)):
                for case (1, .varint(let status)) in try fields(log) { event.sessionStatus = Int(status) }
            default: throw Malformed(description: "unexpected Event field \(number)")
            }
        }
        return event
    }

    /// The events of one file; a cut last record is an error (vae-dist's files end on whole records).
    static func events(path: String) throws -> [ReadEvent] {
        let (records, trailing) = try records(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        guard trailing == 0 else { throw Malformed(description: "\(path): \(trailing) bytes after the last record") }
        return try records.map(event)
    }

    static func files(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains("tfevents") }.sorted()
            .map { "\(folder)/\($0)" }
    }

    /// A folder's events as TensorBoard shows them: files in name order, and each SessionLog.START (status 1)
    /// dropping the events seen before it at its step or later.
    static func shown(folder: String) throws -> [ReadEvent] {
        var shown: [ReadEvent] = []
        for file in try files(in: folder) {
            for event in try events(path: file) {
                if event.sessionStatus == 1 { shown.removeAll { $0.step >= event.step } }
                shown.append(event)
            }
        }
        return shown
    }

    /// The (step, value) pairs of `tag`, in order.
    static func scalar(_ tag: String, in events: [ReadEvent]) -> [(step: Int, value: Float)] {
        events.compactMap { e in e.scalars[tag].map { (e.step, $0) } }
    }
}
