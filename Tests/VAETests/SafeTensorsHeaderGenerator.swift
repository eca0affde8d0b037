import Foundation

/// Random safetensors files built from the header's grammar: tensors with random dtypes (known and not), shapes
/// whose dimensions sit near 2^31, 2^32, 2^63 and 2^64 (with a zero beside them, so that the byte count can still
/// agree), data offsets that tile the data exactly or stray from it by a little or by 2^63, metadata of strings and
/// of other JSON, and at a small rate a broken length prefix, a duplicate key or trailing bytes. The numbers are
/// written as JSON literals, so values beyond 64 bits, negative ones and fractions reach the reader.
struct SafeTensorsHeaderGenerator {
    private var random: FuzzRandom

    init(seed: UInt64) { random = FuzzRandom(seed: seed) }

    private static let dtypes: [(String, Int)] = [
        ("F32", 32), ("F32", 32), ("F32", 32), ("F16", 16), ("BF16", 16), ("F64", 64), ("F32", 32), ("F16", 16), ("I64", 64),
        ("U8", 8), ("BOOL", 8), ("F4", 4), ("F6_E2M3", 6), ("F8_E4M3", 8), ("C64", 64), ("X", 32), ("f32", 32),
    ]

    private static let dimensionEdges = [
        "2147483647", "2147483648", "4294967295", "4294967296", "3037000500", "4611686018427387904", "9223372036854775807",
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "1180591620717411303424",
    ]

    private static let oddNumbers = ["-1", "-0", "1.0", "1e3", "0x10", "\"3\"", "null", "[]", "true", "01"]

    private static let metadataKeys = ["format", "config", "img_size", "scaling_factor", "shift_factor", "latents_mean",
                                       "latents_std", "force_upcast", "epoch", "note"]

    /// The whole file.
    mutating func next() -> [UInt8] {
        var members: [String] = []
        var dataSize: UInt64 = 0
        for index in 0..<random.below(6) {
            let (dtype, bits) = random.pick(Self.dtypes)
            let rank = random.below(5)
            var dimensions: [String] = []
            var elements: UInt64? = 1
            for _ in 0..<rank {
                let literal: String
                switch random.below(40) {
                case 0...30: literal = "\(random.below(4))"
                case 31...34: literal = random.pick(Self.dimensionEdges)
                case 35...38: literal = "0"
                default: literal = random.pick(Self.oddNumbers)
                }
                dimensions.append(literal)
                if let e = elements, let d = UInt64(literal) {
                    let (product, overflow) = e.multipliedReportingOverflow(by: d)
                    elements = overflow ? nil : product
                } else { elements = nil }
            }
            // Offsets that tile the data when the shape's size is small; else near the edges.
            let begin = dataSize
            var end = begin
            if let e = elements, e < 1 << 12 { end = begin + (e * UInt64(bits) + 7) / 8 }
            if random.chance(0.03) { end = end &+ UInt64(random.pick([1, -1, 4, 1 << 32, 1 << 63] as [Int64]).magnitude) }
            dataSize = max(dataSize, min(end, begin + (1 << 12)))
            let offsets = random.chance(0.03)
                ? "[\(random.pick(Self.dimensionEdges + Self.oddNumbers)), \(random.pick(Self.dimensionEdges + Self.oddNumbers))]"
                : "[\(begin), \(end)]"
            var fields = ["\"dtype\": \"\(dtype)\"", "\"shape\": [\(dimensions.joined(separator: ", "))]", "\"data_offsets\": \(offsets)"]
            if random.chance(0.02) { fields.remove(at: random.below(fields.count)) }
            if random.chance(0.02) { fields.append(fields[random.below(fields.count)]) }
            let name = random.chance(0.97) ? "t\(index).weight" : random.pick(["", "__metadata__", "a\\u0000b", "\\ud800", "t0.weight"])
            members.append("\"\(name)\": {\(fields.joined(separator: ", "))}")
        }
        if random.chance(0.6) { members.append("\"__metadata__\": \(metadata())") }
        if random.chance(0.03) && !members.isEmpty { members.append(members[random.below(members.count)]) }
        members.shuffle(using: &random)
        var header = Array("{\(members.joined(separator: ", "))}".utf8)
        header += [UInt8](repeating: 0x20, count: random.below(8))
        var length = UInt64(header.count)
        if random.chance(0.03) { length = random.pick([0, length + 1, length - 1, UInt64.max, 1 << 63, 100_000_001]) }
        var data = random.bytes(Int(min(dataSize, 1 << 12)))
        if random.chance(0.03) { data += random.bytes(1 + random.below(8)) }
        return le(Int64(bitPattern: length), 8) + header + data
    }

    private mutating func metadata() -> String {
        guard !random.chance(0.1) else { return random.pick(["null", "[]", "\"x\"", "{\"a\": 1}", "{\"a\": {\"b\": \"c\"}}"]) }
        let entries = (0..<random.below(5)).map { _ -> String in
            let key = random.pick(Self.metadataKeys)
            let value: String
            switch random.below(6) {
            case 0: value = "\"vae-dist-weights-1\""
            case 1: value = "\"\(random.pick(["0.18215", "-1", "1e309", "nan", "[0.1, 0.2, 0.3, 0.4]", "[1e400]", "true", "{}", "[[[[]]]]", "\\\"x\\\"", ""]))\""
            case 2: value = "\"" + String(repeating: "[", count: random.pick([10, 100, 10_000])) + "\""
            case 3: value = random.pick(Self.oddNumbers)
            default: value = "\"\(random.below(1000))\""
            }
            return "\"\(key)\": \(value)"
        }
        return "{\(entries.joined(separator: ", "))}"
    }
}
