import Foundation
import VAECore

/// One layer's metric over the pairs where it is defined: their number, the mean with its bootstrap 95 %
/// confidence interval, the standard deviation (ddof 0, numpy's default), the median and the quartiles.
public struct MetricSummary: Equatable, Sendable {
    public let n: Int
    public let mean, std, ciLow, ciHigh, median, q1, q3: Double
    public var iqr: Double { q3 - q1 }
}

/// A layer's place in the ranking of one metric by mean, and whether the pairs can tell it from the top layer.
public struct RankedLayer: Equatable, Sendable {
    public let layer: String
    public let summary: MetricSummary
    /// The top layer itself, or a layer whose paired bootstrap 95 % interval of (top − layer), over the pairs
    /// where both are defined, contains 0; nil when no pair has both.
    public let indistinguishableFromTop: Bool?
}

/// Percentile bootstrap over pairs. The resamples (pair indices) are drawn once from the seed and shared by
/// every layer and metric, so a layer's difference to the top layer is a paired bootstrap; everything is
/// computed on rank 0 from the gathered per-pair values, so any rank count gives the same numbers.
public struct PairBootstrap: Sendable {
    public let pairs: Int
    public let resamples: Int
    public let seed: UInt64
    private let indices: [[Int]]

    public init(pairs: Int, resamples: Int, seed: UInt64) {
        precondition(pairs > 0 && resamples > 0, "a bootstrap needs pairs and resamples")
        (self.pairs, self.resamples, self.seed) = (pairs, resamples, seed)
        var rng = SplitMix64(seed: seed)
        indices = (0..<resamples).map { _ in (0..<pairs).map { _ in Int(rng.next() % UInt64(pairs)) } }
    }

    /// The 2.5th and 97.5th percentiles of `statistic` over the resamples (each a list of pair indices).
    public func interval(of statistic: ([Int]) -> Double) -> (low: Double, high: Double) {
        let values = indices.map(statistic).sorted()
        return (percentile(values, 2.5), percentile(values, 97.5))
    }

    /// The 2.5th and 97.5th percentiles of the resampled means of `values` (one per pair).
    public func interval(_ values: [Double]) -> (low: Double, high: Double) {
        precondition(values.count == pairs, "a bootstrap of \(pairs) pairs got \(values.count) values")
        let n = Double(values.count)
        return interval { sample in sample.reduce(0) { $0 + values[$1] } / n }
    }

    public func summary(_ values: [Double]) -> MetricSummary {
        let sorted = values.sorted()
        let (low, high) = interval(values)
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

/// The draws for each number of pairs a statistic is defined over: `PairBootstrap(pairs: n, …)` from the one
/// seed, so a folder where every value is defined resamples all its pairs with the same draws everywhere, and
/// a value undefined for some pairs is bootstrapped over the others alone (never as NaN).
final class BootstrapDraws {
    let resamples: Int
    let seed: UInt64
    private var made: [Int: PairBootstrap] = [:]

    init(resamples: Int, seed: UInt64) { (self.resamples, self.seed) = (resamples, seed) }

    convenience init(_ bootstrap: PairBootstrap) {
        self.init(resamples: bootstrap.resamples, seed: bootstrap.seed)
        made[bootstrap.pairs] = bootstrap
    }

    func pairs(_ n: Int) -> PairBootstrap {
        if let made = made[n] { return made }
        let bootstrap = PairBootstrap(pairs: n, resamples: resamples, seed: seed)
        made[n] = bootstrap
        return bootstrap
    }

    /// The summary over the defined values, in pair order; nil when none is defined.
    func summary(_ values: [Double?]) -> MetricSummary? {
        let defined = values.compactMap { $0 }
        return defined.isEmpty ? nil : pairs(defined.count).summary(defined)
    }

    /// The layers with a defined value for some pair, by decreasing mean; `values[layer][pair]` (nil: undefined).
    func ranking(layers: [String], values: [[Double?]]) -> [RankedLayer] {
        let summaries = values.map(summary)
        let ranked = layers.indices.filter { summaries[$0] != nil }
        let order = largestIndices(ranked.map { summaries[$0]!.mean }, count: ranked.count).map { ranked[$0] }
        guard let top = order.first else { return [] }
        return order.map { index in
            let differences = zip(values[top], values[index]).compactMap { a, b in a.flatMap { a in b.map { a - $0 } } }
            let indistinguishable = index == top ? true
                : differences.isEmpty ? nil : !(pairs(differences.count).interval(differences).low > 0)
            return RankedLayer(layer: layers[index], summary: summaries[index]!, indistinguishableFromTop: indistinguishable)
        }
    }
}

/// numpy.percentile's default (linear interpolation between closest ranks) of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let position = p / 100 * Double(sorted.count - 1)
    let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
    let t = position - Double(lower)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * t
}
