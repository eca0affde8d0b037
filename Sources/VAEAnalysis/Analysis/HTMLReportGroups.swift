import Foundation

/// The parts of report.html about how the intervals were made and about groups of pairs (`--group_by`).
extension HTMLReport {
    /// The interval method: percentile bootstrap at the level, over pairs (paired across layers) or clusters.
    static func intervalSentence(_ statistics: FolderStatistics, settings: AnalysisSettings) -> String {
        let units = statistics.clusterCount.map { clusters in
            "the \(clusters) clusters of pairs by \(escaped(settings.clusterBy?.description ?? "cluster")) (a cluster bootstrap: a cluster's pairs are drawn together)"
        } ?? "the pairs"
        return "\(statistics.levelText) confidence intervals are percentile bootstrap intervals from \(statistics.resamples) "
            + "resamples of \(units), the same resamples for every layer (paired), seed \(statistics.seed)."
    }

    /// Per group its pairs and, per metric, each layer's mean with its interval; then every two groups compared
    /// per layer: the difference of means with its interval, the permutation p and Holm's adjusted p.
    static func groupSection(_ groups: GroupStatistics?) -> String {
        guard let groups, let first = groups.groups.first else { return "" }
        let level = first.levelText
        let sizes = zip(groups.names, groups.groups).map { name, statistics in
            "<li><b>\(escaped(name))</b>: \(statistics.pairCount) pairs" + (statistics.clusterCount.map { " in \($0) clusters" } ?? "") + "</li>"
        }
        let means = first.metrics.enumerated().map { index, metric -> String in
            let header = "<tr><th>layer</th>" + groups.names.map { "<th>\(escaped($0))<br><small>mean [\(level) CI] (n)</small></th>" }.joined() + "</tr>"
            // One number format per group column, as in every other table of the page.
            let formats = groups.groups.map { statistics in
                ColumnNumberFormat((statistics.summaries[metric] ?? []).flatMap { s in s.map { [$0.mean, $0.ciLow, $0.ciHigh] } ?? [] })
            }
            let rows = first.layers.indices.map { layer in
                "<tr><td>\(escaped(first.layers[layer]))</td>" + zip(groups.groups, formats).map { statistics, number in
                    guard let s = statistics.summaries[metric]?[layer] ?? nil else { return "<td><i>undefined</i> (0)</td>" }
                    return "<td>\(number(s.mean)) [\(number(s.ciLow)), \(number(s.ciHigh))] (\(s.n))</td>"
                }.joined() + "</tr>"
            }
            return "<details\(index == 0 ? " open" : "")><summary>\(metric.rawValue): means by group</summary><table class=\"ranking\"><thead>"
                + header + "</thead><tbody>" + rows.joined() + "</tbody></table></details>"
        }
        let comparisons = groups.comparisons.isEmpty ? ["<p>One group: nothing to compare.</p>"] : first.metrics.flatMap { metric in
            groups.comparisons.map { comparison -> String in
                let differences = (comparison.layers[metric] ?? []).compactMap { $0 }
                let number = ColumnNumberFormat(differences.map(\.difference))
                let interval = ColumnNumberFormat(differences.flatMap { [$0.ciLow, $0.ciHigh] })
                let rows = zip(first.layers, comparison.layers[metric] ?? []).map { layer, d -> String in
                    guard let d else { return "<tr><td>\(escaped(layer))</td><td colspan=\"5\"><i>undefined: a group has no pair with a value</i></td></tr>" }
                    return "<tr><td>\(escaped(layer))</td><td>\(number(d.difference))</td><td>[\(interval(d.ciLow)), \(interval(d.ciHigh))]</td>"
                        + "<td>\(d.nFirst) / \(d.nSecond)</td><td>\(String(format: "%.3g", d.p))\(d.exact ? " (exact)" : "")</td>"
                        + "<td>\(d.pHolm < 0.05 ? "<b>" : "")\(String(format: "%.3g", d.pHolm))\(d.pHolm < 0.05 ? "</b>" : "")</td></tr>"
                }
                return "<details><summary>\(metric.rawValue): \(escaped(comparison.first)) &minus; \(escaped(comparison.second))</summary>"
                    + "<table class=\"ranking\"><thead><tr><th>layer</th><th>difference of means</th><th>\(level) CI</th><th>n</th>"
                    + "<th>permutation p</th><th>Holm p</th></tr></thead><tbody>" + rows.joined() + "</tbody></table></details>"
            }
        }
        return """

            <h2 id="groups">Groups by \(escaped(groups.rule.description))</h2>
            <ul>\(sizes.joined())</ul>
            <p>Each group's statistics are over its own pairs, each metric over the pairs where it is defined (n). \
            Between groups, \(escaped(AggregateReport.comparisonMethod(groups, clustered: first.clusterCount != nil))). \
            Correction: \(escaped(GroupStatistics.correction)); Holm p below 0.05 in bold.</p>
            \(means.joined(separator: "\n"))
            \(comparisons.joined(separator: "\n"))
            """
    }
}
