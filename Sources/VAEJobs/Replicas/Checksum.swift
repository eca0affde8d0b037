/// XXH64 (seed 0), the checksum of bytes sent between replicas: a copy that arrives different from what rank 0
/// read is caught before it is used. Chosen over CRC-32 for speed (8 bytes per step, several GB/s), so that
/// checking a gigabyte checkpoint costs a fraction of sending it. Matches the reference xxHash library.
public enum XXH64 {
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    public static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }

    public static func hash(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        let count = raw.count
        guard let base = raw.baseAddress else { return avalanche(prime5) }
        func word(_ at: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        var at = 0
        var h: UInt64
        if count >= 32 {
            var v1 = prime1 &+ prime2, v2 = prime2, v3: UInt64 = 0, v4 = 0 &- prime1
            while at + 32 <= count {
                v1 = round(v1, word(at))
                v2 = round(v2, word(at + 8))
                v3 = round(v3, word(at + 16))
                v4 = round(v4, word(at + 24))
                at += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            for v in [v1, v2, v3, v4] { h = (h ^ round(0, v)) &* prime1 &+ prime4 }
        } else {
            h = prime5
        }
        h = h &+ UInt64(count)
        while at + 8 <= count {
            h = rotl(h ^ round(0, word(at)), 27) &* prime1 &+ prime4
            at += 8
        }
        if at + 4 <= count {
            let k = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            h = rotl(h ^ (k &* prime1), 23) &* prime2 &+ prime3
            at += 4
        }
        while at < count {
            h = rotl(h ^ (UInt64(raw[at]) &* prime5), 11) &* prime1
            at += 1
        }
        return avalanche(h)
    }

    /// The checksum as 16 hex digits, as `xxhsum` prints it.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    @inline(__always) private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* prime2, 31) &* prime1
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { x << r | x >> (64 - r) }

    private static func avalanche(_ value: UInt64) -> UInt64 {
        var h = value
        h ^= h >> 33
        h = h &* prime2
        h ^= h >> 29
        h = h &* prime3
        h ^= h >> 32
        return h
    }
}
