import Foundation
@testable import VAEAnalysis
@testable import VAECore
import XCTest

/// Groups and clusters against a plain Python recomputation (Tests/Fixtures/statistics/groups.json, from
/// tools/make_statistics_fixtures.py): per-group summaries and pooled enrichment, the cluster bootstrap, the
/// difference of means with its two-sample bootstrap interval, permutation p-values (random and enumerated) and
/// Holm's adjustment.
final class GroupStatisticsTests: XCTestCase {
    struct Fixture: Decodable {
        struct Summary: Decodable {
            let n: Int
            let mean, ci_low, ci_high: Double
        }
        struct Pooled: Decodable {
            let value, ci_low, ci_high: Double
            let n: Int
        }
        struct Layer: Decodable {
            let metrics: [String: Summary?]
            let pooled_enrichment: Pooled
        }
        struct Difference: Decodable {
            let n_first, n_second, units_first, units_second: Int
            let mean_first, mean_second, difference, ci_low, ci_high, p, p_holm: Double
            let p_exact: Bool
        }
        struct Comparison: Decodable {
            let first, second: String
            let metrics: [String: [String: Difference?]]
        }
        struct Case: Decodable {
            let pairs: [AnalysisStatisticsTests.Fixture.Pair]
            let groups: [String]
            let clusters: [String]?
            let names: [String]
            let folder: [String: Layer]
            let per_group: [String: [String: Layer]]
            let comparisons: [Comparison]
        }
        let resamples: Int
        let bootstrap_seed: UInt64
        let ci_level: Double
        let permutations: Int
        let cases: [String: Case]
    }

