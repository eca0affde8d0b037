/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78), the checksum of TFRecord framing. Byte by byte: event
/// records are small, and a reconstruction grid of a megabyte takes a few milliseconds once per save.
public enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for byte in bytes { c = t[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord stores each CRC rotated and offset ("masked"): a CRC computed over bytes that themselves hold CRCs
    /// is otherwise weak.
    public static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }
}
