import VAECore
import VAEFormats

extension AggregateReport {
    /// `{"pairs": […], <settings>, "layers": {"<layer>": {"l2_mean", "l2_std", "l2_n", …, "n"}, …}, "top5_by_mean": …}`,
    /// layers in decoder order, the compared metrics only; each metric over the `_n` pairs where it is defined
    /// (null where none is). With `statistics`, each metric also gets `_ci95_low`, `_ci95_high` (bootstrap of the
    /// mean), `_median` and `_iqr`, each layer with masks the pooled enrichment and its correlation with lesion
    /// area, and the file a "ranking" per metric, each pair's lesion area and the pairs left out of a metric.
    public static func resultsJSON(pairNames: [String], aggregates: [LayerAggregate], statistics: FolderStatistics? = nil,
                                   settings: AnalysisSettings, model: AutoencoderKL) -> JSONValue {
        let metrics = aggregates.comparedMetrics(settings.method)
        let layers = JSONValue.object(aggregates.enumerated().map { index, aggregate in
            var members: [(key: String, value: JSONValue)] = []
            for metric in metrics {
                let key = metric.aggregateKey
                members += [("\(key)_mean", json(aggregate.mean[metric])), ("\(key)_std", json(aggregate.std[metric])),
                            ("\(key)_n", .integer(aggregate.counts[metric] ?? 0))]
                if let summaries = statistics?.summaries[metric] {
                    let s = summaries[index]
                    members += [("\(key)_ci95_low", json(s?.ciLow)), ("\(key)_ci95_high", json(s?.ciHigh)),
                                ("\(key)_median", json(s?.median)), ("\(key)_iqr", json(s?.iqr))]
                }
            }
            if let lesion = statistics?.lesion?.layers[index] {
                members += [("lesion_enrichment_pooled", json(lesion.pooled)),
                            ("lesion_enrichment_pooled_ci95_low", json(lesion.pooledCILow)),
                            ("lesion_enrichment_pooled_ci95_high", json(lesion.pooledCIHigh)),
                            ("lesion_enrichment_pooled_n", .integer(lesion.pooledN)),
                            ("lesion_enrichment_area_spearman", json(lesion.areaCorrelation)),
                            ("lesion_enrichment_area_spearman_n", .integer(lesion.correlationN))]
            }
            return (aggregate.layer, .object(members + [("n", .integer(aggregate.n))]))
        })
        let tops = metrics.map { metric in
            (metric, topAggregates(aggregates, by: metric).map { ($0.layer, $0.mean[metric]!) })
        }
        var extra: [(key: String, value: JSONValue)] = []
        if let statistics {
            extra = [("bootstrap", .object([("resamples", .integer(statistics.resamples)),
                                            ("seed", .string("\(statistics.seed)")), ("confidence", .double(0.95))])),
                     ("ranking", .object(statistics.metrics.map { metric in
                         (metric.rawValue, .array((statistics.rankings[metric] ?? []).map { row in
                             .object([("layer", .string(row.layer)), ("n", .integer(row.summary.n)), ("mean", .double(row.summary.mean)),
                                      ("ci95_low", .double(row.summary.ciLow)), ("ci95_high", .double(row.summary.ciHigh)),
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
        return .object([("pairs", .array(pairNames.map(JSONValue.string))), ("n_pairs", .integer(pairNames.count))]
                       + settings.jsonMembers(model: model)
                       + [("layers", layers), ("top5_by_mean", AnalysisReport.topJSON(tops))] + extra)
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
