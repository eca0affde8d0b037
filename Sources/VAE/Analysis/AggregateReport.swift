import Foundation

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

/// The folder-wide files: aggregated_results.json, aggregated_differences.png and pair_metrics.csv.
public enum AggregateReport {
    public static let resultsFile = "aggregated_results.json"
    public static let plotFile = "aggregated_differences.png"
    public static let csvFile = "pair_metrics.csv"

    @discardableResult
    public static func write(pairs: [(name: String, layers: [LayerDifference])], settings: AnalysisSettings,
                             model: AutoencoderKL, to directory: String) throws -> [String] {
        let path = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        let aggregates = aggregateLayers(pairs.map(\.layers))
        try writeFileAtomically(resultsJSON(pairNames: pairs.map(\.name), aggregates: aggregates, settings: settings,
                                            model: model).text, to: path(resultsFile))
        try writeFileAtomically(pairMetricsCSV(pairs, method: settings.method), to: path(csvFile))
        try writeBarChart(path: path(plotFile), title: "Decoder layer differences: mean ± std over \(pairs.count) pairs",
                          labels: aggregates.map(\.layer),
                          series: aggregates.reportedMetrics(settings.method).map { metric in
                              let means = aggregates.map { $0.mean[metric]! }
                              return BarSeries(name: "\(metric.rawValue) (mean)", values: means,
                                               errors: aggregates.map { $0.std[metric]! },
                                               highlight: Set(largestIndices(means, count: AnalysisReport.topCount)))
                          })
        return [resultsFile, plotFile, csvFile].map(path)
    }

    /// `{"pairs": […], <settings>, "layers": {"<layer>": {"l2_mean", "l2_std", …, "n"}, …}, "top5": …}`,
    /// layers in decoder order, only the method's metrics.
    public static func resultsJSON(pairNames: [String], aggregates: [LayerAggregate], settings: AnalysisSettings,
                                   model: AutoencoderKL) -> OrderedJSON {
        let metrics = aggregates.reportedMetrics(settings.method)
        let layers = OrderedJSON.object(aggregates.map { aggregate in
            var members: [(key: String, value: OrderedJSON)] = []
            for metric in metrics {
                members.append(("\(metric.aggregateKey)_mean", .number(aggregate.mean[metric]!)))
                members.append(("\(metric.aggregateKey)_std", .number(aggregate.std[metric]!)))
            }
            return (aggregate.layer, .object(members + [("n", .integer(aggregate.n))]))
        })
        let tops = metrics.map { metric in
            (metric, topAggregates(aggregates, by: metric).map { ($0.layer, $0.mean[metric]!) })
        }
        return .object([("pairs", .array(pairNames.map(OrderedJSON.string))), ("n_pairs", .integer(pairNames.count))]
                       + settings.jsonMembers(model: model)
                       + [("layers", layers), ("top5_by_mean", AnalysisReport.topJSON(tops))])
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

    /// The terminal tables of the means (± std), one per metric of the method.
    public static func topTables(_ aggregates: [LayerAggregate], method: AnalysisMethod) -> String {
        aggregates.reportedMetrics(method).map { metric in
            AnalysisReport.topTable(metric, rows: topAggregates(aggregates, by: metric).map {
                ($0.layer, $0.mean[metric]!, $0.std[metric]!)
            })
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
