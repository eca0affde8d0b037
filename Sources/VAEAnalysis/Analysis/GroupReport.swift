import Foundation
import VAECore
import VAEFormats

/// The group files and members: "groups" and "group_comparisons" in aggregated_results.json, group_summary.csv,
/// group_comparisons.csv, group_differences.png and the console table.
extension AggregateReport {
    public static let groupSummaryFile = "group_summary.csv"
    public static let groupComparisonsFile = "group_comparisons.csv"
    public static let groupPlotFile = "group_differences.png"

    /// What a comparison is, said in the JSON and the report.
    static func comparisonMethod(_ groups: GroupStatistics, clustered: Bool) -> String {
        let unit = clustered ? "clusters" : "pairs"
        return "each comparison is the difference of means mean(first) − mean(second) over the pairs where the metric is "
            + "defined in each group, with a percentile bootstrap interval resampling each group's \(unit) separately "
            + "(two-sample) and a two-sided permutation p-value from permuting the \(unit)' group labels (every split "
            + "enumerated when there are at most \(groups.permutations), else \(groups.permutations) random permutations "
            + "with p = (1 + #{|T*| ≥ |T|}) / (1 + permutations))"
    }

    static func groupsJSON(_ groups: GroupStatistics) -> [(key: String, value: JSONValue)] {
        let perGroup = JSONValue.object(zip(groups.names, groups.groups).map { name, statistics in
            let layers = JSONValue.object(statistics.layers.enumerated().map { index, layer in
                var members: [(key: String, value: JSONValue)] = []
                for metric in statistics.metrics {
                    let s = statistics.summaries[metric]?[index] ?? nil
                    let key = metric.aggregateKey
                    members += [("\(key)_mean", json(s?.mean)), ("\(key)_std", json(s?.std)), ("\(key)_n", .integer(s?.n ?? 0))]
                        + spreadMembers(key, s)
                }
                return (layer, .object(members + lesionMembers(statistics, layer: index)))
            })
            var members: [(key: String, value: JSONValue)] = [("n_pairs", .integer(statistics.pairCount))]
            if let clusters = statistics.clusterCount { members.append(("clusters", .integer(clusters))) }
            return (name, .object(members + [("layers", layers)]))
        })
        let comparisons = JSONValue.array(groups.comparisons.map { comparison in
            .object([("first", .string(comparison.first)), ("second", .string(comparison.second)),
                     ("metrics", .object(groups.groups[0].metrics.map { metric in
                         (metric.rawValue, .object(zip(groups.groups[0].layers, comparison.layers[metric] ?? []).map { layer, d in
                             (layer, d.map(differenceJSON) ?? .null)
                         }))
                     }))])
        })
        let clustered = groups.groups.first?.clusterCount != nil
        return [("groups", .object([("group_by", .string(groups.rule.description)), ("names", .array(groups.names.map(JSONValue.string))),
                                    ("pair_groups", .array(groups.pairGroups.map(JSONValue.string))), ("per_group", perGroup)])),
                ("group_comparisons", .object([("method", .string(comparisonMethod(groups, clustered: clustered))),
                                               ("correction", .string(GroupStatistics.correction)),
                                               ("permutations", .integer(groups.permutations)),
                                               ("comparisons", comparisons)]))]
    }

    static func differenceJSON(_ d: GroupDifference) -> JSONValue {
        .object([("n_first", .integer(d.nFirst)), ("n_second", .integer(d.nSecond)),
                 ("units_first", .integer(d.unitsFirst)), ("units_second", .integer(d.unitsSecond)),
                 ("mean_first", .double(d.meanFirst)), ("mean_second", .double(d.meanSecond)), ("difference", .double(d.difference)),
                 ("ci_low", .double(d.ciLow)), ("ci_high", .double(d.ciHigh)),
                 ("p", .double(d.p)), ("p_exact", .bool(d.exact)), ("p_holm", .double(d.pHolm))])
    }

