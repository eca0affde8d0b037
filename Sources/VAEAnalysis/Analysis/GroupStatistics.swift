import VAECore

/// A folder's pairs in groups (`--group_by`, e.g. benign and malignant): each group's statistics over its own
/// pairs, and every two groups compared per metric and layer.
///
/// A comparison of groups A and B (A before B by name) at one layer is over the pairs where the metric is
/// defined in each group (with clusters, the units are their clusters): the difference of the means
/// mean(A) − mean(B), its percentile bootstrap interval (each resample draws A's units, then B's, from the one
/// seed: a two-sample bootstrap), and a two-sided permutation p-value (the units' group labels permuted: every
/// split enumerated when there are at most `permutations` of them, else `permutations` random splits, p =
/// (1 + #{|T*| ≥ |T|}) / (1 + permutations)). The p-values are Holm-adjusted per metric over all its comparisons
/// (layers × pairs of groups): with two groups, over the layers.
public struct GroupStatistics: Sendable {
    /// `--group_by`, as given or defaulted.
    public let rule: PairKey
    /// The groups, sorted by name.
    public let names: [String]
    /// Each pair's group, in pair order.
    public let pairGroups: [String]
    /// Per group (in `names` order), over its pairs.
    public let groups: [FolderStatistics]
    /// Every two groups, in name order.
    public let comparisons: [GroupComparison]
    public let permutations: Int

    public static let correction = "Holm's step-down adjustment of the permutation p-values, per metric over all its comparisons (every layer, and every two groups)"

    public init(pairs: [(name: String, layers: [LayerDifference])], groups: [String], rule: PairKey, method: AnalysisMethod,
                resamples: Int, seed: UInt64, level: Double, permutations: Int, clusters: [Int]? = nil) {
        precondition(groups.count == pairs.count, "a group per pair")
        (self.rule, self.pairGroups, self.permutations) = (rule, groups, permutations)
        names = Set(groups).sorted()
        let members = names.map { name in pairs.indices.filter { groups[$0] == name } }
        self.groups = members.map { at in
            FolderStatistics(pairs: at.map { pairs[$0] }, method: method, resamples: resamples, seed: seed, level: level,
                             clusters: clusters.map { ids in at.map { ids[$0] } })
        }
        let metrics = DifferenceMetric.compared(method, layers: pairs.first?.layers ?? [])
        let draws = DifferenceDraws(resamples: resamples, seed: seed, level: level, permutations: permutations)
        var comparisons: [GroupComparison] = []
        for a in names.indices {
            for b in names.indices where b > a {
                let layers = Dictionary(uniqueKeysWithValues: metrics.map { metric in
                    (metric, (pairs.first?.layers.indices ?? 0..<0).map { layer -> GroupDifference? in
                        func sample(_ at: [Int]) -> [(value: Double, cluster: Int)] {
                            at.compactMap { pair in pairs[pair].layers[layer].value(of: metric).map { ($0, clusters?[pair] ?? pair) } }
                        }
                        return draws.compare(sample(members[a]), sample(members[b]))
                    })
                })
                comparisons.append(GroupComparison(first: names[a], second: names[b], layers: layers))
            }
        }
        self.comparisons = holmAdjusted(comparisons, metrics: metrics)
    }
}

/// Groups `first` and `second`, per metric and layer (nil where a group has no defined value).
public struct GroupComparison: Sendable {
    public let first: String, second: String
    public let layers: [DifferenceMetric: [GroupDifference?]]
}

/// mean(first) − mean(second) at one layer, with its interval and p-values.
public struct GroupDifference: Equatable, Sendable {
    /// The pairs where the metric is defined, and the resampled units (their clusters, or the pairs).
    public let nFirst: Int, nSecond: Int, unitsFirst: Int, unitsSecond: Int
    public let meanFirst: Double, meanSecond: Double
    public var difference: Double { meanFirst - meanSecond }
    public let ciLow: Double, ciHigh: Double
    public let p: Double
    /// Every split of the units enumerated (else random permutations).
    public let exact: Bool
    public internal(set) var pHolm: Double
}

