/// The element count of a tensor shape read from a file, or nil when it is not representable: a negative
/// dimension, or dimensions whose product overflows Int in some order. A zero dimension makes the count 0, but code
/// that multiplies the others first (`shape.reduce(1, *)` of [2^62, 2, 0], or of a shape's trailing dimensions)
/// must not trap, so the product of the non-zero dimensions has to fit too.
func representableElementCount(_ shape: [Int]) -> Int? {
    var product = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        guard dimension > 0 else { continue }
        let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
        guard !overflow else { return nil }
        product = next
    }
    return shape.contains(0) ? 0 : product
}
