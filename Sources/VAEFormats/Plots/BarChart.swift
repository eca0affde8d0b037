import Foundation
import VAECore

/// Writes a PNG (and its PDF) with one bar panel per metric (e.g. l2 and cosine), stacked over a shared row of
/// labels drawn vertically so long names like `decoder.up.3.block.0` stay readable. Bars start at
/// zero; `errors` become ±1 whiskers; bars whose index is in `highlight` (or in the series' own
/// `highlight`, which replaces it for that panel) use the highlight colour. A `legend` under the title says what
/// the colours and whiskers mean.
public func writeBarChart(path: String, title: String, labels: [String], series: [BarSeries],
                          highlight: Set<Int> = [], legend: BarLegend? = nil) throws {
    guard !labels.isEmpty else { throw VAEDistError("bar chart \(path): no labels") }
    guard !series.isEmpty else { throw VAEDistError("bar chart \(path): no series") }
    for metric in series {
        guard metric.values.count == labels.count else {
            throw VAEDistError("bar chart \(path): '\(metric.name)' has \(metric.values.count) values for \(labels.count) labels")
        }
        if let errors = metric.errors, errors.count != labels.count {
            throw VAEDistError("bar chart \(path): '\(metric.name)' has \(errors.count) errors for \(labels.count) labels")
        }
        if let intervals = metric.intervals, intervals.count != labels.count {
            throw VAEDistError("bar chart \(path): '\(metric.name)' has \(intervals.count) intervals for \(labels.count) labels")
        }
    }
    for marked in [highlight] + series.compactMap(\.highlight) {
        if let outside = marked.first(where: { !labels.indices.contains($0) }) {
            throw VAEDistError("bar chart \(path): highlighted index \(outside) is not among the \(labels.count) labels")
        }
    }

    let left = 84.0, right = 24.0, titleHeight = 46.0, panelHeight = 280.0
    let slot = max(14.0, min(48.0, 900.0 / Double(labels.count)))
    let width = left + right + slot * Double(labels.count)
    let labelSize = max(8.0, min(12.0, slot * 0.75))
    let measure = try CairoCanvas(width: 1, height: 1)
    let maxLabelWidth = 320.0
    let labelHeight = min(maxLabelWidth, labels.map { measure.textWidth($0, size: labelSize) }.max() ?? 0) + 14
    // One legend under the title serves every panel: inside a panel it would hide bars.
    let legendEntries = legend.map { barLegendEntries($0, series: series, highlight: highlight) } ?? []
    let top = titleHeight + (legendEntries.isEmpty ? 0 : 24)
    try writeFigure(path: path, width: Int(max(width, 480, barLegendWidth(legendEntries, on: measure) + 32)),
                    height: Int(top + panelHeight * Double(series.count) + labelHeight)) { canvas in
        canvas.text(canvas.fitted(title, size: 18, maxWidth: Double(canvas.width) - 16, bold: true), x: Double(canvas.width) / 2,
                    y: titleHeight / 2, size: 18, align: .center, vertical: .middle, bold: true)
        drawBarLegend(legendEntries, on: canvas, centerX: Double(canvas.width) / 2, y: titleHeight + 4)
        var plot = PlotFrame(x: left, y: 0, width: slot * Double(labels.count), height: panelHeight - 36 - 14)
        for (index, metric) in series.enumerated() {
            plot.y = top + Double(index) * panelHeight + 36
            drawBars(metric, highlight: metric.highlight ?? highlight, on: canvas, plot: plot, slot: slot)
        }
        for (index, label) in labels.enumerated() {
            let x = plot.x + slot * (Double(index) + 0.5)
            canvas.text(canvas.fitted(label, size: labelSize, maxWidth: maxLabelWidth), x: x, y: plot.maxY + 8,
                        size: labelSize, align: .right, vertical: .middle, rotation: -Double.pi / 2)
        }
    }
}