/// The shared resamples and permutations of group comparisons, made once per number of units.
final class DifferenceDraws {
    let resamples: Int, seed: UInt64, level: Double, permutations: Int
    private var bootstraps: [[Int]: [Int32]] = [:]
    private var splits: [[Int]: (exact: Bool, count: Int, firsts: [Int32])] = [:]

    init(resamples: Int, seed: UInt64, level: Double, permutations: Int) {
        (self.resamples, self.seed, self.level, self.permutations) = (resamples, seed, level, permutations)
    }

    /// The comparison of two samples (values with their cluster ids, in pair order); nil when one is empty.
    func compare(_ first: [(value: Double, cluster: Int)], _ second: [(value: Double, cluster: Int)]) -> GroupDifference? {
        guard !first.isEmpty, !second.isEmpty else { return nil }
        let units = [first, second].map { sample in
            resamplingUnits(sample.map(\.cluster)).map { unit in (sum: unit.reduce(0) { $0 + sample[$1].value }, count: Double(unit.count)) }
        }
        let (a, b) = (units[0], units[1])
        let interval = bootstrapInterval(a, b)
        let test = permutationTest(a + b, firstCount: a.count)
        let mean = { (sample: [(value: Double, cluster: Int)]) in sample.reduce(0) { $0 + $1.value } / Double(sample.count) }
        return GroupDifference(nFirst: first.count, nSecond: second.count, unitsFirst: a.count, unitsSecond: b.count,
                               meanFirst: mean(first), meanSecond: mean(second), ciLow: interval.low, ciHigh: interval.high,
                               p: test.p, exact: test.exact, pHolm: test.p)
    }

    /// Resample r draws `a.count` indices `next() % a.count`, then `b.count` indices `next() % b.count`, from one
    /// SplitMix64 stream of the seed; its statistic is Σ sums / Σ counts of the drawn units of A minus B's.
    private func bootstrapInterval(_ a: [(sum: Double, count: Double)], _ b: [(sum: Double, count: Double)]) -> (low: Double, high: Double) {
        let key = [a.count, b.count], width = a.count + b.count
        let indices = bootstraps[key] ?? {
            var rng = SplitMix64(seed: seed)
            var made = [Int32](repeating: 0, count: resamples * width)
            for r in 0..<resamples {
                for k in 0..<width {
                    let n = UInt64(k < a.count ? a.count : b.count)
                    made[r * width + k] = Int32(rng.next() % n)
                }
            }
            bootstraps[key] = made
            return made
        }()
        let statistics = (0..<resamples).map { r -> Double in
            var (sa, ca, sb, cb) = (0.0, 0.0, 0.0, 0.0)
            for k in 0..<a.count { let u = a[Int(indices[r * width + k])]; sa += u.sum; ca += u.count }
            for k in a.count..<width { let u = b[Int(indices[r * width + k])]; sb += u.sum; cb += u.count }
            return sa / ca - sb / cb
        }
        return percentileInterval(statistics, level: level)
    }

