import Foundation

/// A JSON value, read (`StrictJSONReader`) or to be written (`text`): object members keep their order (the layer
/// files list decoder layers in the order the decoder runs them; JSONSerialization and JSONEncoder do not), and a
/// number keeps its literal text, so that a reader can check an integer exactly (2^70 is not silently rounded)
/// and quote it as written in a message.
public indirect enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's literal text.
    case number(String)
    case bool(Bool)
    case null

    /// A double with the shortest digits that read back as the same value; NaN and ±∞ (which JSON lacks) as null.
    public static func double(_ value: Double) -> JSONValue { value.isFinite ? .number("\(value)") : .null }

    public static func integer(_ value: Int) -> JSONValue { .number("\(value)") }

    /// The value as compact JSON, cut after `limit` characters: for error messages.
    func quoted(limit: Int = 120) -> String {
        let text = description
        return text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }

    /// Pretty-printed with two-space indentation; arrays of plain values stay on one line.
    public var text: String {
        var out = ""
        write(to: &out, indent: "")
        return out + "\n"
    }

    private var isContainer: Bool {
        switch self {
        case .object, .array: return true
        default: return false
        }
    }

    private func write(to out: inout String, indent: String) {
        let inner = indent + "  "
        switch self {
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{\n"
            for (index, member) in members.enumerated() {
                out += inner + Self.quoted(member.key) + ": "
                member.value.write(to: &out, indent: inner)
                out += index + 1 < members.count ? ",\n" : "\n"
            }
            out += indent + "}"
        case .array(let elements):
            guard elements.contains(where: \.isContainer) else {
                out += "["
                for (index, element) in elements.enumerated() {
                    if index > 0 { out += ", " }
                    element.write(to: &out, indent: inner)
                }
                out += "]"
                return
            }
            out += "[\n"
            for (index, element) in elements.enumerated() {
                out += inner
                element.write(to: &out, indent: inner)
                out += index + 1 < elements.count ? ",\n" : "\n"
            }
            out += indent + "]"
        case .string(let s): out += Self.quoted(s)
        case .number(let literal): out += literal
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped (RFC 8259).
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension JSONValue: CustomStringConvertible {
    /// Compact, on one line.
    public var description: String {
        switch self {
        case .object(let members):
            return "{" + members.map { JSONValue.string($0.key).description + ": " + $0.value.description }
                .joined(separator: ", ") + "}"
        case .array(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .string(let text): return JSONValue.quoted(text)
        case .number(let literal): return literal
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        }
    }
}
