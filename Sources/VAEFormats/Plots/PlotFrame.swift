/// A rectangle in device pixels: a panel, a plot area or a legend box.
struct PlotFrame {
    var x, y, width, height: Double
    var maxX: Double { x + width }
    var maxY: Double { y + height }
}

/// Horizontal grid lines, ticks and labels of a vertical value axis, and its rotated title.
func drawValueAxis(_ scale: AxisScale, on canvas: CairoCanvas, plot: PlotFrame, label: String) {
    for tick in scale.ticks {
        let y = scale.position(of: tick, from: plot.maxY, to: plot.y)
        canvas.line(from: (plot.x, y), to: (plot.maxX, y), color: PlotStyle.grid)
        canvas.line(from: (plot.x - 5, y), to: (plot.x, y), color: PlotStyle.ink)
        canvas.text(scale.label(tick), x: plot.x - 8, y: y, size: 11, align: .right, vertical: .middle)
    }
    canvas.text(label, x: plot.x - 66, y: plot.y + plot.height / 2, size: 12, align: .center,
                vertical: .middle, rotation: -Double.pi / 2)
}
