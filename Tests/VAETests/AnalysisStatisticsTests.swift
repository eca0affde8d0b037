import Foundation
@testable import VAEAnalysis
@testable import VAECore
import XCTest

/// The folder statistics against numpy (Tests/Fixtures/statistics, from tools/make_statistics_fixtures.py): a
/// folder with a pair of identical images and a pair with no difference at one layer gives finite aggregates
/// over the defined pairs with their n, numpy's medians and quartiles, bootstrap CIs from the same draws, the
/// pooled enrichment and Spearman's ρ; and the pairs left out are named.
final class AnalysisStatisticsTests: XCTestCase {
    struct Fixture: Decodable {
        struct Layer: Decodable {
            let layer: String
            let shape: [Int]
            let l2, cosine, inside, area_fraction: Double
        }
        struct Pair: Decodable {
            let name: String
            let layers: [Layer]
        }
        struct Summary: Decodable {
            let n: Int
            let mean, std, median, q1, q3, ci95_low, ci95_high: Double
        }
        struct Pooled: Decodable {
            let value, ci95_low, ci95_high: Double
            let n: Int
        }
        struct Rho: Decodable {
            let value: Double?
            let n: Int
        }
        struct LayerExpectation: Decodable {
            let metrics: [String: Summary?]
            let pooled_enrichment: Pooled
            let spearman_enrichment_area: Rho
        }
        struct LeftOut: Decodable {
            let pair: String
            let metrics: [String]
            let layers: [String]
            let every_layer: Bool
            let reason: String
        }
        struct Expected: Decodable {
            let layers: [String: LayerExpectation]
            let left_out: [LeftOut]
        }
        let resamples: Int
        let bootstrap_seed: UInt64
        let pairs: [Pair]
        let expected: Expected
    }

