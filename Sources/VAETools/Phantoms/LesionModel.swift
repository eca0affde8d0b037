import Foundation
import VAECore

/// The kinds of breast lesion drawn, after their usual ultrasound appearance.
public enum LesionKind: String, Codable, Sendable, CaseIterable {
    /// Anechoic, round or oval, sharp smooth wall, posterior enhancement.
    case cyst
    /// Hypoechoic, oval and wider than tall, smooth or gently lobulated (fibroadenoma-like).
    case circumscribed
    /// Hypoechoic, irregular and spiculated, often taller than wide, often shadowing (carcinoma-like).
    case irregular
}

/// What the lesion does to the echoes below it.
public enum PosteriorFeature: String, Codable, Sendable {
    case none, shadow, enhancement
}

/// A lesion's outline and how it looks: interior echogenicity, an optional bright rim, and a posterior shadow or
/// enhancement that follows the beams below it and fades with depth.
struct LesionModel {
    let kind: LesionKind
    let shape: LesionShape
    let posterior: PosteriorFeature
    let rim: Bool
    private let interiorDB: Double, textureDB: Double, texture: SmoothNoise
    /// Half-width of the soft outline, in q.
    private let edge: Double
    private let rimDB: Double, rimCenter: Double, rimWidth: Double
    private let posteriorDB: Double, posteriorFade: Double
    private let beam: BeamFootprint
    /// Pixels outside cannot have q < reach: skips the outline's trigonometry far from the lesion.
    private let reachBox: PixelBox

    /// q beyond which the lesion itself (not its posterior effect) changes nothing.
    var reach: Double { max(1 + edge, rim ? rimCenter + Self.rimCutoff * rimWidth : 0) }
    /// The rim's Gaussian profile is cut where it adds less than 0.2 dB.
    private static let rimCutoff = 2.0

    /// Draws a lesion that fits inside the field, in the glandular layer.
    init(tissue: TissueModel, using g: inout SplitMix64) {
        let size = Double(tissue.field.size)
        let pixel = max(1, size / 256)  // features keep their look at any image size
        let roll = g.nextUniform()
        kind = roll < 0.2 ? .cyst : (roll < 0.6 ? .circumscribed : .irregular)
        shape = Self.placeShape(kind: kind, tissue: tissue, using: &g)
        let meanRadius = (shape.radiusX * shape.radiusY).squareRoot()
        // A width of `pixels` (at 256 px) in q, capped so that edges and rims of tiny lesions stay near them.
        func q(_ pixels: Double) -> Double { min(pixels * pixel / meanRadius, 0.3) }
        // Darker than the tissue around it by `contrast` dB, and never brighter than fat: a lesion stays
        // hypoechoic wherever it lands (in bright gland or in a fat lobule).
        let contrast: Double
        switch kind {
        case .cyst:
            contrast = g.uniform(28, 36); textureDB = 2
            edge = q(0.5)
            posterior = .enhancement
            posteriorDB = g.uniform(5, 9); posteriorFade = g.uniform(0.2, 0.5)
            rim = g.chance(0.3)
            rimDB = g.uniform(4, 8); rimWidth = q(0.8)
        case .circumscribed:
            contrast = g.uniform(12, 18); textureDB = 5
            edge = q(0.9)
            posterior = g.chance(0.5) ? .enhancement : .none
            posteriorDB = g.uniform(2, 5); posteriorFade = g.uniform(0.2, 0.5)
            rim = g.chance(0.35)
            rimDB = g.uniform(5, 9); rimWidth = q(g.uniform(0.8, 1.3))
        case .irregular:
            contrast = g.uniform(12, 20); textureDB = 6
            edge = q(1.6)
            posterior = g.chance(0.65) ? .shadow : .none
            posteriorDB = g.uniform(-16, -8); posteriorFade = g.uniform(0.5, 1.5)
            // An echogenic halo: a thicker bright zone around the margin.
            rim = g.chance(0.4)
            rimDB = g.uniform(4, 8); rimWidth = q(g.uniform(1.5, 2.5))
        }
        rimCenter = 1 + 0.5 * rimWidth
        interiorDB = min(Self.surroundingDecibels(shape, tissue: tissue) - contrast, -20)
        texture = SmoothNoise(cells: 4, using: &g)
        beam = BeamFootprint(shape: shape, field: tissue.field)
        reachBox = shape.pixelBox(at: max(1 + edge, rimCenter + Self.rimCutoff * rimWidth), size: tissue.field.size)
    }

    /// Echogenicity in dB at a pixel given the tissue's, and the pixel's q; nil where neither the lesion nor its
    /// posterior feature reaches. The lesion replaces the tissue inside its outline, the rim brightens around it,
    /// and the posterior feature shifts everything below it along the beams.
    func appearance(tissueDB: Double, x: Double, y: Double, probe: FieldOfView.Probe) -> (decibels: Double, q: Double)? {
        let below = beam.weight(probe, fade: posteriorFade, active: posterior != .none)
        let (q, a, b) = reachBox.contains(x: Int(x), y: Int(y)) ? shape.locate(x, y) : (.infinity, 0, 0)
        guard q < reach || below > 0 else { return nil }
        var db = tissueDB
        if q < 1 + edge {
            let inside = 1 - smoothstep(1 - edge, 1 + edge, q)
            let interior = interiorDB + textureDB * texture((a + 2) / 4, (b + 2) / 4)
            db = lerp(db, interior, inside)
        }
        if rim, abs(q - rimCenter) < Self.rimCutoff * rimWidth {
            let t = (q - rimCenter) / rimWidth
            db += rimDB * exp(-t * t)
        }
        return (db + posteriorDB * below, q)
    }

