/// Why a metric has no value at one layer of one pair. Such a value is recorded as undefined (JSON null, an
/// empty CSV cell) and left out of every aggregate, never averaged as NaN.
public enum UndefinedReason: String, Equatable, Sendable {
    case noMask = "no mask"
    /// Σ(a − b)² = 0 at the layer: a share of no energy is 0/0.
    case noDifference = "no difference at this layer"
    /// `noDifference` at every layer of the pair (said per pair, see `LeftOutPair`).
    case identicalImages = "identical images (no difference at any layer)"
    case emptyMask = "no lesion area at this layer"
    case maskCoversLayer = "the mask covers the whole layer"
    /// Overflow or NaN in the outputs (e.g. diverged weights).
    case notFinite = "not a finite number"
}

extension Array where Element == LayerDifference {
    /// No difference at any layer of a pair: its two images are identical (at the analysis size).
    public var identicalImages: Bool { !isEmpty && allSatisfy { $0.l2 == 0 } }

    /// Why `metric` is undefined at layer `index` of this pair, said of the pair: no difference at any layer
    /// is "identical images".
    public func undefinedReason(of metric: DifferenceMetric, at index: Int) -> UndefinedReason? {
        let reason = self[index].undefinedReason(of: metric)
        return reason == .noDifference && identicalImages ? .identicalImages : reason
    }
}

extension LayerDifference {
    /// The metric's value; nil where it is undefined (`undefinedReason(of:)` says why).
    public func value(of metric: DifferenceMetric) -> Double? {
        undefinedReason(of: metric) == nil ? computed(metric) : nil
    }

    /// Why `value(of:)` is nil; nil when the metric has a value.
    public func undefinedReason(of metric: DifferenceMetric) -> UndefinedReason? {
        switch metric {
        case .l2Value, .l2PerElement, .cosineValue: break
        case .lesionEnergyFraction, .lesionAreaFraction, .lesionEnrichment, .energyPerAreaInside, .energyPerAreaOutside:
            guard let lesion else { return .noMask }
            let noEnergy = l2 == 0, noArea = lesion.areaFraction <= 0 || pixels == 0
            switch metric {
            case .lesionEnergyFraction where noEnergy: return .noDifference
            case .lesionEnrichment where noEnergy: return .noDifference
            case .lesionEnrichment where noArea, .energyPerAreaInside where noArea: return .emptyMask
            case .energyPerAreaOutside where lesion.areaFraction >= 1 || pixels == 0: return .maskCoversLayer
            default: break
            }
        }
        return computed(metric).isFinite ? nil : .notFinite
    }

    fileprivate var pixels: Int { shape.count == 4 ? shape[2] * shape[3] : 0 }

    /// The arithmetic alone; `undefinedReason(of:)` decides whether it means anything.
    private func computed(_ metric: DifferenceMetric) -> Double {
        let energy = l2 * l2, pixels = Double(self.pixels)
        let inside = lesion?.inside ?? .nan, area = lesion?.areaFraction ?? .nan
        switch metric {
        case .l2Value: return l2
        case .l2PerElement: return l2PerElement
        case .cosineValue: return cosine
        case .lesionEnergyFraction: return inside / energy
        case .lesionAreaFraction: return area
        case .lesionEnrichment: return inside / energy / area
        case .energyPerAreaInside: return inside / (area * pixels)
        case .energyPerAreaOutside: return (energy - inside) / ((1 - area) * pixels)
        }
    }
}