private func drawBars(_ metric: BarSeries, highlight: Set<Int>, on canvas: CairoCanvas, plot: PlotFrame, slot: Double) {
    let finite = metric.values.indices.filter { metric.values[$0].isFinite }
    let low = finite.map { min(metric.values[$0], metric.whisker($0)?.low ?? .infinity) }.min() ?? 0
    let high = finite.map { max(metric.values[$0], metric.whisker($0)?.high ?? -.infinity) }.max() ?? 0
    let scale = AxisScale(dataMin: min(0, low), dataMax: max(0, high), snapToTicks: true)

    canvas.text(canvas.fitted(metric.name, size: 14, maxWidth: plot.width, bold: true), x: plot.x + plot.width / 2,
                y: plot.y - 18, size: 14, align: .center, vertical: .middle, bold: true)
    drawValueAxis(scale, on: canvas, plot: plot, label: canvas.fitted(metric.axisLabel ?? metric.name, size: 12, maxWidth: plot.height))
    let zero = scale.position(of: 0, from: plot.maxY, to: plot.y)
    for (index, value) in metric.values.enumerated() where value.isFinite {
        let x = plot.x + slot * Double(index)
        let top = scale.position(of: value, from: plot.maxY, to: plot.y)
        let color = highlight.contains(index) ? PlotStyle.highlightColor : PlotStyle.barColor
        canvas.fillRectangle(x: x + slot * 0.15, y: min(top, zero), width: slot * 0.7, height: abs(zero - top), color: color)
        guard let whisker = metric.whisker(index) else { continue }
        let center = x + slot / 2, cap = slot * 0.18
        let upper = scale.position(of: whisker.high, from: plot.maxY, to: plot.y)
        let lower = scale.position(of: whisker.low, from: plot.maxY, to: plot.y)
        canvas.line(from: (center, upper), to: (center, lower), color: PlotStyle.errorBar, width: 1.2)
        canvas.line(from: (center - cap, upper), to: (center + cap, upper), color: PlotStyle.errorBar, width: 1.2)
        canvas.line(from: (center - cap, lower), to: (center + cap, lower), color: PlotStyle.errorBar, width: 1.2)
    }
    canvas.line(from: (plot.x, zero), to: (plot.maxX, zero), color: PlotStyle.ink)
    canvas.strokeRectangle(x: plot.x, y: plot.y, width: plot.width, height: plot.height, color: PlotStyle.ink)
}

/// What a bar chart's colours and whiskers mean.
public struct BarLegend: Equatable, Sendable {
    public var highlighted: String
    public var others: String
    public var whiskers: String?

    public init(highlighted: String, others: String, whiskers: String? = nil) {
        (self.highlighted, self.others, self.whiskers) = (highlighted, others, whiskers)
    }
}

enum BarLegendKey { case bar(PlotColor), whisker }

/// The legend's entries: a swatch per bar colour in use, and the whiskers' meaning where some panel has whiskers.
private func barLegendEntries(_ legend: BarLegend, series: [BarSeries], highlight: Set<Int>) -> [(BarLegendKey, String)] {
    let highlighted = series.contains { metric in
        !(metric.highlight ?? highlight).isDisjoint(with: metric.values.indices.filter { metric.values[$0].isFinite })
    }
    let whiskers = series.contains { metric in metric.values.indices.contains { metric.whisker($0) != nil } }
    return (highlighted ? [(.bar(PlotStyle.highlightColor), legend.highlighted)] : [])
        + [(.bar(PlotStyle.barColor), legend.others)]
        + (whiskers ? legend.whiskers.map { [(.whisker, $0)] } ?? [] : [])
}

private let legendSize = 12.0, legendSwatch = 14.0, legendSpacing = 24.0

private func barLegendWidth(_ entries: [(BarLegendKey, String)], on canvas: CairoCanvas) -> Double {
    entries.map { legendSwatch + 6 + canvas.textWidth($0.1, size: legendSize) }.reduce(0, +)
        + legendSpacing * Double(max(0, entries.count - 1))
}

/// The entries in one row centred at `centerX`, their top at `y`.
private func drawBarLegend(_ entries: [(BarLegendKey, String)], on canvas: CairoCanvas, centerX: Double, y top: Double) {
    guard !entries.isEmpty else { return }
    let size = legendSize, swatch = legendSwatch, spacing = legendSpacing
    let widths = entries.map { swatch + 6 + canvas.textWidth($0.1, size: size) }
    var x = centerX - barLegendWidth(entries, on: canvas) / 2
    let y = top + 8
    for (entry, width) in zip(entries, widths) {
        switch entry.0 {
        case .bar(let color):
            canvas.fillRectangle(x: x, y: y - 5, width: swatch, height: 10, color: color)
        case .whisker:
            let center = x + swatch / 2
            canvas.line(from: (center, y - 7), to: (center, y + 7), color: PlotStyle.errorBar, width: 1.2)
            canvas.line(from: (center - 3, y - 7), to: (center + 3, y - 7), color: PlotStyle.errorBar, width: 1.2)
            canvas.line(from: (center - 3, y + 7), to: (center + 3, y + 7), color: PlotStyle.errorBar, width: 1.2)
        }
        canvas.text(entry.1, x: x + swatch + 6, y: y, size: size, vertical: .middle)
        x += width + spacing
    }
}
