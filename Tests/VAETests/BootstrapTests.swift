import Foundation
@testable import VAEAnalysis
@testable import VAECore
import XCTest

/// The folder statistics: numpy's percentiles, a seeded bootstrap of the mean, and the paired ranking.
final class BootstrapTests: XCTestCase {
    func testPercentilesInterpolateLikeNumpy() {
        // numpy.percentile([1, 2, 4, 8], [0, 25, 50, 75, 100]) = [1, 1.75, 3, 5, 8]
        XCTAssertEqual([0, 25, 50, 75, 100].map { percentile([1, 2, 4, 8], $0) }, [1, 1.75, 3, 5, 8])
        XCTAssertEqual(percentile([7], 97.5), 7)
        XCTAssertTrue(percentile([], 50).isNaN)
    }

    func testTheIntervalIsSeededCoversTheMeanAndShrinksWithMorePairs() {
        var rng = SplitMix64(seed: 2)
        let values = (0..<40).map { _ in rng.nextUniform() }
        let bootstrap = PairBootstrap(pairs: 40, resamples: 2000, seed: 7)
        let summary = bootstrap.summary(values)
        XCTAssertEqual(summary, PairBootstrap(pairs: 40, resamples: 2000, seed: 7).summary(values), "same seed, same numbers")
        XCTAssertNotEqual(summary.ciLow, PairBootstrap(pairs: 40, resamples: 2000, seed: 8).summary(values).ciLow)
        XCTAssertLessThan(summary.ciLow, summary.mean)
        XCTAssertGreaterThan(summary.ciHigh, summary.mean)
        // Uniform(0, 1): σ = 0.289, so the 95 % interval of a mean of 40 is about ±1.96·0.289/√40 = ±0.09.
        XCTAssertEqual(summary.ciHigh - summary.ciLow, 2 * 1.96 * (1.0 / 12).squareRoot() / 40.0.squareRoot(), accuracy: 0.04)
        XCTAssertEqual(summary.median, percentile(values.sorted(), 50))
        XCTAssertEqual(summary.iqr, percentile(values.sorted(), 75) - percentile(values.sorted(), 25))
        let constant = bootstrap.summary(Array(repeating: 3, count: 40))
        XCTAssertEqual([constant.ciLow, constant.ciHigh, constant.median, constant.iqr], [3, 3, 3, 0])
    }

    /// Layer "b" is always exactly 1 below "top" although both spread widely over pairs: their intervals
    /// overlap, yet the paired bootstrap tells them apart. "c" is "top" plus noise around 0: indistinguishable.
    func testTheRankingUsesPairedDifferences() {
        var rng = SplitMix64(seed: 5)
        let base = (0..<30).map { _ in 10 * rng.nextUniform() }
        let top = base.map { $0 + 1 }, b = base, c = top.map { $0 + 0.2 * (rng.nextUniform() - 0.5) - 0.001 }
        let bootstrap = PairBootstrap(pairs: 30, resamples: 2000, seed: 1)
        let ranking = bootstrap.ranking(layers: ["b", "top", "c"], values: [b, top, c])
        XCTAssertEqual(ranking.map(\.layer).first, c.reduce(0, +) > top.reduce(0, +) ? "c" : "top")
        XCTAssertEqual(ranking.last?.layer, "b")
        XCTAssertGreaterThan(ranking[2].summary.ciHigh, ranking[0].summary.ciLow, "the unpaired intervals overlap")
        XCTAssertEqual(ranking.map(\.indistinguishableFromTop), [true, true, false])
    }

    func testFolderStatisticsCoverEveryReportedMetricAndLayer() {
        let pairs = (1...5).map { k in
            [LayerDifference(layer: "first", shape: [1, 1, 2, 2], l2: Double(k), cosine: 0.1 * Double(k),
                             lesion: LesionEnergy(inside: Double(k * k) / 2, areaFraction: 0.25)),
             LayerDifference(layer: "second", shape: [1, 1, 2, 2], l2: 10, cosine: 0.5,
                             lesion: LesionEnergy(inside: 25, areaFraction: 0.25))]
        }
        let statistics = FolderStatistics(pairs: pairs.enumerated().map { ("pair\($0)", $1) }, method: .l2, resamples: 500, seed: 3)
        XCTAssertEqual(statistics.metrics, [.l2Value, .l2PerElement] + DifferenceMetric.lesionMetrics.filter { $0 != .lesionAreaFraction })
        XCTAssertEqual(statistics.summaries[.l2Value]?.map { $0?.mean }, [3, 10])
        XCTAssertEqual(statistics.rankings[.l2Value]?.map(\.layer), ["second", "first"])
        XCTAssertEqual(statistics.rankings[.l2Value]?.map(\.indistinguishableFromTop), [true, false])
        // first puts half its energy in the lesion (enrichment 2), second a quarter (enrichment 1).
        XCTAssertEqual(statistics.summaries[.lesionEnrichment]?.map { $0?.mean }, [2, 1])
        XCTAssertTrue(statistics.leftOut.isEmpty)
        XCTAssertEqual(statistics.rankings[.lesionEnrichment]?.first?.layer, "first")
        let csv = AggregateReport.rankingCSV(statistics).split(separator: "\n")
        XCTAssertEqual(csv.first, "metric,rank,layer,n,mean,ci_low,ci_high,median,iqr,indistinguishable_from_top")
        XCTAssertEqual(csv.count, 1 + 2 * statistics.metrics.count)
        XCTAssertEqual(csv[1], "l2_value,1,second,5,10.0,10.0,10.0,10.0,0.0,true")
    }
}