    func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("statistics/groups.json"))))
    }

    func pairs(_ fixture: Fixture.Case) -> [(name: String, layers: [LayerDifference])] {
        fixture.pairs.map { pair in
            (pair.name, pair.layers.map {
                LayerDifference(layer: $0.layer, shape: $0.shape, l2: $0.l2, cosine: $0.cosine,
                                lesion: LesionEnergy(inside: $0.inside, areaFraction: $0.area_fraction))
            })
        }
    }

    func assertSummaries(_ statistics: FolderStatistics, _ expected: [String: Fixture.Layer], _ what: String) throws {
        for (index, layer) in statistics.layers.enumerated() {
            let want = try XCTUnwrap(expected[layer], "\(what) \(layer)")
            for metric in statistics.metrics {
                let name = "\(what) \(layer) \(metric.rawValue)"
                guard let expected = try XCTUnwrap(want.metrics[metric.rawValue], name) else {
                    XCTAssertNil(statistics.summaries[metric]?[index] ?? nil, name)
                    continue
                }
                let got = try XCTUnwrap(statistics.summaries[metric]?[index] ?? nil, name)
                XCTAssertEqual(got.n, expected.n, name)
                assertClose(got.mean, expected.mean, "\(name) mean")
                assertClose(got.ciLow, expected.ci_low, "\(name) ci_low")
                assertClose(got.ciHigh, expected.ci_high, "\(name) ci_high")
            }
            let pooled = try XCTUnwrap(statistics.lesion?.layers[index])
            XCTAssertEqual(pooled.pooledN, want.pooled_enrichment.n, "\(what) \(layer) pooled n")
            assertClose(pooled.pooled, want.pooled_enrichment.value, "\(what) \(layer) pooled")
            assertClose(pooled.pooledCILow, want.pooled_enrichment.ci_low, "\(what) \(layer) pooled ci_low")
            assertClose(pooled.pooledCIHigh, want.pooled_enrichment.ci_high, "\(what) \(layer) pooled ci_high")
        }
    }

    func testGroupsAndClustersEqualThePythonRecomputation() throws {
        let fixture = try fixture()
        XCTAssertEqual(Set(fixture.cases.keys), ["two_groups", "three_clusters"])
        var sawExact = false, sawRandom = false, sawAdjusted = false
        for (name, fixtureCase) in fixture.cases.sorted(by: { $0.key < $1.key }) {
            let pairs = pairs(fixtureCase)
            let clusters = fixtureCase.clusters.map(keyIndices)
            let groups = GroupStatistics(pairs: pairs, groups: fixtureCase.groups, rule: .regex("test"), method: .both,
                                         resamples: fixture.resamples, seed: fixture.bootstrap_seed, level: fixture.ci_level,
                                         permutations: fixture.permutations, clusters: clusters)
            XCTAssertEqual(groups.names, fixtureCase.names, name)
            let folder = FolderStatistics(pairs: pairs, method: .both, resamples: fixture.resamples, seed: fixture.bootstrap_seed,
                                          level: fixture.ci_level, clusters: clusters)
            XCTAssertEqual(folder.clusterCount, fixtureCase.clusters.map { Set($0).count }, name)
            try assertSummaries(folder, fixtureCase.folder, "\(name) folder")
            for (group, statistics) in zip(groups.names, groups.groups) {
                try assertSummaries(statistics, try XCTUnwrap(fixtureCase.per_group[group]), "\(name) group \(group)")
            }
            XCTAssertEqual(groups.comparisons.map { [$0.first, $0.second] }, fixtureCase.comparisons.map { [$0.first, $0.second] }, name)
            for (got, want) in zip(groups.comparisons, fixtureCase.comparisons) {
                for metric in folder.metrics {
                    for (index, layer) in folder.layers.enumerated() {
                        let what = "\(name) \(got.first)−\(got.second) \(metric.rawValue) \(layer)"
                        let expected = try XCTUnwrap(want.metrics[metric.rawValue]?[layer], what)
                        let difference = got.layers[metric]?[index] ?? nil
                        guard let expected else { XCTAssertNil(difference, what); continue }
                        let d = try XCTUnwrap(difference, what)
                        XCTAssertEqual([d.nFirst, d.nSecond, d.unitsFirst, d.unitsSecond],
                                       [expected.n_first, expected.n_second, expected.units_first, expected.units_second], what)
                        assertClose(d.meanFirst, expected.mean_first, "\(what) mean_first")
                        assertClose(d.meanSecond, expected.mean_second, "\(what) mean_second")
                        assertClose(d.difference, expected.difference, "\(what) difference")
                        assertClose(d.ciLow, expected.ci_low, "\(what) ci_low")
                        assertClose(d.ciHigh, expected.ci_high, "\(what) ci_high")
                        XCTAssertEqual(d.exact, expected.p_exact, what)
                        XCTAssertEqual(d.p, expected.p, what)
                        assertClose(d.pHolm, expected.p_holm, "\(what) p_holm")
                        sawExact = sawExact || d.exact
                        sawRandom = sawRandom || !d.exact
                        sawAdjusted = sawAdjusted || (d.pHolm > d.p && d.pHolm < 1)
                    }
                }
            }
        }
        XCTAssertTrue(sawExact && sawRandom && sawAdjusted, "enumerated and random permutations, and Holm adjusting below 1, are all checked")
    }

    /// Values that are all equal give p = 1; a clear shift enumerated over all splits gives the smallest p there is.
    func testPermutationsAndHolmOnHandMadeValues() {
        let draws = DifferenceDraws(resamples: 100, seed: 1, level: 0.95, permutations: 1000)
        let same = draws.compare([(1, 0), (1, 1), (1, 2)], [(1, 3), (1, 4)])!
        XCTAssertEqual(same.p, 1)
        XCTAssertTrue(same.exact)
        XCTAssertEqual([same.ciLow, same.ciHigh], [0, 0])
        // 4 against 4: C(8, 4) = 70 splits; only the observed one and its mirror are as extreme.
        let shifted = draws.compare((0..<4).map { (Double($0), $0) }, (0..<4).map { (Double($0) + 100, $0 + 4) })!
        XCTAssertEqual(shifted.p, 2.0 / 70)
        XCTAssertEqual(shifted.difference, -100)
        XCTAssertNil(draws.compare([], [(1, 0)]))
        XCTAssertEqual(binomial(8, 4, atMost: 1000), 70)
        XCTAssertNil(binomial(60, 30, atMost: 1_000_000))

        func comparison(_ ps: [Double]) -> GroupComparison {
            GroupComparison(first: "a", second: "b", layers: [.l2Value: ps.map {
                GroupDifference(nFirst: 1, nSecond: 1, unitsFirst: 1, unitsSecond: 1, meanFirst: 0, meanSecond: 0,
                                ciLow: 0, ciHigh: 0, p: $0, exact: true, pHolm: $0)
            }])
        }
        // statsmodels' multipletests([0.01, 0.04, 0.03, 0.5], method="holm") = [0.04, 0.09, 0.09, 0.5].
        let adjusted = holmAdjusted([comparison([0.01, 0.04, 0.03, 0.5])], metrics: [.l2Value])
        let holm = adjusted[0].layers[.l2Value]!.map { $0!.pHolm }
        for (got, want) in zip(holm, [0.04, 0.09, 0.09, 0.5]) { XCTAssertEqual(got, want, accuracy: 1e-15) }
    }

    func testGroupAndClusterKeysFromNames() throws {
        let names = ["benign/benign (1)", "benign/benign (2)", "malignant/malignant (1)", "malignant/P7_b"]
        XCTAssertEqual(try PairKey.folder.keys(of: names, flag: "--group_by"), ["benign", "benign", "malignant", "malignant"])
        XCTAssertEqual(try PairKey(parsing: "regex:^([a-z]+)", flag: "--group_by").keys(of: names, flag: "--group_by"),
                       ["benign", "benign", "malignant", "malignant"])
        XCTAssertEqual(try PairKey(parsing: "regex:\\(\\d\\)|P\\d+", flag: "--cluster_by").keys(of: names, flag: "--cluster_by"),
                       ["(1)", "(2)", "(1)", "P7"], "no capture group: the whole match")
        XCTAssertEqual(GroupChoice.automatic.rule(for: names), .folder)
        XCTAssertNil(GroupChoice.automatic.rule(for: ["a", "b"]))
        XCTAssertNil(GroupChoice.none.rule(for: names))
        XCTAssertEqual(keyIndices(["x", "y", "x", "z"]), [0, 1, 0, 2])

        func refusal(_ make: () throws -> Any, _ mentions: [String], line: UInt = #line) {
            XCTAssertThrowsError(try make(), line: line) { error in
                for text in mentions { XCTAssertTrue("\(error)".contains(text), "\(error) should mention \(text)", line: line) }
            }
        }
        refusal({ try PairKey(parsing: "regex:(", flag: "--group_by") }, ["--group_by regex:(", "not a valid regular expression"])
        refusal({ try PairKey(parsing: "patient", flag: "--cluster_by", allowFolder: false) }, ["--cluster_by patient", "regex:PATTERN"])
        refusal({ try PairKey(parsing: "folder", flag: "--cluster_by", allowFolder: false) }, ["--cluster_by folder"])
        refusal({ try PairKey(parsing: "regex:^normal", flag: "--group_by").keys(of: names, flag: "--group_by") },
                ["--group_by regex:^normal matches no pair's name", "benign/benign (1)"])
        refusal({ try PairKey(parsing: "regex:^benign", flag: "--group_by").keys(of: names, flag: "--group_by") },
                ["no key", "2 of 4 pairs", "malignant/malignant (1)"])
        refusal({ try PairKey.folder.keys(of: ["a", "b"], flag: "--group_by") }, ["--group_by folder: no pair is in a sub-folder"])
    }
}
