/// `text` from a file (a tensor name, a dict key, a global's name) made safe to print in a message: control
/// characters (a NUL, an escape sequence that would drive the terminal) and invisible formatting characters (a
/// right-to-left override that would reorder what is shown) are written as escapes, `\0` or `\u{1b}`.
func printable(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\0": out += "\\0"
        case "\t": out += "\\t"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\\": out += "\\\\"
        default:
            let category = scalar.properties.generalCategory
            if category == .control || category == .format {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
