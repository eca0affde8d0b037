import VAECore
import VAEFormats

extension AggregateReport {
    /// `{"pairs": […], <settings>, "layers": {"<layer>": {"l2_mean", "l2_std", "l2_n", …, "n"}, …}, "top5_by_mean": …}`,
    /// layers in decoder order, the compared metrics only; each metric over the `_n` pairs where it is defined
    /// (null where none is). With `statistics`, each metric also gets `_ci_low`, `_ci_high` (bootstrap of the
    /// mean at `bootstrap.ci_level`), `_median` and `_iqr`, each layer with masks the pooled enrichment and its
    /// correlation with lesion area, and the file "bootstrap" (its method and settings), a "ranking" per metric,
    /// each pair's lesion area and the pairs left out of a metric; with `groups`, "groups" and "group_comparisons".
    public static func resultsJSON(pairNames: [String], aggregates: [LayerAggregate], statistics: FolderStatistics? = nil,
                                   groups: GroupStatistics? = nil, settings: AnalysisSettings, model: AutoencoderKL) -> JSONValue {
        let metrics = aggregates.comparedMetrics(settings.method)
        let layers = JSONValue.object(aggregates.enumerated().map { index, aggregate in
            var members: [(key: String, value: JSONValue)] = []
            for metric in metrics {
                let key = metric.aggregateKey
                members += [("\(key)_mean", json(aggregate.mean[metric])), ("\(key)_std", json(aggregate.std[metric])),
                            ("\(key)_n", .integer(aggregate.counts[metric] ?? 0))]
                if let summaries = statistics?.summaries[metric] { members += spreadMembers(key, summaries[index]) }
            }
            if let statistics { members += lesionMembers(statistics, layer: index) }
            return (aggregate.layer, .object(members + [("n", .integer(aggregate.n))]))
        })
        let tops = metrics.map { metric in
            (metric, topAggregates(aggregates, by: metric).map { ($0.layer, $0.mean[metric]!) })
        }
        var extra: [(key: String, value: JSONValue)] = []
        if let statistics {
            extra = [("bootstrap", bootstrapJSON(statistics, settings: settings)),
                     ("ranking", .object(statistics.metrics.map { metric in
                         (metric.rawValue, .array((statistics.rankings[metric] ?? []).map { row in
                             .object([("layer", .string(row.layer)), ("n", .integer(row.summary.n)), ("mean", .double(row.summary.mean)),
                                      ("ci_low", .double(row.summary.ciLow)), ("ci_high", .double(row.summary.ciHigh)),
                                      ("indistinguishable_from_top", row.indistinguishableFromTop.map(JSONValue.bool) ?? .null)])
                         }))
                     }))]
            if let lesion = statistics.lesion { extra.append(("lesion_area_fraction", areaJSON(lesion))) }
            extra.append(("left_out", .array(statistics.leftOut.map { left in
                .object([("pair", .string(left.pair)), ("metrics", .array(left.metrics.map { .string($0.rawValue) })),
                         ("every_layer", .bool(left.everyLayer)), ("layers", .array(left.layers.map(JSONValue.string))),
                         ("reason", .string(left.reason.rawValue))])
            })))
        }
        if let groups { extra += groupsJSON(groups) }
        return .object([("pairs", .array(pairNames.map(JSONValue.string))), ("n_pairs", .integer(pairNames.count))]
                       + settings.jsonMembers(model: model)
                       + [("layers", layers), ("top5_by_mean", AnalysisReport.topJSON(tops))] + extra)
    }

    /// How every interval was made: a percentile bootstrap resampling pairs (paired across layers: the same draws
    /// for every layer), or clusters of pairs; the level, resamples and seed as numbers.
    static func bootstrapJSON(_ statistics: FolderStatistics, settings: AnalysisSettings) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("method", .string("percentile")),
            ("resampling", .string(statistics.clusterCount == nil ? "pairs" : "clusters")),
            ("paired_across_layers", .bool(true)),
            ("ci_level", .double(statistics.level)), ("resamples", .integer(statistics.resamples)),
            ("seed", .number("\(statistics.seed)")),
        ]
        if let clusters = statistics.clusterCount, let rule = settings.clusterBy {
            members += [("cluster_by", .string(rule.description)), ("clusters", .integer(clusters))]
        }
        return .object(members)
    }

    /// `_ci_low`, `_ci_high`, `_median`, `_iqr` of one metric at one layer (null where undefined).
    static func spreadMembers(_ key: String, _ s: MetricSummary?) -> [(key: String, value: JSONValue)] {
        [("\(key)_ci_low", json(s?.ciLow)), ("\(key)_ci_high", json(s?.ciHigh)), ("\(key)_median", json(s?.median)),
         ("\(key)_iqr", json(s?.iqr))]
    }

    /// With masks: the layer's pooled enrichment with its interval and n, and its correlation with lesion area.
    static func lesionMembers(_ statistics: FolderStatistics, layer index: Int) -> [(key: String, value: JSONValue)] {
        guard let lesion = statistics.lesion?.layers[index] else { return [] }
        return [("lesion_enrichment_pooled", json(lesion.pooled)),
                ("lesion_enrichment_pooled_ci_low", json(lesion.pooledCILow)),
                ("lesion_enrichment_pooled_ci_high", json(lesion.pooledCIHigh)),
                ("lesion_enrichment_pooled_n", .integer(lesion.pooledN)),
                ("lesion_enrichment_area_spearman", json(lesion.areaCorrelation)),
                ("lesion_enrichment_area_spearman_n", .integer(lesion.correlationN))]
    }

    /// Each pair's lesion area once (the same at every layer), and its spread over the folder.
    static func areaJSON(_ lesion: LesionStatistics) -> JSONValue {
        let summary = lesion.areaSummary
        return .object([("about", .string("each pair's mask share of the image at img_size: context for the lesion metrics, not compared between layers")),
                        ("n", .integer(summary?.n ?? 0)), ("mean", json(summary?.mean)), ("median", json(summary?.median)),
                        ("min", json(summary?.min)), ("max", json(summary?.max)),
                        ("pairs", .object(lesion.pairAreas.map { ($0.name, json($0.area)) }))])
    }

    /// A value, or null where it is undefined.
    static func json(_ value: Double?) -> JSONValue { value.map(JSONValue.double) ?? .null }
}
