import Foundation
import VAECore

/// One layer's metric over the pairs where it is defined: their number, the mean with its bootstrap confidence
/// interval (at the folder's level, 95 % by default), the standard deviation (ddof 0, numpy's default), the median and the quartiles.
public struct MetricSummary: Equatable, Sendable {
    public let n: Int
    public let mean, std, ciLow, ciHigh, median, q1, q3: Double
    public var iqr: Double { q3 - q1 }
}

/// A layer's place in the ranking of one metric by mean, and whether the pairs can tell it from the top layer.
public struct RankedLayer: Equatable, Sendable {
    public let layer: String
    public let summary: MetricSummary
    /// The top layer itself, or a layer whose paired bootstrap interval of (top − layer), over the pairs
    /// where both are defined, contains 0; nil when no pair has both.
    public let indistinguishableFromTop: Bool?
}

/// Percentile bootstrap over resampling units: the pairs, or clusters of pairs (`--cluster_by`). The resamples
/// (unit indices: resample r's are the next `units` draws `next() % units` of SplitMix64 from the seed) are drawn
/// once and shared by every layer and metric, so a layer's difference to the top layer is a paired bootstrap;
/// everything is computed on rank 0 from the gathered per-pair values, so any rank count gives the same numbers.
public struct PairBootstrap: Sendable {
    /// The resampling units (pairs, or clusters).
    public let pairs: Int
    public let resamples: Int
    public let seed: UInt64
    /// The confidence level of the intervals: the (1 − level)/2 and (1 + level)/2 percentiles.
    public let level: Double
    private let indices: [[Int]]

    public init(pairs: Int, resamples: Int, seed: UInt64, level: Double = 0.95) {
        precondition(pairs > 0 && resamples > 0, "a bootstrap needs pairs and resamples")
        precondition(level > 0 && level < 1, "a confidence level between 0 and 1")
        (self.pairs, self.resamples, self.seed, self.level) = (pairs, resamples, seed, level)
        var rng = SplitMix64(seed: seed)
        indices = (0..<resamples).map { _ in (0..<pairs).map { _ in Int(rng.next() % UInt64(pairs)) } }
    }

    /// The percentile interval at `level` of `statistic` over the resamples (each a list of unit indices).
    public func interval(of statistic: ([Int]) -> Double) -> (low: Double, high: Double) {
        percentileInterval(indices.map(statistic), level: level)
    }

    /// The interval of the resampled means of `values` (one per pair, each pair its own unit).
    public func interval(_ values: [Double]) -> (low: Double, high: Double) {
        precondition(values.count == pairs, "a bootstrap of \(pairs) pairs got \(values.count) values")
        return interval(sums: values, counts: [Double](repeating: 1, count: values.count))
    }

    /// The interval of the mean over the pairs of the drawn units: Σ sums / Σ counts of the units drawn, in
    /// draw order (with one pair per unit, the mean of the drawn pairs).
    func interval(sums: [Double], counts: [Double]) -> (low: Double, high: Double) {
        precondition(sums.count == pairs && counts.count == pairs, "a bootstrap of \(pairs) units got \(sums.count)")
        return interval { sample in
            var (sum, count) = (0.0, 0.0)
            for unit in sample { sum += sums[unit]; count += counts[unit] }
            return sum / count
        }
    }

    public func summary(_ values: [Double]) -> MetricSummary {
        summary(values, units: values.indices.map { [$0] })
    }

    /// The summary of `values` whose bootstrap resamples `units` (each a list of positions in `values`).
    func summary(_ values: [Double], units: [[Int]]) -> MetricSummary {
        let sorted = values.sorted()
        let (low, high) = interval(sums: units.map { $0.reduce(0) { $0 + values[$1] } }, counts: units.map { Double($0.count) })
        let n = Double(values.count), mean = values.reduce(0, +) / n
        return MetricSummary(n: values.count, mean: mean, std: (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot(),
                             ciLow: low, ciHigh: high,
                             median: percentile(sorted, 50), q1: percentile(sorted, 25), q3: percentile(sorted, 75))
    }

    /// The layers by decreasing mean of one metric; `values[layer][pair]`, every value defined.
    public func ranking(layers: [String], values: [[Double]]) -> [RankedLayer] {
        BootstrapDraws(self).ranking(layers: layers, values: values.map { $0.map(Optional.some) })
    }
}

/// The draws for each number of units a statistic is defined over: `PairBootstrap(pairs: units, …)` from the
/// one seed, so a folder where every value is defined resamples all its units with the same draws everywhere,
/// and a value undefined for some pairs is bootstrapped over the others alone (never as NaN). With clusters, the
/// units of a statistic are the clusters of the pairs it is defined for, in order of their first pair.
final class BootstrapDraws {
    let resamples: Int
    let seed: UInt64
    let level: Double
    /// Each pair's cluster (any ids); nil: every pair is its own unit.
    let clusters: [Int]?
    private var made: [Int: PairBootstrap] = [:]

