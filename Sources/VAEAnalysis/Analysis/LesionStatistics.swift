/// One layer's lesion statistics over a folder's pairs.
///
/// A pair's enrichment is at most 1 / its lesion's area fraction, so across pairs it tracks lesion size and the
/// mean over pairs is carried by the smallest lesions. The pooled enrichment sums before dividing:
///
///     pooled = (Σᵢ insideᵢ / Σᵢ energyᵢ) / (Σᵢ areaᵢ·P / Σᵢ P) = (Σᵢ insideᵢ / Σᵢ energyᵢ) / (Σᵢ areaᵢ / n)
///
/// with energyᵢ = Σ(a − b)² of pair i at the layer (channels and pixels summed), insideᵢ its part inside the mask
/// (each pixel weighted by its mask coverage), areaᵢ the mask's share of the layer's P pixels (the same P for
/// every pair), over the n pairs where the energy fraction is defined (energyᵢ > 0 and finite).
public struct LesionLayerStatistics: Equatable, Sendable {
    public let layer: String
    /// nil when no pair has a defined energy fraction.
    public let pooled: Double?
    /// The percentile bootstrap interval of `pooled`, resampling those pairs (or their clusters).
    public let pooledCILow: Double?, pooledCIHigh: Double?
    public let pooledN: Int
    /// Spearman's ρ (average ranks for ties) between a pair's enrichment and its lesion's area fraction, over
    /// the pairs where the enrichment is defined; nil when undefined (`correlationUndefined` says why).
    public let areaCorrelation: Double?
    public let correlationN: Int
    public let correlationUndefined: String?
}

/// Each pair's lesion area (context, the same at every layer) and each layer's lesion statistics.
public struct LesionStatistics: Sendable {
    public let layers: [LesionLayerStatistics]
    /// Each pair's mask share of the image at the analysis size, in pair order.
    public let pairAreas: [(name: String, area: Double)]

    /// What the correlation means, for the report and the console.
    public static let correlationMeaning = "ρ is the rank correlation across pairs between a pair's enrichment and its "
        + "lesion's area: a pair's enrichment is at most 1/area, so ρ near −1 says the per-pair values (and their mean) "
        + "mostly measure lesion size, carried by the smallest lesions; the pooled enrichment sums energy and area over "
        + "the pairs before dividing, so a small lesion weighs no more than its share of the energy and the area."

    init(pairs: [(name: String, layers: [LayerDifference])], draws: BootstrapDraws) {
        // The full-resolution layer's share is the mask's at the analysis size (area averaging keeps it elsewhere).
        pairAreas = pairs.map { pair in
            let full = pair.layers.max { $0.shape.dropFirst(2).reduce(1, *) < $1.shape.dropFirst(2).reduce(1, *) }
            return (pair.name, full?.lesion?.areaFraction ?? .nan)
        }
        layers = (pairs.first?.layers.indices ?? 0..<0).map { index in
            let at = pairs.map { $0.layers[index] }
            let termPairs = at.indices.filter { at[$0].lesion != nil && at[$0].value(of: .lesionEnergyFraction) != nil }
            let pooledTerms = termPairs.map { pair in
                PooledTerm(inside: at[pair].lesion!.inside, energy: at[pair].l2 * at[pair].l2, area: at[pair].lesion!.areaFraction)
            }
            let pooled = pooledTerms.isEmpty ? nil : pooledEnrichment(pooledTerms)
            let interval = pooledTerms.isEmpty ? nil
                : draws.interval(over: termPairs) { sample in pooledEnrichment(sample.map { pooledTerms[$0] }) }
            let ranked = at.compactMap { layer in layer.value(of: .lesionEnrichment).map { ($0, layer.lesion!.areaFraction) } }
            let rho = spearman(ranked.map(\.0), ranked.map(\.1))
            return LesionLayerStatistics(layer: at[0].layer, pooled: pooled, pooledCILow: interval?.low, pooledCIHigh: interval?.high,
                                         pooledN: pooledTerms.count, areaCorrelation: rho.value, correlationN: ranked.count,
                                         correlationUndefined: rho.undefined)
        }
    }

    /// n, mean, median, min and max of the pairs' lesion areas.
    public var areaSummary: (n: Int, mean: Double, median: Double, min: Double, max: Double)? {
        let areas = pairAreas.map(\.area).filter(\.isFinite).sorted()
        guard let low = areas.first, let high = areas.last else { return nil }
        return (areas.count, areas.reduce(0, +) / Double(areas.count), percentile(areas, 50), low, high)
    }
}

/// One pair's part of a pooled enrichment.
struct PooledTerm {
    let inside, energy, area: Double
}

/// (Σ inside / Σ energy) / (Σ area / n), summed in the given order.
func pooledEnrichment(_ terms: [PooledTerm]) -> Double {
    let (inside, energy, area) = terms.reduce((0.0, 0.0, 0.0)) { ($0.0 + $1.inside, $0.1 + $1.energy, $0.2 + $1.area) }
    return inside / energy / (area / Double(terms.count))
}

/// Spearman's ρ: Pearson's correlation of the average ranks (ties share the mean of their ranks), as
/// scipy.stats.spearmanr. Undefined below 3 pairs (±1 or 0/0 by construction) and when either side is constant.
func spearman(_ x: [Double], _ y: [Double]) -> (value: Double?, undefined: String?) {
    precondition(x.count == y.count, "spearman: \(x.count) against \(y.count) values")
    guard x.count >= 3 else { return (nil, "fewer than 3 pairs with an enrichment") }
    let (rx, ry) = (averageRanks(x), averageRanks(y))
    let mean = Double(x.count + 1) / 2
    var (sxy, sxx, syy) = (0.0, 0.0, 0.0)
    for (a, b) in zip(rx, ry) {
        sxy += (a - mean) * (b - mean)
        sxx += (a - mean) * (a - mean)
        syy += (b - mean) * (b - mean)
    }
    if sxx == 0 { return (nil, "every pair has the same enrichment") }
    if syy == 0 { return (nil, "every lesion has the same area") }
    return (sxy / (sxx * syy).squareRoot(), nil)
}

/// Ranks 1…n, ties given the mean of the ranks they span.
func averageRanks(_ values: [Double]) -> [Double] {
    let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
    var ranks = [Double](repeating: 0, count: values.count)
    var start = 0
    while start < order.count {
        var end = start
        while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
        for k in start...end { ranks[order[k]] = Double(start + end) / 2 + 1 }
        start = end + 1
    }
    return ranks
}
