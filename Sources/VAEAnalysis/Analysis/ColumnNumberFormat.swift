import Foundation

/// One way of writing every number of a table column, chosen from the column's values, so that a column never
/// mixes `7.3e+04` with `64030`: fixed decimals giving the largest magnitude four significant digits, or
/// scientific notation (four significant digits) for all of them when the magnitudes are very large or small, or
/// when fixed decimals would write a non-zero value as 0.
struct ColumnNumberFormat: Equatable {
    let scientific: Bool
    let decimals: Int

    init(_ values: [Double]) {
        let magnitudes = values.filter(\.isFinite).map(abs)
        let largest = magnitudes.max() ?? 0
        guard largest > 0 else {
            (scientific, decimals) = (false, 0)
            return
        }
        let decimals = max(0, 3 - Int(log10(largest).rounded(.down)))
        let smallest = magnitudes.filter { $0 > 0 }.min() ?? largest
        if largest >= 1e6 || largest < 1e-3 || smallest < 0.5 * pow(10, -Double(decimals)) {
            (scientific, self.decimals) = (true, 3)
        } else {
            (scientific, self.decimals) = (false, decimals)
        }
    }

    /// Callers pass defined values; anything else reads "undefined", never nan.
    func callAsFunction(_ value: Double) -> String {
        guard value.isFinite else { return "undefined" }
        let text = String(format: scientific ? "%.\(decimals)e" : "%.\(decimals)f", value)
        // -0.000 is 0.
        return Double(text) == 0 ? String(format: scientific ? "%.\(decimals)e" : "%.\(decimals)f", 0.0) : text
    }
}
