struct JSONSyntaxError: Error {
    let message: String
}

/// A strict RFC 8259 reader. Unlike JSONSerialization it refuses an object with the same key twice (which
/// JSONSerialization silently merges), lone UTF-16 surrogates in escapes, and nesting deeper than `maxDepth`
/// (so a forged "[[[[…" cannot exhaust the stack). The input must already be valid UTF-8.
struct StrictJSONReader {
    private let bytes: [UInt8]
    private let maxDepth: Int
    private var at = 0

    static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws -> JSONValue {
        var reader = StrictJSONReader(bytes: bytes, maxDepth: maxDepth)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.at == bytes.count else { throw reader.error("unexpected \(reader.current) after the JSON value") }
        return value
    }

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    /// The byte at the cursor, in words.
    private var current: String {
        guard let b = peek else { return "end of text" }
        return (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x" + String(b, radix: 16)
    }

    private func error(_ what: String) -> JSONSyntaxError { JSONSyntaxError(message: "\(what) at byte \(at)") }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { at += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        guard peek == c.asciiValue else { throw error("expected '\(c)' but found \(current)") }
        at += 1
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < maxDepth else { throw error("nested too deeply (limit \(maxDepth))") }
        guard let first = peek else { throw error("expected a value but found the end of the text") }
        switch first {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(String(decoding: try string(), as: UTF8.self))
        case UInt8(ascii: "t"): try word("true"); return .bool(true)
        case UInt8(ascii: "f"): try word("false"); return .bool(false)
        case UInt8(ascii: "n"): try word("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("expected a value but found \(current)")
        }
    }

    private mutating func word(_ text: String) throws {
        let expected = Array(text.utf8)
        guard bytes.count - at >= expected.count, Array(bytes[at..<at + expected.count]) == expected else {
            throw error("expected \(text) but found \(current)")
        }
        at += expected.count
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        at += 1
        var members: [(key: String, value: JSONValue)] = []
        // Keys compared as bytes: Swift's String equality would merge canonically equivalent spellings.
        var seen = Set<[UInt8]>()
        skipWhitespace()
        if peek == UInt8(ascii: "}") { at += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a key in double quotes but found \(current)") }
            let keyStart = at
            let key = try string()
            let keyText = String(decoding: key, as: UTF8.self)
            guard seen.insert(key).inserted else {
                throw JSONSyntaxError(message: "the key \(JSONValue.string(keyText).quoted()) appears twice in one object (again at byte \(keyStart))")
            }
            skipWhitespace()
            try expect(":")
            skipWhitespace()
            members.append((keyText, try value(depth: depth + 1)))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"): at += 1; return .object(members)
            default: throw error("expected ',' or '}' in an object but found \(current)")
            }
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        at += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { at += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"): at += 1; return .array(items)
            default: throw error("expected ',' or ']' in an array but found \(current)")
            }
        }
    }

    /// The string's content as UTF-8 bytes, escapes resolved.
    private mutating func string() throws -> [UInt8] {
        at += 1
        var out = [UInt8]()
        while true {
            guard let b = peek else { throw error("unterminated string") }
            switch b {
            case UInt8(ascii: "\""):
                at += 1
                return out
            case UInt8(ascii: "\\"):
                at += 1
                try escape(into: &out)
            case 0..<0x20:
                throw error("unescaped control character 0x\(String(b, radix: 16)) in a string")
            default:
                out.append(b)
                at += 1
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws {
        guard let b = peek else { throw error("unterminated string") }
        at += 1
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(b); return
        case UInt8(ascii: "b"): out.append(0x08); return
        case UInt8(ascii: "f"): out.append(0x0C); return
        case UInt8(ascii: "n"): out.append(0x0A); return
        case UInt8(ascii: "r"): out.append(0x0D); return
        case UInt8(ascii: "t"): out.append(0x09); return
        case UInt8(ascii: "u"): break
        default: throw error("invalid escape '\\\(Character(Unicode.Scalar(b)))' in a string")
        }
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            guard peek == UInt8(ascii: "\\"), at + 1 < bytes.count, bytes[at + 1] == UInt8(ascii: "u") else {
                throw error("a high surrogate \\u\(String(code, radix: 16)) without its low half")
            }
            at += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("a high surrogate followed by \\u\(String(low, radix: 16))") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(code) {
            throw error("a lone low surrogate \\u\(String(code, radix: 16))")
        }
        // Every remaining value is a Unicode scalar: surrogates were handled above.
        UTF8.encode(Unicode.Scalar(code)!) { out.append($0) }
    }

    private mutating func hex4() throws -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard let b = peek, let digit = Character(Unicode.Scalar(b)).hexDigitValue else {
                throw error("expected 4 hexadecimal digits after \\u")
            }
            code = code << 4 | UInt32(digit)
            at += 1
        }
        return code
    }

    private mutating func number() throws -> JSONValue {
        let start = at
        if peek == UInt8(ascii: "-") { at += 1 }
        if peek == UInt8(ascii: "0") {
            at += 1
        } else {
            try digits()
        }
        if peek == UInt8(ascii: ".") {
            at += 1
            try digits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            at += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { at += 1 }
            try digits()
        }
        return .number(String(decoding: bytes[start..<at], as: UTF8.self))
    }

    private mutating func digits() throws {
        let start = at
        while let b = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) { at += 1 }
        guard at > start else { throw error("expected a digit in a number but found \(current)") }
    }
}
