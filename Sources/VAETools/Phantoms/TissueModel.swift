import Foundation
import VAECore

/// The layered anatomy of a breast scan, top to bottom: skin line, subcutaneous fat crossed by Cooper's ligaments,
/// fibroglandular tissue, retromammary fat, pectoralis muscle, chest wall. Boundaries are wavy and given in probe
/// depth (0 = skin, 1 = deepest echo), so a curvilinear scan curves them along its arcs as a real one does.
/// Echogenicity is in dB: speckle, attenuation and lesions then simply add.
struct TissueModel {
    let field: FieldOfView
    private let skinDepth: Double
    /// The glandular layer's top and bottom depth at 1024 lateral steps: the undulations' sines, once per
    /// column instead of once per pixel.
    private let glandTable: [(top: Double, bottom: Double)]
    private let retroFatThickness: Double
    private let muscleThickness: Double, fibrePeriod: Double, fibreTilt: Double
    /// Roughens the boundaries in two dimensions, so interfaces are ragged rather than wavy lines.
    private let boundaryNoise: SmoothNoise
    private let fatNoise: SmoothNoise, septaNoise: SmoothNoise, glandCoarse: SmoothNoise, glandFine: SmoothNoise
    private let fatIslands: SmoothNoise, fibreNoise: SmoothNoise

    init(field: FieldOfView, using g: inout SplitMix64) {
        self.field = field
        skinDepth = g.uniform(0.012, 0.03)
        let fatBottom = g.uniform(0.14, 0.28)
        let fatWave = Undulation(amplitude: g.uniform(0.02, 0.06), using: &g)
        let glandThickness = g.uniform(0.3, 0.45)
        let glandWave = Undulation(amplitude: g.uniform(0.03, 0.08), using: &g)
        glandTable = (0...Self.glandSteps).map { step in
            let u = Double(step) / Double(Self.glandSteps)
            let top = fatBottom + fatWave(u)
            return (top, top + glandThickness + glandWave(u))
        }
        retroFatThickness = g.uniform(0.02, 0.06)
        muscleThickness = g.uniform(0.08, 0.16)
        fibrePeriod = g.uniform(0.025, 0.045)
        fibreTilt = g.uniform(-0.15, 0.15)
        boundaryNoise = SmoothNoise(cells: 6, using: &g)
        fatNoise = SmoothNoise(cells: 4, using: &g)
        septaNoise = SmoothNoise(cells: 4, using: &g)
        glandCoarse = SmoothNoise(cells: 4, using: &g)
        glandFine = SmoothNoise(cells: 12, using: &g)
        fatIslands = SmoothNoise(cells: 7, using: &g)
        fibreNoise = SmoothNoise(cells: 3, using: &g)
    }

    /// Depths where the fibroglandular layer starts and ends at `lateral` (ignoring the raggedness):
    /// lesions are placed there, as most breast tumours arise in glandular tissue.
    func glandularLayer(at lateral: Double) -> ClosedRange<Double> {
        let x = min(max(lateral, 0), 1) * Double(Self.glandSteps)
        let i = min(Int(x), Self.glandSteps - 1), t = x - Double(i)
        let a = glandTable[i], b = glandTable[i + 1]
        return lerp(a.top, b.top, t)...lerp(a.bottom, b.bottom, t)
    }

    private static let glandSteps = 1024

    /// Echogenicity in dB (0 ≈ the brightest tissue) at a point inside the field.
    func decibels(_ p: FieldOfView.Probe) -> Double {
        let u = p.lateral, d = p.depth
        let layer = glandularLayer(at: u)
        let rough = 0.03 * boundaryNoise(u, d)
        let glandTop = layer.lowerBound + rough, glandBottom = layer.upperBound + rough
        let muscleTop = glandBottom + retroFatThickness
        let chestTop = muscleTop + muscleThickness
        let blend = 0.008
        // Layer i (fat, gland, retromammary fat, muscle, chest wall) covers the ones above it from its top
        // boundary down; evaluated deepest first, so that layers hidden below others are never computed.
        var db = 0.0, uncovered = 1.0
        for i in stride(from: 4, through: 0, by: -1) where uncovered > 0 {
            let top = switch i {
            case 0: skinDepth + blend
            case 1: glandTop
            case 2: glandBottom
            case 3: muscleTop
            default: chestTop
            }
            let weight = uncovered * smoothstep(top - blend, top + blend, d)
            if weight > 0 { db += weight * layerDecibels(i, u, d) }
            uncovered -= weight
        }
        db += uncovered * -11  // dermis
        let skinWidth = max(0.005, 0.8 / field.depthPixels)
        let skinOffset = (d - skinDepth) / skinWidth
        return db + 14 * exp(-skinOffset * skinOffset)
    }

    private func layerDecibels(_ index: Int, _ u: Double, _ d: Double) -> Double {
        switch index {
        case 0, 2: return fat(u, d)
        case 1: return glandular(u, d)
        case 3: return muscle(u, d)
        default: return -24 + 5 * fatNoise(u, 2 * d)
        }
    }

    /// Fat is mid-grey; Cooper's ligaments are thin bright curves, drawn as level lines of a smooth field.
    private func fat(_ u: Double, _ d: Double) -> Double {
        // Stretched across: ligaments run obliquely rather than curling.
        let level = septaNoise(u * 0.6, d * 1.8) * 1.6
        let distance = abs(level - level.rounded())
        return -18 + 3 * fatNoise(u, d) + 7 * exp(-(distance * distance) / 0.004)
    }

    /// Bright, mottled, with islands of fat.
    private func glandular(_ u: Double, _ d: Double) -> Double {
        // Stretched across too: glandular tissue is layered along the skin.
        let tissue = -6 + 8 * glandCoarse(u, d * 1.5) + 5 * glandFine(u, d * 2)
        return lerp(tissue, fat(u, d), smoothstep(0.15, 0.45, fatIslands(u, d * 1.5)))
    }

    /// Dark muscle with bright fibre striations running roughly along the layer.
    private func muscle(_ u: Double, _ d: Double) -> Double {
        let phase = (d + fibreTilt * u) / fibrePeriod + 1.5 * fibreNoise(u, d)
        let stria = pow(0.5 + 0.5 * sin(2 * .pi * phase), 4)
        return -16 + 7 * stria
    }
}

@inline(__always)
func lerp(_ a: Double, _ b: Double, _ t: Double) -> Double { a + (b - a) * t }

/// How the scanner turns echoes into grey levels: depth attenuation that the gain only partly compensates, and
/// log compression to a fixed dynamic range, as a B-mode display does.
struct ScanSettings {
    let attenuationDB: Double
    let gainDB: Double
    static let dynamicRangeDB = 48.0
    /// The dB value shown as black; brightest gland with average speckle lands near 85% grey.
    static let floorDB = -40.0

    static func random(using g: inout SplitMix64) -> ScanSettings {
        ScanSettings(attenuationDB: g.uniform(5, 12), gainDB: g.uniform(-2, 2))
    }

    @inline(__always)
    func grey(echoDB: Double, speckleDB: Float, depth: Double) -> UInt8 {
        let total = echoDB + Double(speckleDB) - attenuationDB * depth + gainDB
        let level = min(max((total - Self.floorDB) / Self.dynamicRangeDB, 0), 1)
        return UInt8((level * 255).rounded())
    }
}
