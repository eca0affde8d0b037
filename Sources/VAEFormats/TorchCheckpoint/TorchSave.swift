import Foundation

/// Writes `torch.save` files without Python: `torch.load(path, weights_only=True)` reads them (checked against
/// PyTorch by scripts/check-seed-checkpoints.sh), and so does `TorchCheckpoint`.
public enum TorchSave {
    /// The archive's top folder. torch names it after the file's stem when saving to a path and "archive" when
    /// saving to a file object; readers take any one folder, and this one does not depend on the temporary name.
    static let folder = "archive/"
    /// The storage alignment of torch ≥ 2.x (`torch.utils.serialization.config.save.storage_alignment`).
    static let storageAlignment = 64

    /// Writes `value` to `path` atomically (a temporary file beside it, fsync, rename): the pickle (protocol 2) as
    /// `data.pkl`, torch's records (`.format_version`, `.storage_alignment`, `byteorder`), one storage per tensor as
    /// `data/N` (64-byte aligned, little-endian float32), then `version` and `.data/serialization_id`.
    public static func write(_ value: TorchSaveValue, to path: String) throws {
        try write(value, to: path, zip64Limit: 0xFFFF_FFFF)
    }

    static func write(_ value: TorchSaveValue, to path: String, zip64Limit: Int) throws {
        let pickle = PickleWriter.pickle(value)
        let file = try AtomicFileStream(path: path)
        var zip = TorchZipWriter(file: file, alignment: storageAlignment, zip64Limit: zip64Limit)
        var identity = Hash64()
        func record(_ name: String, _ bytes: [UInt8]) throws {
            identity.add(try zip.add(folder + name, bytes), size: bytes.count)
        }
        try record("data.pkl", pickle.bytes)
        try record(".format_version", Array("1".utf8))
        try record(".storage_alignment", Array("\(storageAlignment)".utf8))
        try record("byteorder", Array("little".utf8))
        for (key, tensor) in pickle.tensors.enumerated() {
            let crc = try zip.add(folder + "data/\(key)", size: tensor.count * 4) { emit in try tensor.withLittleEndianBytes(emit) }
            identity.add(crc, size: tensor.count * 4)
        }
        try record("version", Array("3\n".utf8))
        // torch writes 40 decimal digits identifying the file; here they derive from its contents, so that the
        // same checkpoint is the same file.
        try zip.add(folder + ".data/serialization_id", Array(identity.digits.utf8))
        try zip.finish()
        try file.commit()
    }
}

/// Two FNV-1a hashes over the entries' CRCs and sizes, for the serialization id.
private struct Hash64 {
    private var a: UInt64 = 0xCBF2_9CE4_8422_2325, b: UInt64 = 0x8422_2325_CBF2_9CE4

    mutating func add(_ crc: UInt32, size: Int) {
        for byte in withUnsafeBytes(of: (UInt64(crc) << 32 ^ UInt64(size)).littleEndian, Array.init) {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 &+ 1
        }
    }

    var digits: String {
        func twenty(_ v: UInt64) -> String { String(repeating: "0", count: 20 - String(v).count) + String(v) }
        return twenty(a) + twenty(b)
    }
}
