import VAEFormats

/// How figures and report.html name the metrics and layers for readers: in words with the quantity's unit,
/// where JSON and CSV keep the keys (`l2_value`, …).
extension DifferenceMetric {
    /// A panel or column title in words.
    public var title: String {
        switch self {
        case .l2Value: return "L2 distance between the layer outputs"
        case .l2PerElement: return "L2 distance per element"
        case .cosineValue: return "Cosine dissimilarity"
        case .lesionEnergyFraction: return "Share of the difference energy inside the lesion"
        case .lesionAreaFraction: return "Lesion area"
        case .lesionEnrichment: return "Lesion enrichment (energy share / area share)"
        case .energyPerAreaInside: return "Difference energy per pixel inside the lesion"
        case .energyPerAreaOutside: return "Difference energy per pixel outside the lesion"
        }
    }

    /// A short title for a table heading.
    public var shortTitle: String {
        switch self {
        case .l2Value: return "L2 distance"
        case .l2PerElement: return "L2 per element"
        case .cosineValue: return "cosine dissimilarity"
        case .lesionEnergyFraction: return "energy share in lesion"
        case .lesionAreaFraction: return "lesion area"
        case .lesionEnrichment: return "lesion enrichment"
        case .energyPerAreaInside: return "energy / pixel inside"
        case .energyPerAreaOutside: return "energy / pixel outside"
        }
    }

    /// The quantity and its unit, for a value axis. Activations have no physical unit: their differences are
    /// in the layer's activation units, squared for energies.
    public var unit: String {
        switch self {
        case .l2Value: return "‖a − b‖₂ (activation units)"
        case .l2PerElement: return "‖a − b‖₂ / √elements"
        case .cosineValue: return "1 − cos(a, b)"
        case .lesionEnergyFraction: return "share inside the mask (0–1)"
        case .lesionAreaFraction: return "share of the image (0–1)"
        case .lesionEnrichment: return "× the lesion's area share"
        case .energyPerAreaInside, .energyPerAreaOutside: return "Σ(a − b)² per pixel"
        }
    }
}

/// The figures' legend for the highlighted bars: each panel's five largest values.
let topBarsLegend = BarLegend(highlighted: "top \(AnalysisReport.topCount) layers of each panel", others: "other layers")

extension LayerDifference {
    /// The layer's name with its output's resolution, e.g. `decoder.up.1.block.0 (64×64)`: l2_value grows with
    /// the number of elements, so the axis says how large each layer is.
    public var labelWithResolution: String {
        shape.count == 4 ? "\(layer) (\(shape[2])×\(shape[3]))" : layer
    }
}
