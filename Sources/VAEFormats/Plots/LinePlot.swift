import Foundation
import VAECore

/// Writes a PNG (and its PDF) with one set of axes per panel, stacked, each with its own
/// scales, ticks, axis labels and legend: e.g. total and reconstruction loss over epochs in one
/// panel, KL in another. Non-finite points are left out; a lone point is drawn as a marker.
public func writeLinePlot(path: String, title: String, panels: [PlotPanel]) throws {
    guard !panels.isEmpty else { throw VAEDistError("line plot \(path): no panels") }
    for panel in panels {
        for series in panel.series where series.x.count != series.y.count {
            throw VAEDistError("line plot \(path): series '\(series.label)' has \(series.x.count) x and \(series.y.count) y values")
        }
    }
    let panelWidth = 960.0, panelHeight = 340.0, titleHeight = 46.0
    try writeFigure(path: path, width: Int(panelWidth), height: Int(titleHeight + panelHeight * Double(panels.count))) { canvas in
        canvas.text(title, x: Double(canvas.width) / 2, y: titleHeight / 2, size: 18, align: .center,
                    vertical: .middle, bold: true)
        for (row, panel) in panels.enumerated() {
            drawLinePanel(panel, on: canvas, frame: PlotFrame(x: 0, y: titleHeight + Double(row) * panelHeight,
                                                               width: panelWidth, height: panelHeight))
        }
    }
}

private func drawLinePanel(_ panel: PlotPanel, on canvas: CairoCanvas, frame: PlotFrame) {
    let points = panel.series.map { series in
        zip(series.x, series.y).filter { $0.0.isFinite && $0.1.isFinite }
    }
    let xs = points.flatMap { $0.map(\.0) }, ys = points.flatMap { $0.map(\.1) }
    // A margin keeps markers at the extremes off the frame.
    let xScale = AxisScale(dataMin: xs.min() ?? 0, dataMax: xs.max() ?? 1, snapToTicks: false, margin: 0.03,
                           wholeNumbers: xs.allSatisfy { $0 == $0.rounded() })
    let yScale = AxisScale(dataMin: ys.min() ?? 0, dataMax: ys.max() ?? 1, snapToTicks: true, margin: 0.03)
    let plot = PlotFrame(x: frame.x + 84, y: frame.y + 36, width: frame.width - 84 - 24, height: frame.height - 36 - 62)

    canvas.text(panel.title, x: plot.x + plot.width / 2, y: frame.y + 18, size: 14, align: .center,
                vertical: .middle, bold: true)
    drawValueAxis(yScale, on: canvas, plot: plot, label: panel.yLabel)
    for tick in xScale.ticks {
        let x = xScale.position(of: tick, from: plot.x, to: plot.maxX)
        canvas.line(from: (x, plot.y), to: (x, plot.maxY), color: PlotStyle.grid)
        canvas.line(from: (x, plot.maxY), to: (x, plot.maxY + 5), color: PlotStyle.ink)
        canvas.text(xScale.label(tick), x: x, y: plot.maxY + 8, size: 11, align: .center, vertical: .top)
    }
    canvas.text(panel.xLabel, x: plot.x + plot.width / 2, y: plot.maxY + 42, size: 12, align: .center,
                vertical: .middle)
    canvas.strokeRectangle(x: plot.x, y: plot.y, width: plot.width, height: plot.height, color: PlotStyle.ink)

    var drawn: [(Double, Double)] = []
    for (index, seriesPoints) in points.enumerated() {
        let color = PlotStyle.seriesColors[index % PlotStyle.seriesColors.count]
        let device = seriesPoints.map { (xScale.position(of: $0.0, from: plot.x, to: plot.maxX),
                                         yScale.position(of: $0.1, from: plot.maxY, to: plot.y)) }
        canvas.polyline(device, color: color, width: 2)
        // Markers show individual epochs while they are few, and make a lone point visible.
        if device.count <= 60 { device.forEach { canvas.fillCircle(center: $0, radius: 3.5, color: color) } }
        drawn += device + zip(device, device.dropFirst()).flatMap { a, b in
            (1..<8).map { i in (a.0 + (b.0 - a.0) * Double(i) / 8, a.1 + (b.1 - a.1) * Double(i) / 8) }
        }
    }
    drawLegend(panel.series.map(\.label), on: canvas, plot: plot, avoiding: drawn)
}

private func drawLegend(_ labels: [String], on canvas: CairoCanvas, plot: PlotFrame, avoiding drawn: [(Double, Double)]) {
    guard !labels.isEmpty else { return }
    let size = 11.0, lineHeight = 17.0, swatch = 22.0
    let textWidth = labels.map { canvas.textWidth($0, size: size) }.max() ?? 0
    let box = legendFrame(width: swatch + 14 + textWidth, height: lineHeight * Double(labels.count) + 8,
                          in: plot, avoiding: drawn)
    canvas.fillRectangle(x: box.x, y: box.y, width: box.width, height: box.height, color: PlotStyle.background, alpha: 0.9)
    canvas.strokeRectangle(x: box.x, y: box.y, width: box.width, height: box.height, color: PlotStyle.grid)
    for (index, label) in labels.enumerated() {
        let y = box.y + 4 + lineHeight * (Double(index) + 0.5)
        let color = PlotStyle.seriesColors[index % PlotStyle.seriesColors.count]
        canvas.line(from: (box.x + 6, y), to: (box.x + 6 + swatch, y), color: color, width: 2)
        canvas.text(label, x: box.x + 10 + swatch, y: y, size: size, vertical: .middle)
    }
}

/// The legend goes in the corner that hides the fewest of the drawn points (top right on a tie).
func legendFrame(width: Double, height: Double, in plot: PlotFrame, avoiding drawn: [(Double, Double)]) -> PlotFrame {
    let corners = [(plot.maxX - width - 8, plot.y + 8), (plot.x + 8, plot.y + 8),
                   (plot.maxX - width - 8, plot.maxY - height - 8), (plot.x + 8, plot.maxY - height - 8)]
    let candidates = corners.map { PlotFrame(x: $0.0, y: $0.1, width: width, height: height) }
    let hidden = candidates.map { box in
        drawn.filter { $0.0 >= box.x - 4 && $0.0 <= box.maxX + 4 && $0.1 >= box.y - 4 && $0.1 <= box.maxY + 4 }.count
    }
    return candidates[hidden.indices.min { hidden[$0] < hidden[$1] }!]
}
