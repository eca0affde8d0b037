/// A perceptually ordered dark-to-bright ramp (black, purple, red, orange, pale yellow) after
/// matplotlib's "inferno": brightness rises steadily, so larger values always look hotter.
private let infernoStops: [(Double, Double, Double)] = [
    (0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
    (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164),
]

/// The ramp's colour at `t` in 0...1 (clamped; NaN counts as 0).
public func infernoColor(_ t: Double) -> PlotColor {
    let clamped = t.isNaN ? 0 : min(1, max(0, t))
    let position = clamped * Double(infernoStops.count - 1)
    let index = min(infernoStops.count - 2, Int(position))
    let f = position - Double(index)
    let a = infernoStops[index], b = infernoStops[index + 1]
    func mix(_ x: Double, _ y: Double) -> UInt8 { UInt8((x + (y - x) * f).rounded()) }
    return PlotColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Resamples a row-major map to another size with bilinear interpolation, sampling at pixel
/// centres (so enlarging keeps the map aligned with the image it was computed from).
public func bilinearResample(_ values: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
    func sources(_ outCount: Int, _ inCount: Int) -> [(Int, Int, Float)] {
        (0..<outCount).map { o in
            let s = min(Float(inCount - 1), max(0, (Float(o) + 0.5) * Float(inCount) / Float(outCount) - 0.5))
            let i0 = Int(s)
            return (i0, min(i0 + 1, inCount - 1), s - Float(i0))
        }
    }
    let columns = sources(toWidth, width), rows = sources(toHeight, height)
    var result = [Float](repeating: 0, count: toWidth * toHeight)
    for (y, (y0, y1, fy)) in rows.enumerated() {
        for (x, (x0, x1, fx)) in columns.enumerated() {
            let top = values[y0 * width + x0] * (1 - fx) + values[y0 * width + x1] * fx
            let bottom = values[y1 * width + x0] * (1 - fx) + values[y1 * width + x1] * fx
            result[y * toWidth + x] = top * (1 - fy) + bottom * fy
        }
    }
    return result
}