    /// T(S) = Σ_S sums / Σ_S counts − (Σ sums − Σ_S sums) / (Σ counts − Σ_S counts) for a set S of `firstCount`
    /// of the pooled units (the totals summed in pooled order); the observed S is the first `firstCount`. Splits:
    /// every S in lexicographic order when there are at most `permutations`, else per permutation a partial
    /// Fisher–Yates shuffle of 0..<N from the identity (for i in 0..<firstCount: j = i + next() % (N − i), swap),
    /// S its first `firstCount` entries, all from one SplitMix64 stream of the seed. |T(S)| counts as at least
    /// |T| when within 1e-12·(|mean A| + |mean B|) below it (rounding of equal sums in another order).
    private func permutationTest(_ pooled: [(sum: Double, count: Double)], firstCount k: Int) -> (p: Double, exact: Bool) {
        let n = pooled.count
        let split = splits[[k, n]] ?? {
            let made = makeSplits(units: n, first: k)
            splits[[k, n]] = made
            return made
        }()
        let (total, totalCount) = pooled.reduce((0.0, 0.0)) { ($0.0 + $1.sum, $0.1 + $1.count) }
        func statistic(_ chosen: ArraySlice<Int32>) -> (t: Double, scale: Double) {
            var (s, c) = (0.0, 0.0)
            for u in chosen { s += pooled[Int(u)].sum; c += pooled[Int(u)].count }
            let (ma, mb) = (s / c, (total - s) / (totalCount - c))
            return (ma - mb, abs(ma) + abs(mb))
        }
        let observed = statistic(ArraySlice((0..<Int32(k)).map { $0 }))
        let threshold = abs(observed.t) - 1e-12 * observed.scale
        var extreme = 0
        for s in 0..<split.count where abs(statistic(split.firsts[(s * k)..<(s * k + k)]).t) >= threshold { extreme += 1 }
        return split.exact ? (Double(extreme) / Double(split.count), true)
                           : (Double(1 + extreme) / Double(1 + split.count), false)
    }

    private func makeSplits(units n: Int, first k: Int) -> (exact: Bool, count: Int, firsts: [Int32]) {
        if let count = binomial(n, k, atMost: permutations) {
            var firsts: [Int32] = [], chosen = Array(0..<k)
            firsts.reserveCapacity(count * k)
            while true {
                firsts += chosen.map(Int32.init)
                // The next combination in lexicographic order (itertools.combinations').
                guard let i = (0..<k).last(where: { chosen[$0] != $0 + n - k }) else { break }
                chosen[i] += 1
                for j in (i + 1)..<k { chosen[j] = chosen[j - 1] + 1 }
            }
            return (true, count, firsts)
        }
        var rng = SplitMix64(seed: seed)
        var firsts = [Int32](repeating: 0, count: permutations * k), order = Array(0..<Int32(n))
        for s in 0..<permutations {
            for i in 0..<n { order[i] = Int32(i) }
            for i in 0..<k {
                order.swapAt(i, i + Int(rng.next() % UInt64(n - i)))
                firsts[s * k + i] = order[i]
            }
        }
        return (false, permutations, firsts)
    }
}

/// C(n, k) when it is at most `limit`, else nil.
func binomial(_ n: Int, _ k: Int, atMost limit: Int) -> Int? {
    var c = 1
    for i in 0..<min(k, n - k) {
        c = c * (n - i) / (i + 1)  // exact: c·(n − i) is divisible by i + 1 at every step
        if c > limit { return nil }
    }
    return c
}

/// Holm's step-down adjustment per metric over every comparison and layer with a p-value: the m p-values in
/// increasing order (ties in comparison, then layer order), the j-th (from 1) becomes min(1, max over i ≤ j of
/// (m − i + 1)·p_(i)).
func holmAdjusted(_ comparisons: [GroupComparison], metrics: [DifferenceMetric]) -> [GroupComparison] {
    var layers = comparisons.map(\.layers)
    for metric in metrics {
        var tests: [(comparison: Int, layer: Int, p: Double)] = []
        for (c, comparison) in layers.enumerated() {
            for (l, difference) in (comparison[metric] ?? []).enumerated() { if let difference { tests.append((c, l, difference.p)) } }
        }
        let order = tests.indices.sorted { tests[$0].p < tests[$1].p || (tests[$0].p == tests[$1].p && $0 < $1) }
        var running = 0.0
        for (rank, index) in order.enumerated() {
            running = max(running, min(1, Double(tests.count - rank) * tests[index].p))
            layers[tests[index].comparison][metric]![tests[index].layer]!.pHolm = running
        }
    }
    return zip(comparisons, layers).map { GroupComparison(first: $0.first, second: $0.second, layers: $1) }
}
