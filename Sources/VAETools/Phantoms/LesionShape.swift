import Foundation

/// A lesion outline: a rotated ellipse whose radius is modulated by a few harmonics (lobulation) and, for
/// irregular lesions, narrow spikes (spiculation). Distances are measured as q = (radius of the point in the
/// ellipse's unit frame) / (outline radius at its angle): q < 1 inside, q = 1 on the outline.
struct LesionShape {
    struct Harmonic {
        let order: Int
        let amplitude: Double
        let phase: Double
        /// Spikes use a sharpened cosine: narrow outward points rather than round lobes.
        let spike: Bool
    }

    let centerX: Double, centerY: Double
    let radiusX: Double, radiusY: Double
    let rotation: Double
    let harmonics: [Harmonic]

    /// The outline radius at angle `phi` in the unit frame (1 for a plain ellipse).
    func outline(_ phi: Double) -> Double {
        var r = 1.0
        for h in harmonics {
            let c = cos(Double(h.order) * phi + h.phase)
            r += h.amplitude * (h.spike ? pow(max(c, 0), 6) : c)
        }
        return r
    }

    /// The largest value `outline` can take: the pixel extent of the lesion is bounded by it.
    var maximumOutline: Double { 1 + harmonics.reduce(0) { $0 + $1.amplitude } }

    /// The point's q and its coordinates in the lesion's unit frame.
    func locate(_ x: Double, _ y: Double) -> (q: Double, a: Double, b: Double) {
        let dx = x - centerX, dy = y - centerY
        let a = (dx * cos(rotation) + dy * sin(rotation)) / radiusX
        let b = (-dx * sin(rotation) + dy * cos(rotation)) / radiusY
        let rho = (a * a + b * b).squareRoot()
        return (rho / outline(atan2(b, a)), a, b)
    }

    /// Points around the lesion at q = `level`, in pixels.
    func points(at level: Double, count: Int = 128) -> [(x: Double, y: Double)] {
        (0..<count).map { k in
            let phi = 2 * Double.pi * Double(k) / Double(count)
            let rho = level * outline(phi)
            let u = rho * cos(phi) * radiusX, v = rho * sin(phi) * radiusY
            return (centerX + u * cos(rotation) - v * sin(rotation), centerY + u * sin(rotation) + v * cos(rotation))
        }
    }

    /// Pixels that any q < `level` can touch: the rotated ellipse's box scaled by the largest outline radius.
    func pixelBox(at level: Double, size: Int) -> PixelBox {
        let scale = level * maximumOutline
        let halfWidth = scale * (pow(radiusX * cos(rotation), 2) + pow(radiusY * sin(rotation), 2)).squareRoot()
        let halfHeight = scale * (pow(radiusX * sin(rotation), 2) + pow(radiusY * cos(rotation), 2)).squareRoot()
        return PixelBox(x0: centerX - halfWidth, y0: centerY - halfHeight, x1: centerX + halfWidth,
                        y1: centerY + halfHeight, size: size)
    }
}

/// A rectangle of pixels [x0, x1) × [y0, y1), origin top left, y down.
public struct PixelBox: Codable, Equatable, Sendable {
    public let x0: Int, y0: Int, x1: Int, y1: Int

    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }

    /// The pixels whose centres (at +0.5) can lie within the real-valued rectangle, clipped to the image.
    init(x0: Double, y0: Double, x1: Double, y1: Double, size: Int) {
        self.init(x0: max(0, Int((x0 - 0.5).rounded(.down))), y0: max(0, Int((y0 - 0.5).rounded(.down))),
                  x1: min(size, Int((x1 - 0.5).rounded(.down)) + 1), y1: min(size, Int((y1 - 0.5).rounded(.down)) + 1))
    }

    public var isEmpty: Bool { x0 >= x1 || y0 >= y1 }

    public func contains(x: Int, y: Int) -> Bool { x >= x0 && x < x1 && y >= y0 && y < y1 }

    /// Grown by `margin` pixels on every side and clipped to a size × size image.
    public func expanded(by margin: Int, size: Int) -> PixelBox {
        PixelBox(x0: max(0, x0 - margin), y0: max(0, y0 - margin), x1: min(size, x1 + margin), y1: min(size, y1 + margin))
    }

    /// Encoded as [x0, y0, x1, y1] to keep lesions.json short.
    public init(from decoder: Swift.Decoder) throws {
        var c = try decoder.unkeyedContainer()
        self.init(x0: try c.decode(Int.self), y0: try c.decode(Int.self), x1: try c.decode(Int.self), y1: try c.decode(Int.self))
    }

    public func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(contentsOf: [x0, y0, x1, y1])
    }
}
