import Foundation

/// Random zip archives around given files, field by field: each local header, central directory entry and end
/// record is written as the format says and then, at random, one of its fields is replaced by a value that breaks
/// readers (a bad signature, an encryption flag, a compression method, a wrong CRC, sizes and offsets at the 16-,
/// 32- and 64-bit edges, zip64 extra fields with values near 2^63 or cut short, extra and comment lengths past the
/// end, duplicate or missing names, entry counts beyond the directory, a zip64 locator pointing anywhere).
struct ZipDirectoryGenerator {
    private var random: FuzzRandom

    init(seed: UInt64) { random = FuzzRandom(seed: seed) }

    /// `rate`: the chance that each field is broken.
    mutating func archive(_ original: [(String, [UInt8])], rate: Double = 0.04) -> [UInt8] {
        var files = original
        if random.chance(rate) && !files.isEmpty { files.append(files[random.below(files.count)]) }     // a duplicate name
        if random.chance(rate) && !files.isEmpty { files.remove(at: random.below(files.count)) }
        if random.chance(rate) { files.append(("archive/other/data.pkl", [0x80, 2, 0x4E, 0x2E])) }       // a second pickle
        let zip64 = random.chance(0.3)
        var out: [UInt8] = [], directory: [UInt8] = []
        func broken(_ value: Int64, width: Int) -> [UInt8] {
            le(random.chance(rate) ? edge(width: width) : value, width)
        }
        for (name, data) in files {
            let offset = Int64(out.count), nameBytes = Array(name.utf8), size = Int64(data.count)
            let crc = Int64(StoredZip.crc32(data)) ^ (random.chance(rate) ? 1 : 0)
            let flags: Int64 = random.chance(rate) ? random.pick([1, 8, 0x800, 0xFFFF]) : 0
            let method: Int64 = random.chance(rate) ? random.pick([8, 12, 99]) : 0
            let head = le(20, 2) + le(flags, 2) + le(method, 2) + le(0, 4) + le(crc, 4)
            out += broken(0x0403_4b50, width: 4) + head + broken(size, width: 4) + broken(size, width: 4)
                + le(Int64(nameBytes.count), 2) + broken(0, width: 2) + nameBytes + data
            // Zip64: sizes and offset move to extra field 1 (in the order size, compressed size, offset).
            let moved = zip64 || random.chance(rate)
            var extra: [UInt8] = []
            if moved {
                let values = [size, size, offset].map { random.chance(rate * 2) ? edge(width: 8) : $0 }
                let fieldLength = random.chance(rate) ? Int64(random.below(40)) : 24
                extra = le(1, 2) + le(fieldLength, 2) + values.flatMap { le($0, 8) }
                if random.chance(rate) { extra.removeLast(random.below(extra.count)) }
            }
            if random.chance(rate) { extra = le(Int64(random.below(4)), 2) + le(Int64(random.below(0x10000)), 2) + random.bytes(random.below(8)) }
            let big: Int64 = 0xFFFF_FFFF
            let comment = random.chance(rate) ? random.bytes(random.below(6)) : []
            directory += broken(0x0201_4b50, width: 4) + le(45, 2) + head
                + broken(moved ? big : size, width: 4) + broken(moved ? big : size, width: 4)
                + le(Int64(nameBytes.count), 2) + broken(Int64(extra.count), width: 2) + broken(Int64(comment.count), width: 2)
                + le(0, 2) + le(0, 2) + le(0, 4) + broken(moved ? big : offset, width: 4) + nameBytes + extra + comment
        }
        let directoryOffset = Int64(out.count), count = Int64(files.count)
        out += directory
        if zip64 || random.chance(rate) {
            let endOffset = Int64(out.count)
            out += broken(0x0606_4b50, width: 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
                + broken(count, width: 8) + broken(count, width: 8) + broken(Int64(directory.count), width: 8)
                + broken(directoryOffset, width: 8)
            out += broken(0x0706_4b50, width: 4) + le(0, 4) + broken(endOffset, width: 8) + le(1, 4)
            out += le(0x0605_4b50, 4) + le(0, 4) + broken(0xFFFF, width: 2) + broken(0xFFFF, width: 2)
                + broken(0xFFFF_FFFF, width: 4) + broken(0xFFFF_FFFF, width: 4)
        } else {
            out += broken(0x0605_4b50, width: 4) + le(0, 4) + broken(count, width: 2) + broken(count, width: 2)
                + broken(Int64(directory.count), width: 4) + broken(directoryOffset, width: 4)
        }
        let comment = random.chance(rate) ? random.bytes(random.below(40)) + (random.chance(0.5) ? [0x50, 0x4b, 5, 6] : []) : []
        out += broken(Int64(comment.count), width: 2) + comment
        if random.chance(rate) { out.removeLast(random.below(min(out.count, 200))) }
        return out
    }

    /// A value at an edge of a field `width` bytes wide, or of the 64-bit sizes it may stand for.
    private mutating func edge(width: Int) -> Int64 {
        let top: Int64 = width >= 8 ? -1 : (1 << (8 * Int64(width))) - 1
        return random.pick([0, 1, top, top - 1, top / 2, top / 2 + 1, Int64.max, Int64.min, 1 << 62, Int64(random.below(1 << 12))])
    }
}
