/// Natural order of names, as people number files: runs of ASCII digits compare by their value
/// (`benign (2)` before `benign (10)`), other runs without regard to case; ties are broken by leading zeros
/// (fewer first) and then by the UTF-16 code units. report.html's sort script implements the same order.
public func naturalOrder(_ a: String, _ b: String) -> Bool { naturalCompare(a, b) < 0 }

/// Negative, zero or positive as `a` sorts before, with or after `b` in natural order.
public func naturalCompare(_ a: String, _ b: String) -> Int {
    let x = naturalChunks(a), y = naturalChunks(b)
    for (p, q) in zip(x, y) {
        let digits = (isDigit(p[0]), isDigit(q[0]))
        if digits.0 && digits.1 {
            let (pv, qv) = (p.drop { $0 == 48 }, q.drop { $0 == 48 })
            if pv.count != qv.count { return pv.count - qv.count }
            if let order = lexicographic(pv, qv) { return order }
            if p.count != q.count { return p.count - q.count }
        } else {
            let (pl, ql) = (Array(String(decoding: p, as: UTF16.self).lowercased().utf16),
                            Array(String(decoding: q, as: UTF16.self).lowercased().utf16))
            if let order = lexicographic(pl[...], ql[...]) { return order }
        }
    }
    if x.count != y.count { return x.count - y.count }
    return lexicographic(Array(a.utf16)[...], Array(b.utf16)[...]) ?? 0
}

private func isDigit(_ unit: UInt16) -> Bool { (48...57).contains(unit) }

/// Maximal runs of digits and of anything else, in UTF-16 code units (as JavaScript sees a string).
private func naturalChunks(_ s: String) -> [[UInt16]] {
    var chunks: [[UInt16]] = []
    for unit in s.utf16 {
        if let last = chunks.last?.last, isDigit(last) == isDigit(unit) {
            chunks[chunks.count - 1].append(unit)
        } else {
            chunks.append([unit])
        }
    }
    return chunks
}

/// -1 or 1 at the first differing unit (a prefix first), nil when equal.
private func lexicographic(_ a: ArraySlice<UInt16>, _ b: ArraySlice<UInt16>) -> Int? {
    for (p, q) in zip(a, b) where p != q { return p < q ? -1 : 1 }
    return a.count == b.count ? nil : (a.count < b.count ? -1 : 1)
}
