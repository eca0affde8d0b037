import Foundation
import VAECore

/// The central directory of a zip file (what torch.save writes since PyTorch 1.6), with zip64 support.
/// Only stored (uncompressed) entries can be read: torch never compresses.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: Int
        let flags: Int
        let crc32: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let file: RandomAccessFile
    let entries: [String: Entry]

    private static let zip64LocatorSignature: UInt64 = 0x0706_4b50
    private static let zip64EndSignature: UInt64 = 0x0606_4b50
    private static let directoryEntrySignature: UInt64 = 0x0201_4b50
    private static let localHeaderSignature: UInt64 = 0x0403_4b50

    init(file: RandomAccessFile) throws {
        self.file = file
        let path = file.path
        let (directoryOffset, directorySize, count) = try Self.locateDirectory(file)
        let directory = try file.read(at: directoryOffset, count: directorySize, what: "the zip central directory")
        var cursor = ByteCursor(directory, context: "\(path): the zip central directory")
        var entries: [String: Entry] = [:]
        for index in 0..<count {
            guard try cursor.uint(4) == Self.directoryEntrySignature else {
                throw VAEDistError("\(path): zip central directory entry \(index) has a bad signature (corrupt file)")
            }
            _ = try cursor.take(4)                                   // versions made by / needed
            let flags = try cursor.u16()
            let method = try cursor.u16()
            _ = try cursor.take(4)                                   // time, date
            let crc = UInt32(try cursor.uint(4))
            var compressed = try cursor.u32()
            var size = try cursor.u32()
            let nameLength = try cursor.u16()
            let extraLength = try cursor.u16()
            let commentLength = try cursor.u16()
            _ = try cursor.take(8)                                   // disk, internal and external attributes
            var offset = try cursor.u32()
            let name = String(decoding: try cursor.take(nameLength), as: UTF8.self)
            // Zip64: the sizes and offset that do not fit 32 bits are in extra field 0x0001, in this order.
            var extra = ByteCursor(Array(try cursor.take(extraLength)), context: "\(path): zip entry \(name)'s extra field")
            while extra.position + 4 <= extra.bytes.count {
                let id = try extra.u16(), length = try extra.u16()
                var field = ByteCursor(Array(try extra.take(length)), context: "\(path): zip entry \(name)'s zip64 field")
                guard id == 1 else { continue }
                if size == 0xFFFF_FFFF { size = try field.u64() }
                if compressed == 0xFFFF_FFFF { compressed = try field.u64() }
                if offset == 0xFFFF_FFFF { offset = try field.u64() }
            }
            _ = try cursor.take(commentLength)
            entries[name] = Entry(name: name, method: method, flags: flags, crc32: crc, compressedSize: compressed,
                                  size: size, localHeaderOffset: offset)
        }
        self.entries = entries
    }

    /// The central directory's offset, size and entry count, from the end-of-directory record (zip64 when
    /// any of them overflowed its 16- or 32-bit field).
    private static func locateDirectory(_ file: RandomAccessFile) throws -> (offset: Int, size: Int, count: Int) {
        let path = file.path
        let tailLength = min(file.size, 22 + 0xFFFF)
        let tail = try file.read(at: file.size - tailLength, count: tailLength, what: "the end of the zip")
        guard let recordAt = stride(from: tailLength - 22, through: 0, by: -1).first(where: {
            tail[$0] == 0x50 && tail[$0 + 1] == 0x4b && tail[$0 + 2] == 0x05 && tail[$0 + 3] == 0x06
        }) else {
            throw VAEDistError("\(path): no zip end-of-directory record (the file is truncated or not a zip archive)")
        }
        var record = ByteCursor(tail, at: recordAt + 10, context: "\(path): the zip end-of-directory record")
        var count = try record.u16()
        var size = try record.u32()
        var offset = try record.u32()
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let locatorAt = file.size - tailLength + recordAt - 20
            var locator = ByteCursor(try file.read(at: locatorAt, count: 20, what: "the zip64 locator"),
                                     context: "\(path): the zip64 locator")
            guard try locator.uint(4) == zip64LocatorSignature else {
                throw VAEDistError("\(path): the zip needs a zip64 locator but has none (corrupt file)")
            }
            _ = try locator.take(4)
            let endAt = try locator.u64()
            var end = ByteCursor(try file.read(at: endAt, count: 56, what: "the zip64 end-of-directory record"),
                                 context: "\(path): the zip64 end-of-directory record")
            guard try end.uint(4) == zip64EndSignature else {
                throw VAEDistError("\(path): the zip64 end-of-directory record has a bad signature (corrupt file)")
            }
            _ = try end.take(28)
            count = try end.u64()
            size = try end.u64()
            offset = try end.u64()
        }
        // Every directory entry takes at least 46 bytes: a count beyond that is corrupt (and would loop long).
        guard count <= size / 46 else {
            throw VAEDistError("\(path): the zip directory claims \(count) entries in \(size) bytes (corrupt file)")
        }
        return (offset, size, count)
    }

    /// The entry whose name is exactly `name`.
    func entry(_ name: String) -> Entry? { entries[name] }

    /// Where an entry's bytes start in the file, after checking that it is stored and lies inside the file.
    func dataRange(of entry: Entry) throws -> Range<Int> {
        let path = file.path
        guard entry.flags & 1 == 0 else { throw VAEDistError("\(path): zip entry \(entry.name) is encrypted") }
        guard entry.method == 0 else {
            throw VAEDistError("\(path): zip entry \(entry.name) is compressed (method \(entry.method)); torch.save writes "
                + "stored entries — re-save the checkpoint with torch.save instead of re-zipping it")
        }
        guard entry.compressedSize == entry.size else {
            throw VAEDistError("\(path): zip entry \(entry.name) is stored with \(entry.compressedSize) bytes for \(entry.size) (corrupt file)")
        }
        var header = ByteCursor(try file.read(at: entry.localHeaderOffset, count: 30, what: "the zip header of \(entry.name)"),
                                context: "\(path): the zip header of \(entry.name)")
        guard try header.uint(4) == Self.localHeaderSignature else {
            throw VAEDistError("\(path): the zip header of \(entry.name) has a bad signature (corrupt file)")
        }
        header.position = 26
        let skip = try header.u16() + header.u16()
        let start = entry.localHeaderOffset + 30 + skip  // cannot overflow: the offset was read inside the file
        let (end, overflow) = start.addingReportingOverflow(entry.size)
        guard !overflow, end <= file.size else {
            throw VAEDistError("\(path): zip entry \(entry.name) (\(entry.size) bytes at \(start)) runs past the end of the \(file.size)-byte file (truncated?)")
        }
        return start..<end
    }

    /// A whole entry, checked against its CRC-32.
    func read(_ entry: Entry) throws -> [UInt8] {
        let range = try dataRange(of: entry)
        let bytes = try file.read(at: range.lowerBound, count: range.count, what: "zip entry \(entry.name)")
        guard CRC32.checksum(bytes) == entry.crc32 else {
            throw VAEDistError("\(file.path): zip entry \(entry.name) fails its CRC-32 check (corrupt file)")
        }
        return bytes
    }
}
