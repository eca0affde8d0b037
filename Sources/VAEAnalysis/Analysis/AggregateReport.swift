import Foundation
import VAECore
import VAEFormats

/// One layer's metrics over a folder's pairs: per metric, the number of pairs where it is defined and their
/// mean and standard deviation (ddof 0, numpy's default); a metric undefined for every pair has no mean or std.
public struct LayerAggregate: Equatable, Sendable {
    public let layer: String
    /// The pairs.
    public let n: Int
    /// Per metric, the pairs where it is defined.
    public let counts: [DifferenceMetric: Int]
    public let mean: [DifferenceMetric: Double]
    public let std: [DifferenceMetric: Double]
    /// Whether the pairs had masks (the lesion metrics are then recorded).
    public let masked: Bool
}

extension Array where Element == LayerAggregate {
    /// The metrics the folder compares: the method's, and the lesion metrics but the area when the pairs had masks.
    func comparedMetrics(_ method: AnalysisMethod) -> [DifferenceMetric] {
        DifferenceMetric.compared(method, masked: first?.masked ?? false)
    }
}

/// Mean and std per layer over `pairs` (each pair's layers in decoder order), each metric over the pairs where
/// it is defined. Sums run in the given pair order, so the same pairs give the same numbers however they were
/// spread over ranks.
public func aggregateLayers(_ pairs: [[LayerDifference]]) -> [LayerAggregate] {
    guard let first = pairs.first else { return [] }
    precondition(pairs.allSatisfy { $0.map(\.layer) == first.map(\.layer) }, "every pair has the decoder's layers")
    return first.indices.map { index in
        var counts: [DifferenceMetric: Int] = [:], mean: [DifferenceMetric: Double] = [:], std: [DifferenceMetric: Double] = [:]
        for metric in DifferenceMetric.allCases {
            let values = pairs.compactMap { $0[index].value(of: metric) }
            counts[metric] = values.count
            guard !values.isEmpty else { continue }
            let n = Double(values.count), m = values.reduce(0, +) / n
            mean[metric] = m
            std[metric] = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n).squareRoot()
        }
        return LayerAggregate(layer: first[index].layer, n: pairs.count, counts: counts, mean: mean, std: std,
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

/// The folder-wide files: aggregated_results.json, aggregated_differences.png, pair_metrics.csv,
/// layer_ranking.csv and, with masks, lesion_enrichment.csv.
public enum AggregateReport {
    public static let resultsFile = "aggregated_results.json"
    public static let plotFile = "aggregated_differences.png"
    public static let csvFile = "pair_metrics.csv"
    public static let rankingFile = "layer_ranking.csv"
    public static let lesionFile = "lesion_enrichment.csv"

    @discardableResult
    public static func write(pairs: [(name: String, layers: [LayerDifference])], statistics: FolderStatistics,
                             settings: AnalysisSettings, model: AutoencoderKL, to directory: String) throws -> [String] {
        let path = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        let aggregates = aggregateLayers(pairs.map(\.layers))
        try writeFileAtomically(resultsJSON(pairNames: pairs.map(\.name), aggregates: aggregates, statistics: statistics,
                                            settings: settings, model: model).text, to: path(resultsFile))
        try writeFileAtomically(pairMetricsCSV(pairs, method: settings.method), to: path(csvFile))
        try writeFileAtomically(rankingCSV(statistics), to: path(rankingFile))
        var files = [resultsFile, plotFile, csvFile, rankingFile]
        if let lesion = statistics.lesion {
            try writeFileAtomically(lesionCSV(lesion, statistics: statistics), to: path(lesionFile))
            files.append(lesionFile)
        }
        try writeBarChart(path: path(plotFile),
                          title: "Layer differences: mean and bootstrap 95 % CI over \(pairs.count) pairs",
                          labels: pairs[0].layers.map(\.labelWithResolution), series: plotSeries(statistics),
                          legend: BarLegend(highlighted: topBarsLegend.highlighted, others: topBarsLegend.others,
                                            whiskers: "bootstrap 95 % CI of the mean"))
        return files.map(path) + [figurePDFPath(path(plotFile))]
    }

    /// A panel per compared metric (means, CIs, the top 5 highlighted; no bar where undefined for every pair),
    /// and with masks the pooled enrichment after the per-pair mean's.
    static func plotSeries(_ statistics: FolderStatistics) -> [BarSeries] {
        func series(_ name: String, _ unit: String, _ values: [Double?], _ intervals: [BarInterval]) -> BarSeries {
            let shown = values.map { $0 ?? .nan }
            let defined = shown.indices.filter { shown[$0].isFinite }
            return BarSeries(name: values.allSatisfy { $0 == nil } ? "\(name) (undefined for every pair)" : name, values: shown,
                             highlight: Set(largestIndices(defined.map { shown[$0] }, count: AnalysisReport.topCount).map { defined[$0] }),
                             intervals: intervals, axisLabel: unit)
        }
        return statistics.metrics.flatMap { metric -> [BarSeries] in
            let summaries = statistics.summaries[metric] ?? []
            let counts = Set(summaries.compactMap { $0?.n })
            let over = counts.count == 1 && counts.first != statistics.pairCount ? ", \(counts.first!) of \(statistics.pairCount) pairs"
                : counts.count > 1 ? ", over the pairs where defined" : ""
            var panels = [series("\(metric.title): mean\(over)", metric.unit, summaries.map { $0?.mean },
                                 summaries.map { BarInterval(low: $0?.ciLow ?? .nan, high: $0?.ciHigh ?? .nan) })]
            if metric == .lesionEnrichment, let lesion = statistics.lesion {
                panels.append(series("\(metric.title): pooled over the pairs", metric.unit, lesion.layers.map(\.pooled),
                                     lesion.layers.map { BarInterval(low: $0.pooledCILow ?? .nan, high: $0.pooledCIHigh ?? .nan) }))
            }
            return panels
        }
    }

    /// `metric,rank,layer,n,mean,ci95_low,ci95_high,median,iqr,indistinguishable_from_top`, each metric's layers
    /// by decreasing mean over the n pairs where it is defined (layers where no pair has it are not ranked).
    public static func rankingCSV(_ statistics: FolderStatistics) -> String {
        var lines = ["metric,rank,layer,n,mean,ci95_low,ci95_high,median,iqr,indistinguishable_from_top"]
        for metric in statistics.metrics {
            for (rank, row) in (statistics.rankings[metric] ?? []).enumerated() {
                let s = row.summary
                lines.append(([metric.rawValue, "\(rank + 1)", csvField(row.layer), "\(s.n)"]
                              + [s.mean, s.ciLow, s.ciHigh, s.median, s.iqr].map(csvNumber)
                              + [row.indistinguishableFromTop.map { $0 ? "true" : "false" } ?? ""]).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Per layer in decoder order: the pooled enrichment with its CI and n, the mean of the pairs' enrichments
    /// with its CI and n, and Spearman's ρ of the pairs' enrichment with their lesion area and its n.
    public static func lesionCSV(_ lesion: LesionStatistics, statistics: FolderStatistics) -> String {
        var lines = ["layer,pooled_enrichment,pooled_ci95_low,pooled_ci95_high,pooled_n,mean_enrichment,mean_ci95_low,"
                     + "mean_ci95_high,mean_n,spearman_rho_enrichment_area,spearman_n"]
        for (row, mean) in zip(lesion.layers, statistics.summaries[.lesionEnrichment] ?? []) {
            lines.append(([csvField(row.layer)] + [row.pooled, row.pooledCILow, row.pooledCIHigh].map(csvNumber) + ["\(row.pooledN)"]
                          + [mean?.mean, mean?.ciLow, mean?.ciHigh].map(csvNumber) + ["\(mean?.n ?? 0)"]
                          + [csvNumber(row.areaCorrelation), "\(row.correlationN)"]).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One row per pair and layer, pairs in name order and layers in decoder order, for pandas or R; an
    /// undefined value is an empty cell (NaN in pandas, NA in R).
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

    /// The layers with the largest means of `metric`, largest first; layers where it is undefined never.
    static func topAggregates(_ aggregates: [LayerAggregate], by metric: DifferenceMetric) -> [LayerAggregate] {
        let defined = aggregates.filter { $0.mean[metric] != nil }
        return largestIndices(defined.map { $0.mean[metric]! }, count: AnalysisReport.topCount).map { defined[$0] }
    }

    /// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
    static func csvField(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Round-trip digits; undefined (nil or NaN) as an empty cell and ±∞ in the spelling pandas and R both read.
    static func csvNumber(_ d: Double?) -> String {
        guard let d, !d.isNaN else { return "" }
        if d.isInfinite { return d > 0 ? "Inf" : "-Inf" }
        return "\(d)"
    }
}