    init(resamples: Int, seed: UInt64, level: Double = 0.95, clusters: [Int]? = nil) {
        (self.resamples, self.seed, self.level, self.clusters) = (resamples, seed, level, clusters)
    }

    convenience init(_ bootstrap: PairBootstrap) {
        self.init(resamples: bootstrap.resamples, seed: bootstrap.seed, level: bootstrap.level)
        made[bootstrap.pairs] = bootstrap
    }

    func pairs(_ n: Int) -> PairBootstrap {
        if let made = made[n] { return made }
        let bootstrap = PairBootstrap(pairs: n, resamples: resamples, seed: seed, level: level)
        made[n] = bootstrap
        return bootstrap
    }

    /// The units of a statistic over the pairs at `pairs` (indices into the folder's pairs, increasing): lists of
    /// positions in `pairs`, one per pair, or one per cluster in order of its first pair.
    func units(_ pairs: [Int]) -> [[Int]] { resamplingUnits(pairs.map { clusters?[$0] ?? $0 }) }

    /// The interval of `statistic` of the items at folder pairs `pairs`, resampling their units; the statistic
    /// gets positions in `pairs` (each drawn unit's members in order).
    func interval(over pairs: [Int], _ statistic: ([Int]) -> Double) -> (low: Double, high: Double) {
        let units = units(pairs)
        return self.pairs(units.count).interval { sample in statistic(sample.flatMap { units[$0] }) }
    }

    /// The summary over the defined values, in pair order; nil when none is defined.
    func summary(_ values: [Double?]) -> MetricSummary? {
        let at = values.indices.filter { values[$0] != nil }
        guard !at.isEmpty else { return nil }
        let units = units(at)
        return pairs(units.count).summary(at.map { values[$0]! }, units: units)
    }

    /// The layers with a defined value for some pair, by decreasing mean; `values[layer][pair]` (nil: undefined).
    func ranking(layers: [String], values: [[Double?]]) -> [RankedLayer] {
        let summaries = values.map(summary)
        let ranked = layers.indices.filter { summaries[$0] != nil }
        let order = largestIndices(ranked.map { summaries[$0]!.mean }, count: ranked.count).map { ranked[$0] }
        guard let top = order.first else { return [] }
        return order.map { index in
            let differences = zip(values[top], values[index]).map { a, b in a.flatMap { a in b.map { a - $0 } } }
            let indistinguishable = index == top ? true
                : differences.allSatisfy { $0 == nil } ? nil : !(summary(differences)!.ciLow > 0)
            return RankedLayer(layer: layers[index], summary: summaries[index]!, indistinguishableFromTop: indistinguishable)
        }
    }
}

/// Positions 0..<keys.count grouped by key, groups in order of their first position.
func resamplingUnits(_ keys: [Int]) -> [[Int]] {
    var order: [Int: Int] = [:], units: [[Int]] = []
    for (position, key) in keys.enumerated() {
        if let at = order[key] { units[at].append(position) } else { order[key] = units.count; units.append([position]) }
    }
    return units
}

/// The (1 − level)/2 and (1 + level)/2 percentiles of `values`.
func percentileInterval(_ values: [Double], level: Double) -> (low: Double, high: Double) {
    let sorted = values.sorted()
    return (percentile(sorted, 50 * (1 - level)), percentile(sorted, 50 * (1 + level)))
}

/// numpy.percentile's default (linear interpolation between closest ranks) of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let position = p / 100 * Double(sorted.count - 1)
    let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
    let t = position - Double(lower)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * t
}
