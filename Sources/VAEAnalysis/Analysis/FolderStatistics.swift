/// The uncertainty of a folder's aggregates: per compared metric, each layer's summary over the pairs where
/// the metric is defined (decoder order) and the ranking by mean; the pairs left out of a metric and why; and
/// with masks, the lesion statistics.
public struct FolderStatistics: Sendable {
    /// The compared metrics (`DifferenceMetric.compared`): never the lesion's area, which is context.
    public let metrics: [DifferenceMetric]
    public let layers: [String]
    public let pairCount: Int
    public let resamples: Int
    public let seed: UInt64
    /// The confidence level of every interval.
    public let level: Double
    /// The number of clusters the bootstrap resamples (`--cluster_by`); nil: it resamples pairs.
    public let clusterCount: Int?
    /// Per layer; nil where the metric is undefined for every pair.
    public let summaries: [DifferenceMetric: [MetricSummary?]]
    /// The layers with a value, by decreasing mean; empty when the metric is undefined for every pair.
    public let rankings: [DifferenceMetric: [RankedLayer]]
    /// Each pair with an undefined value, which metrics at which layers, and why.
    public let leftOut: [LeftOutPair]
    /// With masks: pooled enrichment, its correlation with lesion area, the lesions' areas.
    public let lesion: LesionStatistics?

    /// `pairs`: each pair's layers in decoder order, in pair-name order. `clusters`: each pair's cluster (e.g. its
    /// patient), resampled as a whole in every bootstrap; nil resamples pairs.
    public init(pairs: [(name: String, layers: [LayerDifference])], method: AnalysisMethod, resamples: Int, seed: UInt64,
                level: Double = 0.95, clusters: [Int]? = nil) {
        precondition(clusters.map { $0.count == pairs.count } ?? true, "a cluster per pair")
        let first = pairs.first?.layers ?? [], names = first.map(\.layer)
        layers = names
        metrics = DifferenceMetric.compared(method, layers: first)
        pairCount = pairs.count
        (self.resamples, self.seed, self.level) = (resamples, seed, level)
        clusterCount = clusters.map { Set($0).count }
        leftOut = LeftOutPair.find(in: pairs, metrics: DifferenceMetric.reported(method, layers: first))
        guard !pairs.isEmpty else { (summaries, rankings, lesion) = ([:], [:], nil); return }
        precondition(pairs.allSatisfy { $0.layers.map(\.layer) == names }, "every pair has the same layers")
        let draws = BootstrapDraws(resamples: resamples, seed: seed, level: level, clusters: clusters)
        var summaries: [DifferenceMetric: [MetricSummary?]] = [:], rankings: [DifferenceMetric: [RankedLayer]] = [:]
        for metric in metrics {
            let values = names.indices.map { layer in pairs.map { $0.layers[layer].value(of: metric) } }
            summaries[metric] = values.map(draws.summary)
            rankings[metric] = draws.ranking(layers: names, values: values)
        }
        (self.summaries, self.rankings) = (summaries, rankings)
        lesion = first.first?.lesion == nil ? nil : LesionStatistics(pairs: pairs, draws: draws)
    }

    /// "95 %": the confidence level in words.
    public var levelText: String { String(format: "%g %%", 100 * level) }

    /// The layers where `metric` is undefined for every pair (so they are not ranked).
    public func unrankedLayers(_ metric: DifferenceMetric) -> [String] {
        zip(layers, summaries[metric] ?? []).filter { $0.1 == nil }.map(\.0)
    }
}

/// A pair with a metric undefined at some of its layers: left out of those layers' aggregates, and named.
public struct LeftOutPair: Equatable, Sendable {
    public let pair: String
    public let reason: UndefinedReason
    public let metrics: [DifferenceMetric]
    /// In layer order.
    public let layers: [String]
    public let everyLayer: Bool

    /// "case_7: lesion_energy_fraction, lesion_enrichment undefined at every layer, left out of their aggregates:
    /// identical images (…)"
    public var description: String {
        "\(pair): \(metrics.map(\.rawValue).joined(separator: ", ")) undefined \(whereText), "
            + "left out of \(metrics.count == 1 ? "its" : "their") aggregates: \(reason.rawValue)"
    }

    public var whereText: String { everyLayer ? "at every layer" : "at \(layers.joined(separator: ", "))" }

    /// One entry per pair and (reason, layers), metrics in `metrics` order.
    static func find(in pairs: [(name: String, layers: [LayerDifference])], metrics: [DifferenceMetric]) -> [LeftOutPair] {
        pairs.flatMap { pair -> [LeftOutPair] in
            var groups: [(reason: UndefinedReason, layers: [Int], metrics: [DifferenceMetric])] = []
            for metric in metrics {
                var byReason: [(reason: UndefinedReason, layers: [Int])] = []
                for index in pair.layers.indices {
                    guard let reason = pair.layers.undefinedReason(of: metric, at: index) else { continue }
                    if let at = byReason.firstIndex(where: { $0.reason == reason }) { byReason[at].layers.append(index) }
                    else { byReason.append((reason, [index])) }
                }
                for (reason, layers) in byReason {
                    if let at = groups.firstIndex(where: { $0.reason == reason && $0.layers == layers }) { groups[at].metrics.append(metric) }
                    else { groups.append((reason, layers, [metric])) }
                }
            }
            return groups.map { group in
                LeftOutPair(pair: pair.name, reason: group.reason, metrics: group.metrics,
                            layers: group.layers.map { pair.layers[$0].layer }, everyLayer: group.layers.count == pair.layers.count)
            }
        }
    }
}
