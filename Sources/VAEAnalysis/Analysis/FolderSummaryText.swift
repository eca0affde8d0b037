import Foundation

/// What `analyze-folder` prints: the ranking tables, and with masks the lesion table. Undefined numbers are
/// said in words, never printed as nan.
extension AggregateReport {
    /// Per compared metric, the top layers by mean with their CI (and n where a metric is undefined for some
    /// pairs); "≈ top" marks the layers the pairs cannot tell from the first. With masks, the lesion table.
    public static func rankingTables(_ statistics: FolderStatistics) -> String {
        let tables = statistics.metrics.map { metric in
            let rows = (statistics.rankings[metric] ?? []).prefix(AnalysisReport.topCount)
            guard !rows.isEmpty else {
                return "\(metric.rawValue): undefined for every pair at every layer, so not ranked (the pairs left out are listed above)"
            }
            let width = max(rows.map(\.layer.count).max() ?? 0, 5)
            var lines = ["TOP \(rows.count) layers with largest differences (\(metric.rawValue)): mean [bootstrap \(statistics.levelText) CI]; ≈ top = not distinguishable from the first"]
            lines += rows.enumerated().map { rank, row in
                "  \(rank + 1). " + row.layer.padding(toLength: width, withPad: " ", startingAt: 0)
                    + String(format: "  %.6g  [%.4g, %.4g]", row.summary.mean, row.summary.ciLow, row.summary.ciHigh)
                    + (row.summary.n < statistics.pairCount ? "  n \(row.summary.n)/\(statistics.pairCount)" : "")
                    + (rank > 0 && row.indistinguishableFromTop == true ? "  ≈ top" : "")
            }
            let unranked = statistics.unrankedLayers(metric)
            if !unranked.isEmpty { lines.append("  not ranked, undefined for every pair: \(unranked.joined(separator: ", "))") }
            return lines.joined(separator: "\n")
        }
        return (tables + (statistics.lesion.map { [lesionTable($0, statistics: statistics)] } ?? [])).joined(separator: "\n\n")
    }

    /// Every layer's pooled enrichment and mean of the pairs' enrichments, each with its CI and n, and the rank
    /// correlation of the pairs' enrichment with their lesion area; the lesions' area once.
    static func lesionTable(_ lesion: LesionStatistics, statistics: FolderStatistics) -> String {
        let means = statistics.summaries[.lesionEnrichment] ?? []
        let width = max(lesion.layers.map(\.layer.count).max() ?? 0, 5)
        func cell(_ value: Double?, _ low: Double?, _ high: Double?, n: Int) -> String {
            guard let value, let low, let high else { return "undefined for every pair".padding(toLength: 32, withPad: " ", startingAt: 0) }
            return String(format: "%-9.4g [%.4g, %.4g]", value, low, high).padding(toLength: 26, withPad: " ", startingAt: 0)
                + "n \(n)".padding(toLength: 6, withPad: " ", startingAt: 0)
        }
        var lines = ["LESION ENRICHMENT per layer: pooled over pairs and mean of the pairs' values [bootstrap \(statistics.levelText) CI]; "
                     + "ρ = Spearman correlation of a pair's enrichment with its lesion area"]
        if let area = lesion.areaSummary {
            lines.append(String(format: "  lesion area (context, the same at every layer): mean %.3g %% of the image, median %.3g %%, %.3g–%.3g %%, %ld pairs",
                                100 * area.mean, 100 * area.median, 100 * area.min, 100 * area.max, area.n))
        }
        lines.append("  " + "layer".padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                     + "pooled".padding(toLength: 32, withPad: " ", startingAt: 0) + "  "
                     + "mean of pairs".padding(toLength: 32, withPad: " ", startingAt: 0) + "  ρ (n)")
        for (row, mean) in zip(lesion.layers, means) {
            let rho = row.areaCorrelation.map { String(format: "%+.2f (n %ld)", $0, row.correlationN) }
                ?? "undefined: \(row.correlationUndefined ?? "no pair")"
            lines.append("  " + row.layer.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + cell(row.pooled, row.pooledCILow, row.pooledCIHigh, n: row.pooledN) + "  "
                         + cell(mean?.mean, mean?.ciLow, mean?.ciHigh, n: mean?.n ?? 0) + "  " + rho)
        }
        lines.append("  " + LesionStatistics.correlationMeaning)
        return lines.joined(separator: "\n")
    }
}