    /// `group,metric,layer,n,mean,std,ci_low,ci_high,median,iqr`: each group's summary per metric and layer (decoder
    /// order); an undefined value is an empty cell.
    public static func groupSummaryCSV(_ groups: GroupStatistics) -> String {
        var lines = ["group,metric,layer,n,mean,std,ci_low,ci_high,median,iqr"]
        for (name, statistics) in zip(groups.names, groups.groups) {
            for metric in statistics.metrics {
                for (layer, s) in zip(statistics.layers, statistics.summaries[metric] ?? []) {
                    lines.append(([csvField(name), metric.rawValue, csvField(layer), "\(s?.n ?? 0)"]
                                  + [s?.mean, s?.std, s?.ciLow, s?.ciHigh, s?.median, s?.iqr].map(csvNumber)).joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `metric,layer,first,second,n_first,n_second,units_first,units_second,mean_first,mean_second,difference,ci_low,
    /// ci_high,p,p_exact,p_holm`: every comparison per metric and layer; empty cells where a group has no value.
    public static func groupComparisonsCSV(_ groups: GroupStatistics) -> String {
        var lines = ["metric,layer,first,second,n_first,n_second,units_first,units_second,mean_first,mean_second,difference,"
                     + "ci_low,ci_high,p,p_exact,p_holm"]
        for metric in groups.groups.first?.metrics ?? [] {
            for comparison in groups.comparisons {
                for (layer, d) in zip(groups.groups[0].layers, comparison.layers[metric] ?? []) {
                    let counts = [d?.nFirst, d?.nSecond, d?.unitsFirst, d?.unitsSecond].map { $0.map { "\($0)" } ?? "" }
                    lines.append(([metric.rawValue, csvField(layer), csvField(comparison.first), csvField(comparison.second)] + counts
                                  + [d?.meanFirst, d?.meanSecond, d?.difference, d?.ciLow, d?.ciHigh, d?.p].map(csvNumber)
                                  + [d.map { $0.exact ? "true" : "false" } ?? "", csvNumber(d?.pHolm)]).joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Per metric: each group's means with their intervals, then each comparison's difference with its interval,
    /// the layers with a Holm-adjusted p below 0.05 highlighted (the title says so and gives the level).
    static func groupPlotSeries(_ groups: GroupStatistics) -> [BarSeries] {
         (groups.groups.first?.metrics ?? []).flatMap { metric -> [BarSeries] in
            let means = zip(groups.names, groups.groups).map { name, statistics -> BarSeries in
                let summaries = statistics.summaries[metric] ?? []
                return BarSeries(name: "\(metric.rawValue) in \(name) (\(statistics.pairCount) pairs)",
                                 values: summaries.map { $0?.mean ?? .nan }, highlight: [],
                                 intervals: summaries.map { BarInterval(low: $0?.ciLow ?? .nan, high: $0?.ciHigh ?? .nan) })
            }
            let differences = groups.comparisons.map { comparison -> BarSeries in
                let rows = comparison.layers[metric] ?? []
                return BarSeries(name: "\(metric.rawValue): \(comparison.first) − \(comparison.second)",
                                 values: rows.map { $0?.difference ?? .nan },
                                 highlight: Set(rows.indices.filter { (rows[$0]?.pHolm ?? 1) < 0.05 }),
                                 intervals: rows.map { BarInterval(low: $0?.ciLow ?? .nan, high: $0?.ciHigh ?? .nan) })
            }
            return means + differences
        }
    }

    /// The groups' sizes, and per metric and comparison the layers with the smallest Holm-adjusted p.
    public static func groupTables(_ groups: GroupStatistics) -> String {
        let sizes = zip(groups.names, groups.groups).map { "\($0) \($1.pairCount) pairs" + ($1.clusterCount.map { " in \($0) clusters" } ?? "") }
        var lines = ["GROUPS by \(groups.rule.description): " + sizes.joined(separator: ", ")]
        guard !groups.comparisons.isEmpty else {
            return (lines + ["  one group: nothing to compare"]).joined(separator: "\n")
        }
        let level = Int((100 * (groups.groups[0].level)).rounded())
        lines.append("  mean(first) − mean(second) [\(level) % bootstrap CI], permutation p and Holm-adjusted p (per metric over every layer and pair of groups); the \(AnalysisReport.topCount) layers with the smallest p")
        for metric in groups.groups[0].metrics {
            for comparison in groups.comparisons {
                let rows = zip(groups.groups[0].layers, comparison.layers[metric] ?? []).compactMap { layer, d in d.map { (layer, $0) } }
                lines.append("  \(metric.rawValue), \(comparison.first) − \(comparison.second):")
                guard !rows.isEmpty else { lines.append("    undefined at every layer (a group has no pair with a value)"); continue }
                let width = max(rows.map(\.0.count).max() ?? 0, 5)
                for (layer, d) in rows.sorted(by: { $0.1.p < $1.1.p }).prefix(AnalysisReport.topCount) {
                    lines.append("    " + layer.padding(toLength: width, withPad: " ", startingAt: 0)
                                 + String(format: "  %+.4g [%.4g, %.4g]  p %.3g  Holm %.3g", d.difference, d.ciLow, d.ciHigh, d.p, d.pHolm)
                                 + (d.nFirst + d.nSecond < groups.pairGroups.count ? "  n \(d.nFirst)+\(d.nSecond)" : ""))
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}
