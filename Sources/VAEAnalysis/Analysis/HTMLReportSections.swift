import Foundation

/// The parts of report.html about what the statistics rest on: the lesions' area (context), the pairs left out
/// of a metric, and the lesion statistics per layer.
extension HTMLReport {
    /// The lesions' area once for the folder (each pair's is in the pair table).
    static func areaParagraph(_ statistics: FolderStatistics) -> String {
        guard let area = statistics.lesion?.areaSummary else { return "" }
        return "<p>Lesion area (context for the lesion metrics, the same at every layer, so not compared between layers): "
            + "mean \(percent(area.mean)) of the image, median \(percent(area.median)), \(percent(area.min))–\(percent(area.max)), "
            + "\(area.n) pairs.</p>"
    }

    /// Each pair with an undefined value, which metrics at which layers and why; nothing when every value is defined.
    static func leftOutSection(_ statistics: FolderStatistics) -> String {
        guard !statistics.leftOut.isEmpty else { return "" }
        let items = statistics.leftOut.map { left in
            "<li><b>\(escaped(left.pair))</b>: \(left.metrics.map(\.rawValue).joined(separator: ", ")) undefined "
                + "\(escaped(left.whereText)), left out of \(left.metrics.count == 1 ? "its" : "their") aggregates: "
                + "\(escaped(left.reason.rawValue))</li>"
        }
        return "\n<h2 id=\"left-out\">Pairs left out of a metric</h2>\n<p>An undefined value (such as a share of no difference, "
            + "0/0) is recorded as undefined (null in JSON, an empty cell in CSV) and every aggregate is over the pairs "
            + "where the metric is defined (n).</p>\n<ul>" + items.joined(separator: "\n") + "</ul>"
    }

    /// Per layer: the pooled enrichment and the mean of the pairs' enrichments, each with its CI and n, and the
    /// rank correlation of the pairs' enrichment with their lesion area, with what that correlation means.
    static func lesionSection(_ statistics: FolderStatistics) -> String {
        guard let lesion = statistics.lesion else { return "" }
        let means = statistics.summaries[.lesionEnrichment] ?? []
        // One number format per column.
        let pooled = ColumnNumberFormat(lesion.layers.compactMap(\.pooled))
        let pooledCI = ColumnNumberFormat(lesion.layers.flatMap { [$0.pooledCILow, $0.pooledCIHigh].compactMap { $0 } })
        let mean = ColumnNumberFormat(means.compactMap { $0?.mean })
        let meanCI = ColumnNumberFormat(means.flatMap { [$0?.ciLow, $0?.ciHigh].compactMap { $0 } })
        func cells(_ value: Double?, _ low: Double?, _ high: Double?, n: Int, _ format: ColumnNumberFormat,
                   _ ci: ColumnNumberFormat) -> String {
            guard let value, let low, let high else { return "<td colspan=\"3\"><i>undefined for every pair</i></td>" }
            return "<td>\(format(value))</td><td>[\(ci(low)), \(ci(high))]</td><td>\(n)</td>"
        }
        let rows = zip(lesion.layers, means).map { row, summary in
            "<tr><td>\(escaped(row.layer))</td>" + cells(row.pooled, row.pooledCILow, row.pooledCIHigh, n: row.pooledN, pooled, pooledCI)
                + cells(summary?.mean, summary?.ciLow, summary?.ciHigh, n: summary?.n ?? 0, mean, meanCI)
                + (row.areaCorrelation.map { "<td>\(String(format: "%+.2f", $0))</td>" }
                   ?? "<td title=\"\(escaped(row.correlationUndefined ?? ""))\"><i>undefined</i></td>")
                + "<td>\(row.correlationN)</td></tr>"
        }
        return """
            <h2>Lesion enrichment</h2>
            <p>Pooled enrichment = (&Sigma; energy inside the masks / &Sigma; energy) / (&Sigma; lesion area / &Sigma; area), \
            summed over the pairs where the difference energy is non-zero; its 95 % CI resamples those pairs. The mean of \
            the pairs' enrichments is beside it. \(escaped(LesionStatistics.correlationMeaning))</p>
            <div class="scroll"><table class="ranking"><thead><tr><th>layer</th><th>pooled</th><th>95 % CI</th><th>n</th>\
            <th>mean of pairs</th><th>95 % CI</th><th>n</th><th>&rho; (enrichment, area)</th><th>n</th></tr></thead><tbody>
            \(rows.joined(separator: "\n"))
            </tbody></table></div>
            """
    }

    private static func percent(_ fraction: Double) -> String { String(format: "%.3g %%", 100 * fraction) }
}