    /// The tissue's mean echogenicity on a ring just outside the outline.
    private static func surroundingDecibels(_ shape: LesionShape, tissue: TissueModel) -> Double {
        let ring = shape.points(at: 1.6, count: 32).map { tissue.field.probe($0.x, $0.y) }.filter(\.inside)
        guard !ring.isEmpty else { return -6 }
        return ring.reduce(0) { $0 + tissue.decibels($1) } / Double(ring.count)
    }

    private static func placeShape(kind: LesionKind, tissue: TissueModel, using g: inout SplitMix64) -> LesionShape {
        let field = tissue.field
        let size = Double(field.size)
        var cap = 1.0
        var candidate = LesionShape(centerX: size / 2, centerY: size / 2, radiusX: 2, radiusY: 2, rotation: 0, harmonics: [])
        for _ in 0..<200 {
            let lateral = g.uniform(0.2, 0.8)
            let layer = tissue.glandularLayer(at: lateral)
            let span = layer.upperBound - layer.lowerBound
            let depth = g.uniform(layer.lowerBound + 0.25 * span, layer.upperBound - 0.15 * span)
            let centre = field.point(lateral: lateral, depth: depth)
            candidate = randomShape(kind: kind, x: centre.x, y: centre.y, size: size, cap: cap, using: &g)
            // The lesion and a margin around it stay inside the field, below the skin and above the bottom.
            let fits = candidate.points(at: 1.4).allSatisfy { p in
                let probe = field.probe(p.x, p.y)
                return probe.inside && probe.depth > 0.08 && probe.depth < 0.95 && p.x > 1 && p.x < size - 1
            }
            if fits { return candidate }
            cap *= 0.98
        }
        return candidate
    }

    private static func randomShape(kind: LesionKind, x: Double, y: Double, size: Double, cap: Double,
                                    using g: inout SplitMix64) -> LesionShape {
        let radius: ClosedRange<Double>, aspect: ClosedRange<Double>, tilt: Double
        var harmonics: [LesionShape.Harmonic] = []
        func add(_ count: Int, orders: ClosedRange<Int>, amplitude: ClosedRange<Double>, spike: Bool = false) {
            for _ in 0..<count {
                harmonics.append(.init(order: g.integer(in: orders), amplitude: g.uniform(amplitude.lowerBound, amplitude.upperBound),
                                       phase: g.uniform(0, 2 * .pi), spike: spike))
            }
        }
        switch kind {
        case .cyst:
            radius = 0.04...0.1; aspect = 1.0...1.4; tilt = 0.4
            add(2, orders: 2...3, amplitude: 0...0.02)
        case .circumscribed:
            radius = 0.05...0.14; aspect = 1.15...1.7; tilt = 0.25
            // Two or three broad lobes; higher orders only faintly, or the oval turns into a rounded square.
            add(g.integer(in: 1...2), orders: 2...3, amplitude: 0.02...0.06)
            add(1, orders: 4...6, amplitude: 0...0.025)
        case .irregular:
            radius = 0.05...0.13; aspect = 0.75...1.15; tilt = 0.6
            add(3, orders: 3...9, amplitude: 0.02...0.06)
            // Spicules of mixed spacing and length, so that they do not ring the lesion like a gear.
            add(2, orders: 5...13, amplitude: 0.03...0.09, spike: true)
        }
        let r = max(2, size * cap * g.uniform(radius.lowerBound, radius.upperBound))
        let a = g.uniform(aspect.lowerBound, aspect.upperBound)
        return LesionShape(centerX: x, centerY: y, radiusX: r * a, radiusY: r / a, rotation: g.uniform(-tilt, tilt),
                           harmonics: harmonics)
    }
}

/// The beams that pass through a lesion: the lateral span of its outline and the depths of its centre and
/// bottom. Below the lesion those beams carry its shadow or enhancement, strongest in the middle of the span.
struct BeamFootprint {
    private let center: FieldOfView.Probe
    private let left: Double, right: Double, bottom: Double

    init(shape: LesionShape, field: FieldOfView) {
        center = field.probe(shape.centerX, shape.centerY)
        let outline = shape.points(at: 1).map { field.probe($0.x, $0.y) }
        left = max(center.lateral - (outline.map(\.lateral).min() ?? center.lateral), 1e-6)
        right = max((outline.map(\.lateral).max() ?? center.lateral) - center.lateral, 1e-6)
        bottom = max(outline.map(\.depth).max() ?? center.depth, center.depth + 1e-6)
    }

    /// 0 outside the beams or above the lesion centre; rises through the lesion's lower half, then fades.
    func weight(_ p: FieldOfView.Probe, fade: Double, active: Bool) -> Double {
        guard active, p.depth > center.depth else { return 0 }
        let offset = p.lateral - center.lateral
        let s = abs(offset) / (offset < 0 ? left : right)
        guard s < 1 else { return 0 }
        let across = 1 - smoothstep(0.55, 1, s)
        let down = smoothstep(center.depth, bottom, p.depth) * (p.depth > bottom ? exp(-(p.depth - bottom) / fade) : 1)
        return across * down
    }
}
