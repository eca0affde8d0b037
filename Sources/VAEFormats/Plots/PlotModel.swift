/// One line in a line plot: points in drawing order.
public struct PlotSeries: Equatable, Sendable {
    public var label: String
    public var x: [Double]
    public var y: [Double]

    public init(label: String, x: [Double], y: [Double]) {
        self.label = label
        self.x = x
        self.y = y
    }
}

/// A set of axes with its own scales, e.g. total and reconstruction loss, or KL alone.
public struct PlotPanel: Equatable, Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]

    public init(title: String, xLabel: String = "epoch", yLabel: String = "loss", series: [PlotSeries]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }
}

/// One metric of a bar chart (one panel): a value per label and, optionally, its standard deviation and
/// the bars to highlight in this panel alone (each metric has its own largest values).
public struct BarSeries: Equatable, Sendable {
    public var name: String
    public var values: [Double]
    public var errors: [Double]?
    public var highlight: Set<Int>?
    /// Whiskers from `low` to `high` per bar (e.g. a confidence interval), instead of ± `errors`.
    public var intervals: [BarInterval]?
    /// The value axis's title (the quantity and its unit); the panel's `name` when nil.
    public var axisLabel: String?

    public init(name: String, values: [Double], errors: [Double]? = nil, highlight: Set<Int>? = nil,
                intervals: [BarInterval]? = nil, axisLabel: String? = nil) {
        self.name = name
        self.values = values
        self.errors = errors
        self.highlight = highlight
        self.intervals = intervals
        self.axisLabel = axisLabel
    }

    /// Bar `index`'s whisker ends, nil for none.
    func whisker(_ index: Int) -> (low: Double, high: Double)? {
        if let intervals {
            let i = intervals[index]
            return i.low.isFinite && i.high.isFinite && i.low < i.high ? (i.low, i.high) : nil
        }
        guard let error = errors.map({ abs($0[index]) }), error > 0, error.isFinite else { return nil }
        return (values[index] - error, values[index] + error)
    }
}

public struct BarInterval: Equatable, Sendable {
    public var low: Double
    public var high: Double

    public init(low: Double, high: Double) { (self.low, self.high) = (low, high) }
}

/// An opaque 8-bit colour.
public struct PlotColor: Equatable, Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }
}

/// The colours plots draw with; tests look for them in the written pixels.
public enum PlotStyle {
    public static let seriesColors = [PlotColor(31, 119, 180), PlotColor(255, 127, 14), PlotColor(44, 160, 44),
                                      PlotColor(214, 39, 40), PlotColor(148, 103, 189), PlotColor(140, 86, 75)]
    public static let barColor = PlotColor(70, 130, 180)
    public static let highlightColor = PlotColor(230, 85, 13)
    static let background = PlotColor(255, 255, 255)
    static let ink = PlotColor(30, 30, 30)
    static let grid = PlotColor(225, 225, 225)
    static let errorBar = PlotColor(40, 40, 40)
}