    /// JSONDecoder reads the numbers exactly (JSONSerialization on Linux may not), so the inputs are the
    /// doubles numpy computed with.
    func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("statistics/statistics.json"))))
    }

    func pairs(_ fixture: Fixture) -> [(name: String, layers: [LayerDifference])] {
        fixture.pairs.map { pair in
            (pair.name, pair.layers.map {
                LayerDifference(layer: $0.layer, shape: $0.shape, l2: $0.l2, cosine: $0.cosine,
                                lesion: LesionEnergy(inside: $0.inside, areaFraction: $0.area_fraction))
            })
        }
    }

    func assertClose(_ a: Double?, _ b: Double?, _ what: String, relative: Double = 1e-12,
                     file: StaticString = #filePath, line: UInt = #line) {
        guard let a, let b else { return XCTAssertTrue(a == nil && b == nil, "\(what): \(String(describing: a)) vs \(String(describing: b))", file: file, line: line) }
        XCTAssertTrue(a.isFinite, what, file: file, line: line)
        XCTAssertEqual(a, b, accuracy: relative * max(abs(a), abs(b), 1e-300), what, file: file, line: line)
    }

    func testFolderStatisticsEqualNumpysOverTheDefinedPairs() throws {
        let fixture = try fixture()
        let pairs = pairs(fixture)
        let statistics = FolderStatistics(pairs: pairs, method: .both, resamples: fixture.resamples, seed: fixture.bootstrap_seed)
        let aggregates = aggregateLayers(pairs.map(\.layers))
        XCTAssertEqual(statistics.metrics.map(\.rawValue).sorted(), Array(try XCTUnwrap(fixture.expected.layers.first).value.metrics.keys).sorted(),
                       "every compared metric, never the lesion's area")
        XCTAssertFalse(statistics.metrics.contains(.lesionAreaFraction))
        for (index, layer) in statistics.layers.enumerated() {
            let expected = try XCTUnwrap(fixture.expected.layers[layer], layer)
            for metric in statistics.metrics {
                let what = "\(layer) \(metric.rawValue)"
                let want = try XCTUnwrap(expected.metrics[metric.rawValue] ?? nil, what)
                let got = try XCTUnwrap(statistics.summaries[metric]?[index], what)
                XCTAssertEqual(got.n, want.n, what)
                XCTAssertEqual(aggregates[index].counts[metric], want.n, what)
                assertClose(got.mean, want.mean, "\(what) mean")
                assertClose(aggregates[index].mean[metric], want.mean, "\(what) aggregate mean")
                assertClose(got.std, want.std, "\(what) std")
                assertClose(aggregates[index].std[metric], want.std, "\(what) aggregate std")
                assertClose(got.median, want.median, "\(what) median")
                assertClose(got.q1, want.q1, "\(what) q1")
                assertClose(got.q3, want.q3, "\(what) q3")
                assertClose(got.ciLow, want.ci95_low, "\(what) ci95_low")
                assertClose(got.ciHigh, want.ci95_high, "\(what) ci95_high")
            }
            let lesion = try XCTUnwrap(statistics.lesion?.layers[index])
            XCTAssertEqual(lesion.pooledN, expected.pooled_enrichment.n, layer)
            assertClose(lesion.pooled, expected.pooled_enrichment.value, "\(layer) pooled enrichment")
            assertClose(lesion.pooledCILow, expected.pooled_enrichment.ci95_low, "\(layer) pooled ci95_low")
            assertClose(lesion.pooledCIHigh, expected.pooled_enrichment.ci95_high, "\(layer) pooled ci95_high")
            XCTAssertEqual(lesion.correlationN, expected.spearman_enrichment_area.n, layer)
            assertClose(lesion.areaCorrelation, expected.spearman_enrichment_area.value, "\(layer) Spearman ρ")
        }
        // The identical pair at every layer, p09 at its silent layer: the energy shares are over 11 and 10 pairs.
        XCTAssertEqual(statistics.summaries[.lesionEnrichment]?.map { $0?.n }, [11, 10, 11])
        XCTAssertEqual(statistics.rankings[.lesionEnrichment]?.count, 3, "every layer ranked over its defined pairs")

        XCTAssertEqual(statistics.leftOut.map(\.pair), fixture.expected.left_out.map(\.pair))
        for (got, want) in zip(statistics.leftOut, fixture.expected.left_out) {
            XCTAssertEqual(got.metrics.map(\.rawValue), want.metrics, want.pair)
            XCTAssertEqual(got.layers, want.layers, want.pair)
            XCTAssertEqual(got.everyLayer, want.every_layer, want.pair)
            XCTAssertEqual(got.reason.rawValue, want.reason, want.pair)
        }
    }

    /// The files and the console say undefined in words: JSON null, empty CSV cells, the pair named, no nan.
    func testTheDegeneratePairIsRecordedAsUndefinedAndNamed() throws {
        let fixture = try fixture()
        let pairs = pairs(fixture)
        let statistics = FolderStatistics(pairs: pairs, method: .both, resamples: 50, seed: 1)
        let tables = AggregateReport.rankingTables(statistics)
        XCTAssertFalse(tables.lowercased().contains("nan"), tables)
        XCTAssertTrue(tables.contains("n 11/12"), tables)
        XCTAssertFalse(tables.contains("(lesion_area_fraction)"), "the area is context, never ranked")
        XCTAssertTrue(tables.contains("LESION ENRICHMENT per layer"), tables)
        XCTAssertEqual(statistics.leftOut[0].description,
                       "p05: lesion_energy_fraction, lesion_enrichment undefined at every layer, left out of their aggregates: identical images (no difference at any layer)")
        XCTAssertTrue(statistics.leftOut[1].description.hasPrefix("p09: lesion_energy_fraction, lesion_enrichment undefined at decoder.up.1.block.0, left out"),
                      statistics.leftOut[0].description)

        let csv = AggregateReport.pairMetricsCSV(pairs, method: .both).split(separator: "\n").map(String.init)
        let columns = csv[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let fraction = try XCTUnwrap(columns.firstIndex(of: "lesion_energy_fraction"))
        for row in csv.dropFirst() {
            let fields = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let silent = fields[0] == "p05" || (fields[0] == "p09" && fields[1] == "decoder.up.1.block.0")
            XCTAssertEqual(fields[fraction].isEmpty, silent, row)
            XCTAssertFalse(row.contains("NaN"), row)
        }
        let ranking = AggregateReport.rankingCSV(statistics)
        XCTAssertTrue(ranking.hasPrefix("metric,rank,layer,n,mean,"), ranking)
        XCTAssertFalse(ranking.contains("lesion_area_fraction"))
        let lesionCSV = AggregateReport.lesionCSV(try XCTUnwrap(statistics.lesion), statistics: statistics)
        XCTAssertTrue(lesionCSV.contains("\ndecoder.up.1.block.0,"), lesionCSV)
        XCTAssertEqual(lesionCSV.split(separator: "\n").count, 4)

        let page = HTMLReport.page(pairs: pairs, statistics: statistics, plots: [],
                                   images: pairs.map { ReportPairImages(name: $0.name, mapLayer: $0.layers[0].layer, positive: [], negative: [], mask: [], map: []) },
                                   settings: AnalysisSettings(imageSize: 32))
        XCTAssertTrue(page.contains("<li><b>p05</b>: lesion_energy_fraction, lesion_enrichment undefined at every layer, left out of their aggregates: identical images"),
                      "left out, named")
        XCTAssertTrue(page.contains("<li><b>p09</b>: lesion_energy_fraction, lesion_enrichment undefined at decoder.up.1.block.0, left out of their aggregates: no difference at this layer</li>"))
        // p05's cells at the top layers of the lesion shares say why they are empty.
        let p05 = try XCTUnwrap(page.components(separatedBy: "<tr data-pair=\"p05\">").dropFirst().first?.components(separatedBy: "</tr>").first)
        XCTAssertEqual(p05.components(separatedBy: "title=\"identical images (no difference at any layer)\"><i>undefined</i>").count - 1, 2, p05)
        XCTAssertTrue(page.contains(LesionStatistics.correlationMeaning.replacingOccurrences(of: "'", with: "&#39;")))
        let shown = try XCTUnwrap(page.components(separatedBy: "<script>").first, "the page before its sorting script")
        XCTAssertFalse(shown.lowercased().contains("nan"), "no number printed as nan")
        XCTAssertFalse(page.contains("(lesion_area_fraction)</small></summary>"), "the area is not ranked")
    }

    /// Every pair identical: the lesion shares are undefined everywhere, and everything says so.
    func testAMetricUndefinedForEveryPairIsSaidInWords() throws {
        let pairs = (0..<3).map { k in
            (name: "same\(k)", layers: ["a", "b"].map {
                LayerDifference(layer: $0, shape: [1, 2, 4, 4], l2: 0, cosine: 0, lesion: LesionEnergy(inside: 0, areaFraction: 0.25))
            })
        }
        let statistics = FolderStatistics(pairs: pairs, method: .l2, resamples: 20, seed: 2)
        XCTAssertEqual(statistics.rankings[.lesionEnrichment], [])
        XCTAssertEqual(statistics.summaries[.lesionEnrichment]?.count, 2)
        XCTAssertTrue(statistics.summaries[.lesionEnrichment]?.allSatisfy { $0 == nil } ?? false)
        XCTAssertEqual(statistics.summaries[.energyPerAreaInside]?.map { $0?.mean }, [0, 0], "zero energy inside is defined")
        XCTAssertNil(statistics.lesion?.layers[0].pooled)
        XCTAssertEqual(statistics.leftOut.count, 3)
        let tables = AggregateReport.rankingTables(statistics)
        XCTAssertTrue(tables.contains("lesion_enrichment: undefined for every pair at every layer"), tables)
        XCTAssertFalse(tables.lowercased().contains("nan"), tables)
        let json = AggregateReport.resultsJSON(pairNames: pairs.map(\.name), aggregates: aggregateLayers(pairs.map(\.layers)),
                                               statistics: statistics, settings: AnalysisSettings(method: .l2, imageSize: 4),
                                               model: AutoencoderKL(.sdV1)).text
        XCTAssertTrue(json.contains("\"lesion_enrichment_mean\": null"), json)
        XCTAssertTrue(json.contains("\"lesion_enrichment_n\": 0"), json)
        XCTAssertTrue(json.contains("\"lesion_enrichment_pooled\": null"), json)
        XCTAssertFalse(json.contains("lesion_area_fraction_mean"), "the area is not aggregated per layer")
        let enrichment = DifferenceMetric.lesionEnrichment.title
        XCTAssertEqual(AggregateReport.plotSeries(statistics).first { $0.name.hasPrefix("\(enrichment): mean") }?.name,
                       "\(enrichment): mean (undefined for every pair)")
    }

    func testAverageRanksAndSpearmanOnHandMadeValues() {
        XCTAssertEqual(averageRanks([3, 1, 3, 2, 3]), [4, 1, 4, 2, 4])
        XCTAssertEqual(averageRanks([]), [])
        XCTAssertEqual(spearman([1, 2, 3, 4], [10, 20, 30, 40]).value, 1)
        XCTAssertEqual(spearman([1, 2, 3, 4], [4, 3, 2, 1]).value, -1)
        // Ranks [1, 2.5, 2.5, 4] against [1, 3, 2, 4]: ρ = 4.5 / √(4.5 · 5) = 3/√10 (scipy.stats.spearmanr's too).
        XCTAssertEqual(spearman([1, 2, 2, 3], [1, 3, 2, 4]).value!, 3 / 10.0.squareRoot(), accuracy: 1e-15)
        XCTAssertNil(spearman([1, 2], [2, 1]).value)
        XCTAssertEqual(spearman([1, 2, 3], [5, 5, 5]).undefined, "every lesion has the same area")
    }
}
