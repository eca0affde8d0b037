import Foundation
import VAECore

/// One layer's metric over pairs: the mean with its bootstrap 95 % confidence interval, the median and the
/// interquartile range.
public struct MetricSummary: Equatable, Sendable {
    public let mean, ciLow, ciHigh, median, q1, q3: Double
    public var iqr: Double { q3 - q1 }
}

/// A layer's place in the ranking of one metric by mean, and whether the pairs can tell it from the top layer.
public struct RankedLayer: Equatable, Sendable {
    public let layer: String
    public let summary: MetricSummary
    /// The top layer itself, or a layer whose paired bootstrap 95 % interval of (top − layer) contains 0.
    public let indistinguishableFromTop: Bool
}

/// Percentile bootstrap over pairs. The resamples (pair indices) are drawn once from the seed and shared by
/// every layer and metric, so a layer's difference to the top layer is a paired bootstrap; everything is
/// computed on rank 0 from the gathered per-pair values, so any rank count gives the same numbers.
public struct PairBootstrap: Sendable {
    public let resamples: Int
    public let seed: UInt64
    private let indices: [[Int]]

    public init(pairs: Int, resamples: Int, seed: UInt64) {
        precondition(pairs > 0 && resamples > 0, "a bootstrap needs pairs and resamples")
        (self.resamples, self.seed) = (resamples, seed)
        var rng = SplitMix64(seed: seed)
        indices = (0..<resamples).map { _ in (0..<pairs).map { _ in Int(rng.next() % UInt64(pairs)) } }
    }

    /// The 2.5th and 97.5th percentiles of the resampled means of `values`.
    public func interval(_ values: [Double]) -> (low: Double, high: Double) {
        let n = Double(values.count)
        let means = indices.map { sample in sample.reduce(0) { $0 + values[$1] } / n }.sorted()
        return (percentile(means, 2.5), percentile(means, 97.5))
    }

    public func summary(_ values: [Double]) -> MetricSummary {
        let sorted = values.sorted()
        let (low, high) = interval(values)
        return MetricSummary(mean: values.reduce(0, +) / Double(values.count), ciLow: low, ciHigh: high,
                             median: percentile(sorted, 50), q1: percentile(sorted, 25), q3: percentile(sorted, 75))
    }

    /// The layers by decreasing mean of one metric; `values[layer][pair]`.
    public func ranking(layers: [String], values: [[Double]]) -> [RankedLayer] {
        let summaries = values.map(summary)
        let order = largestIndices(summaries.map(\.mean), count: layers.count)
        guard let top = order.first else { return [] }
        return order.map { index in
            let (low, _) = interval(zip(values[top], values[index]).map { $0 - $1 })
            return RankedLayer(layer: layers[index], summary: summaries[index],
                               indistinguishableFromTop: index == top || !(low > 0))
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

/// The uncertainty of a folder's aggregates: per reported metric, each layer's summary (decoder order) and
/// the ranking by mean.
public struct FolderStatistics: Sendable {
    public let metrics: [DifferenceMetric]
    public let resamples: Int
    public let seed: UInt64
    public let summaries: [DifferenceMetric: [MetricSummary]]
    public let rankings: [DifferenceMetric: [RankedLayer]]

    /// `pairs`: each pair's layers in decoder order, in pair-name order.
    public init(pairs: [[LayerDifference]], method: AnalysisMethod, resamples: Int, seed: UInt64) {
        let layers = pairs.first?.map(\.layer) ?? []
        metrics = DifferenceMetric.reported(method, layers: pairs.first ?? [])
        (self.resamples, self.seed) = (resamples, seed)
        guard !pairs.isEmpty else { (summaries, rankings) = ([:], [:]); return }
        let bootstrap = PairBootstrap(pairs: pairs.count, resamples: resamples, seed: seed)
        var summaries: [DifferenceMetric: [MetricSummary]] = [:], rankings: [DifferenceMetric: [RankedLayer]] = [:]
        for metric in metrics {
            let values = layers.indices.map { layer in pairs.map { $0[layer].value(of: metric) } }
            summaries[metric] = values.map(bootstrap.summary)
            rankings[metric] = bootstrap.ranking(layers: layers, values: values)
        }
        (self.summaries, self.rankings) = (summaries, rankings)
    }
}
