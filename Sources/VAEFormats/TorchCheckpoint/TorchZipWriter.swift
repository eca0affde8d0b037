import Foundation

/// Writes a zip archive laid out as PyTorch's `PyTorchStreamWriter` (miniz) writes it, so that every reader of
/// torch.save files takes it, including `torch.load`'s optional offset calculation, which assumes miniz's layout:
/// stored entries, each local header padded by an extra field "FB" so that the data starts on a multiple of
/// `alignment`, a data descriptor after the data (the CRC is known only then: storages are streamed), zip64 fields
/// only for an entry or offset past 4 GiB.
struct TorchZipWriter {
    let file: AtomicFileStream
    let alignment: Int
    /// Sizes and offsets at or above this take zip64 fields (miniz: `>= MZ_UINT32_MAX`); lowered by tests only.
    let zip64Limit: Int
    private var directory: [(name: [UInt8], crc: UInt32, size: Int, offset: Int)] = []

    init(file: AtomicFileStream, alignment: Int = 64, zip64Limit: Int = 0xFFFF_FFFF) {
        (self.file, self.alignment, self.zip64Limit) = (file, alignment, zip64Limit)
    }

    /// bit 3: sizes and CRC in a data descriptor after the data; bit 11: UTF-8 names (what torch writes).
    private static let flags: UInt16 = 0x0808

    @discardableResult
    mutating func add(_ name: String, _ bytes: [UInt8]) throws -> UInt32 {
        try add(name, size: bytes.count) { emit in try bytes.withUnsafeBytes(emit) }
    }

    /// One stored entry of `size` bytes, which `produce` hands over in pieces; returns its CRC-32.
    @discardableResult
    mutating func add(_ name: String, size: Int,
                      produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> UInt32 {
        let nameBytes = Array(name.utf8)
        let offset = file.offset
        let bigSize = size >= zip64Limit, bigOffset = offset >= zip64Limit
        var zip64: [UInt8] = []
        if bigSize || bigOffset {
            let fields = (bigSize ? [size, size] : []) + (bigOffset ? [offset] : [])
            zip64 = le16(1) + le16(fields.count * 8) + fields.flatMap(le64)
        }
        // torch's getPadding: the data starts after the header, the name, the zip64 field and the 4-byte "FB" header.
        let start = offset + 30 + nameBytes.count + zip64.count + 4
        let padding = (alignment - start % alignment) % alignment
        let extra = zip64 + Array("FB".utf8) + le16(padding) + [UInt8](repeating: UInt8(ascii: "Z"), count: padding)
        var header = le32(0x0403_4B50) + le16(0) + le16(Int(Self.flags)) + le16(0)   // signature, version, flags, stored
        header += le32(0) + le32(0) + le32(0) + le32(0)                              // time and date, CRC, sizes: in the descriptor
        header += le16(nameBytes.count) + le16(extra.count)
        try file.write(header + nameBytes + extra)
        var crc = CRC32()
        var written = 0
        try produce { piece in
            crc.update(piece)
            written += piece.count
            try file.write(piece)
        }
        precondition(written == size, "zip entry \(name): \(written) bytes written for \(size) announced")
        let sizes = zip64.isEmpty ? le32(size) + le32(size) : le64(size) + le64(size)
        try file.write(le32(0x0807_4B50) + le32(Int(crc.value)) + sizes)
        directory.append((nameBytes, crc.value, size, offset))
        return crc.value
    }

    /// The central directory and its end records (zip64 ones when a count, size or offset needs them).
    func finish() throws {
        let directoryOffset = file.offset
        for entry in directory {
            let bigSize = entry.size >= zip64Limit, bigOffset = entry.offset >= zip64Limit
            var extra: [UInt8] = []
            if bigSize || bigOffset {
                let fields = (bigSize ? [entry.size, entry.size] : []) + (bigOffset ? [entry.offset] : [])
                extra = le16(1) + le16(fields.count * 8) + fields.flatMap(le64)
            }
            let size32 = min(entry.size, 0xFFFF_FFFF), offset32 = min(entry.offset, 0xFFFF_FFFF)
            var record = le32(0x0201_4B50) + le16(0) + le16(0) + le16(Int(Self.flags)) + le16(0)
            record += le32(0) + le32(Int(entry.crc)) + le32(size32) + le32(size32)
            record += le16(entry.name.count) + le16(extra.count) + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset32)
            try file.write(record + entry.name + extra)
        }
        let directorySize = file.offset - directoryOffset
        let count = directory.count
        if count >= 0xFFFF || directorySize >= zip64Limit || directoryOffset >= zip64Limit {
            let endOffset = file.offset
            var end = le32(0x0606_4B50) + le64(44) + le16(0x031E) + le16(0x002D) + le32(0) + le32(0)
            end += le64(count) + le64(count) + le64(directorySize) + le64(directoryOffset)
            let locator = le32(0x0706_4B50) + le32(0) + le64(endOffset) + le32(1)
            try file.write(end + locator)
            try file.write(endRecord(count: 0xFFFF, size: 0xFFFF_FFFF, offset: 0xFFFF_FFFF))
        } else {
            try file.write(endRecord(count: count, size: directorySize, offset: directoryOffset))
        }
    }

    private func endRecord(count: Int, size: Int, offset: Int) -> [UInt8] {
        le32(0x0605_4B50) + le16(0) + le16(0) + le16(count) + le16(count) + le32(size) + le32(offset) + le16(0)
    }
}

private func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
private func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
private func le64(_ v: Int) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * $0)) & 0xFF) } }
