import Foundation
import VAECore

/// Where the probe sees: a linear probe's rectangle (most breast scans) or a curvilinear probe's fan, whose
/// apex lies above the image. Pixels outside stay black.
struct FieldOfView {
    enum Shape {
        /// Full width, from row `top` down.
        case linear(top: Double)
        /// Rings of radius rMin…rMax around (apexX, apexY), within ±halfAngle of straight down.
        case sector(apexX: Double, apexY: Double, rMin: Double, rMax: Double, halfAngle: Double)
    }

    let shape: Shape
    let size: Int

    /// A pixel position in probe terms. `lateral` ∈ [0, 1] across the field is constant along a beam (a column,
    /// or a ray of the fan), so shadows follow it; `depth` ∈ [0, 1] runs from the skin to the deepest echo.
    struct Probe {
        let lateral: Double
        let depth: Double
        let inside: Bool
    }

    static func random(size: Int, using generator: inout SplitMix64) -> FieldOfView {
        let s = Double(size)
        if generator.chance(0.7) {
            return FieldOfView(shape: .linear(top: (s * generator.uniform(0, 0.03)).rounded()), size: size)
        }
        // A far apex gives the wide, gently curved top of a breast curvilinear probe.
        let apexDistance = s * generator.uniform(0.5, 1.2)
        let rMin = apexDistance + 0.02 * s
        let rMax = apexDistance + s - 1
        let halfAngle = min(0.6, asin((s / 2 - 1) / rMax))
        return FieldOfView(shape: .sector(apexX: s / 2, apexY: -apexDistance, rMin: rMin, rMax: rMax,
                                          halfAngle: halfAngle), size: size)
    }

    /// Probe coordinates of the point (x, y) in pixels (pixel centres are at +0.5).
    func probe(_ x: Double, _ y: Double) -> Probe {
        switch shape {
        case .linear(let top):
            let depth = (y - top) / (Double(size) - top)
            return Probe(lateral: x / Double(size), depth: depth, inside: depth >= 0 && depth <= 1)
        case .sector(let apexX, let apexY, let rMin, let rMax, let halfAngle):
            let dx = x - apexX, dy = y - apexY
            let r = (dx * dx + dy * dy).squareRoot()
            let angle = atan2(dx, dy)
            let depth = (r - rMin) / (rMax - rMin)
            return Probe(lateral: (angle / halfAngle + 1) / 2, depth: depth,
                         inside: depth >= 0 && depth <= 1 && abs(angle) <= halfAngle)
        }
    }

    /// The inverse of `probe`: the point (x, y) in pixels at a lateral position and depth.
    func point(lateral: Double, depth: Double) -> (x: Double, y: Double) {
        switch shape {
        case .linear(let top):
            return (lateral * Double(size), top + depth * (Double(size) - top))
        case .sector(let apexX, let apexY, let rMin, let rMax, let halfAngle):
            let angle = (2 * lateral - 1) * halfAngle
            let r = rMin + depth * (rMax - rMin)
            return (apexX + r * sin(angle), apexY + r * cos(angle))
        }
    }

    /// How many pixels depth 0…1 spans, to keep structures such as muscle fibres a sensible size.
    var depthPixels: Double {
        switch shape {
        case .linear(let top): return Double(size) - top
        case .sector(_, _, let rMin, let rMax, _): return rMax - rMin
        }
    }
}
