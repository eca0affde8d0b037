import Foundation
import VAECore
import VAEFormats

/// One layer's metrics over all pairs of a folder: mean and standard deviation (ddof 0, numpy's default).
public struct LayerAggregate: Equatable, Sendable {
    public let layer: String
    public let n: Int
    public let mean: [DifferenceMetric: Double]
    public let std: [DifferenceMetric: Double]
    /// Whether the pairs had masks (the lesion metrics are then defined).
    public let masked: Bool
}

extension Array where Element == LayerAggregate {
    /// The metrics the folder reports: the method's, and the lesion metrics when the pairs had masks.
    func reportedMetrics(_ method: AnalysisMethod) -> [DifferenceMetric] {
        DifferenceMetric.reported(method, masked: first?.masked ?? false)
    }
}

/// Mean and std per layer over `pairs` (each pair's layers in decoder order). Sums run in the given pair order,
/// so the same pairs give the same numbers however they were spread over ranks.
public func aggregateLayers(_ pairs: [[LayerDifference]]) -> [LayerAggregate] {
    guard let first = pairs.first else { return [] }
    precondition(pairs.allSatisfy { $0.map(\.layer) == first.map(\.layer) }, "every pair has the decoder's layers")
    let n = Double(pairs.count)
    return first.indices.map { index in
        var mean: [DifferenceMetric: Double] = [:], std: [DifferenceMetric: Double] = [:]
        for metric in DifferenceMetric.allCases {
            let values = pairs.map { $0[index].value(of: metric) }
            let m = values.reduce(0, +) / n
            mean[metric] = m
            std[metric] = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n).squareRoot()
        }
        return LayerAggregate(layer: first[index].layer, n: pairs.count, mean: mean, std: std,
                              masked: first[index].lesion != nil)
    }
}

extension DifferenceMetric {
    /// The prefix of the aggregate keys: l2_mean, l2_per_element_std, cosine_mean, lesion_enrichment_mean, …
    var aggregateKey: String {
        switch self {
        case .l2Value: return "l2"
        case .cosineValue: return "cosine"
        default: return rawValue
        }
    }
}

/// The folder-wide files: aggregated_results.json, aggregated_differences.png, pair_metrics.csv and
/// layer_ranking.csv.
public enum AggregateReport {
    public static let resultsFile = "aggregated_results.json"
    public static let plotFile = "aggregated_differences.png"
    public static let csvFile = "pair_metrics.csv"
    public static let rankingFile = "layer_ranking.csv"

    @discardableResult
    public static func write(pairs: [(name: String, layers: [LayerDifference])], statistics: FolderStatistics,
                             settings: AnalysisSettings, model: AutoencoderKL, to directory: String) throws -> [String] {
        let path = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        let aggregates = aggregateLayers(pairs.map(\.layers))
        try writeFileAtomically(resultsJSON(pairNames: pairs.map(\.name), aggregates: aggregates, statistics: statistics,
                                            settings: settings, model: model).text, to: path(resultsFile))
        try writeFileAtomically(pairMetricsCSV(pairs, method: settings.method), to: path(csvFile))
        try writeFileAtomically(rankingCSV(statistics), to: path(rankingFile))
        try writeBarChart(path: path(plotFile),
                          title: "Layer differences: mean and bootstrap 95 % CI over \(pairs.count) pairs",
                          labels: aggregates.map(\.layer),
                          series: statistics.metrics.map { metric in
                              let summaries = statistics.summaries[metric] ?? []
                              let means = summaries.map(\.mean)
                              return BarSeries(name: "\(metric.rawValue) (mean)", values: means,
                                               highlight: Set(largestIndices(means, count: AnalysisReport.topCount)),
                                               intervals: summaries.map { BarInterval(low: $0.ciLow, high: $0.ciHigh) })
                          })
        return [resultsFile, plotFile, csvFile, rankingFile].map(path)
    }

    /// `metric,rank,layer,mean,ci95_low,ci95_high,median,iqr,indistinguishable_from_top`, each metric's layers
    /// by decreasing mean.
    public static func rankingCSV(_ statistics: FolderStatistics) -> String {
        var lines = ["metric,rank,layer,mean,ci95_low,ci95_high,median,iqr,indistinguishable_from_top"]
        for metric in statistics.metrics {
            for (rank, row) in (statistics.rankings[metric] ?? []).enumerated() {
                let s = row.summary
                lines.append(([metric.rawValue, "\(rank + 1)", csvField(row.layer)]
                              + [s.mean, s.ciLow, s.ciHigh, s.median, s.iqr].map(csvNumber)
                              + [row.indistinguishableFromTop ? "true" : "false"]).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{"pairs": […], <settings>, "layers": {"<layer>": {"l2_mean", "l2_std", …, "n"}, …}, "top5": …}`,
    /// layers in decoder order, only the method's metrics.
    /// With `statistics`, each metric also gets `_ci95_low`, `_ci95_high` (bootstrap of the mean), `_median`
    /// and `_iqr`, and the file a "ranking" per metric.
    public static func resultsJSON(pairNames: [String], aggregates: [LayerAggregate], statistics: FolderStatistics? = nil,
                                   settings: AnalysisSettings, model: AutoencoderKL) -> OrderedJSON {
        let metrics = aggregates.reportedMetrics(settings.method)
        let layers = OrderedJSON.object(aggregates.enumerated().map { index, aggregate in
            var members: [(key: String, value: OrderedJSON)] = []
            for metric in metrics {
                let key = metric.aggregateKey
                members.append(("\(key)_mean", .number(aggregate.mean[metric]!)))
                members.append(("\(key)_std", .number(aggregate.std[metric]!)))
                if let s = statistics?.summaries[metric]?[index] {
                    members += [("\(key)_ci95_low", .number(s.ciLow)), ("\(key)_ci95_high", .number(s.ciHigh)),
                                ("\(key)_median", .number(s.median)), ("\(key)_iqr", .number(s.iqr))]
                }
            }
            return (aggregate.layer, .object(members + [("n", .integer(aggregate.n))]))
        })
        let tops = metrics.map { metric in
            (metric, topAggregates(aggregates, by: metric).map { ($0.layer, $0.mean[metric]!) })
        }
        var ranking: [(key: String, value: OrderedJSON)] = []
        if let statistics {
            ranking = [("bootstrap", .object([("resamples", .integer(statistics.resamples)),
                                              ("seed", .string("\(statistics.seed)")), ("confidence", .number(0.95))])),
                       ("ranking", .object(statistics.metrics.map { metric in
                           (metric.rawValue, .array((statistics.rankings[metric] ?? []).map { row in
                               .object([("layer", .string(row.layer)), ("mean", .number(row.summary.mean)),
                                        ("ci95_low", .number(row.summary.ciLow)), ("ci95_high", .number(row.summary.ciHigh)),
                                        ("indistinguishable_from_top", .bool(row.indistinguishableFromTop))])
                           }))
                       }))]
        }
        return .object([("pairs", .array(pairNames.map(OrderedJSON.string))), ("n_pairs", .integer(pairNames.count))]
                       + settings.jsonMembers(model: model)
                       + [("layers", layers), ("top5_by_mean", AnalysisReport.topJSON(tops))] + ranking)
    }

    /// One row per pair and layer, pairs in name order and layers in decoder order, for pandas or R.
    public static func pairMetricsCSV(_ pairs: [(name: String, layers: [LayerDifference])], method: AnalysisMethod) -> String {
        let metrics = DifferenceMetric.reported(method, layers: pairs.first?.layers ?? [])
        var lines = [(["pair", "layer"] + metrics.map(\.rawValue)).joined(separator: ",")]
        for pair in pairs {
            for layer in pair.layers {
                lines.append(([csvField(pair.name), csvField(layer.layer)]
                              + metrics.map { csvNumber(layer.value(of: $0)) }).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The layers with the largest means of `metric`, largest first.
    static func topAggregates(_ aggregates: [LayerAggregate], by metric: DifferenceMetric) -> [LayerAggregate] {
        largestIndices(aggregates.map { $0.mean[metric]! }, count: AnalysisReport.topCount).map { aggregates[$0] }
    }

    /// The terminal tables of the ranking: top layers by mean with their 95 % CI; "≈ top" marks the layers the
    /// pairs cannot tell from the first.
    public static func rankingTables(_ statistics: FolderStatistics) -> String {
        statistics.metrics.map { metric in
            let rows = (statistics.rankings[metric] ?? []).prefix(AnalysisReport.topCount)
            let width = max(rows.map(\.layer.count).max() ?? 0, 5)
            return (["TOP \(rows.count) layers with largest differences (\(metric.rawValue)): mean [bootstrap 95 % CI]; ≈ top = not distinguishable from the first"]
                    + rows.enumerated().map { rank, row in
                        "  \(rank + 1). " + row.layer.padding(toLength: width, withPad: " ", startingAt: 0)
                            + String(format: "  %.6g  [%.4g, %.4g]", row.summary.mean, row.summary.ciLow, row.summary.ciHigh)
                            + (rank > 0 && row.indistinguishableFromTop ? "  ≈ top" : "")
                    }).joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    /// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
    static func csvField(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Round-trip digits; non-finite values in the spelling pandas and R both read.
    static func csvNumber(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "Inf" : "-Inf" }
        return "\(d)"
    }
}
