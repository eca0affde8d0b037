import Foundation
import VAECore

/// Writes a PNG (and its PDF) with a row of tiles: the base image, then each map bilinearly enlarged to the
/// image's size, coloured with an inferno ramp and blended over the image, each under its title (a second line
/// after "\n" in smaller type);
/// a colour bar on the right. All maps share one value range so their tiles compare directly.
/// Opacity grows with the value, so the image shows through where a map is low. `colorBarLabel`, if given,
/// is written beside the colour bar (what its values mean). `contour` (pixels of the base image, e.g. a lesion
/// mask's outline) is drawn in cyan on every tile.
public func writeHeatmapOverlays(path: String, base: (width: Int, height: Int, rgb: [UInt8]),
                                 maps: [(title: String, values: [Float], width: Int, height: Int)],
                                 colorBarLabel: String? = nil, contour: [Bool]? = nil) throws {
    guard base.width > 0, base.height > 0, base.rgb.count == base.width * base.height * 3 else {
        throw VAEDistError("heatmap \(path): base image has \(base.rgb.count) bytes, not 3 × \(base.width) × \(base.height)")
    }
    guard !maps.isEmpty else { throw VAEDistError("heatmap \(path): no maps") }
    if let contour, contour.count != base.width * base.height {
        throw VAEDistError("heatmap \(path): contour has \(contour.count) pixels, not \(base.width) × \(base.height)")
    }
    for map in maps where map.width <= 0 || map.height <= 0 || map.values.count != map.width * map.height {
        throw VAEDistError("heatmap \(path): map '\(map.title)' has \(map.values.count) values, not \(map.width) × \(map.height)")
    }
    let finite = maps.flatMap { $0.values.lazy.filter(\.isFinite) }
    let range = AxisScale(dataMin: Double(finite.min() ?? 0), dataMax: Double(finite.max() ?? 1), snapToTicks: false)

    // Small images are enlarged by a whole factor to stay crisp; large ones are shown smaller.
    let longest = Double(max(base.width, base.height))
    let scale = longest < 256 ? (256 / longest).rounded(.down) : min(1, 512 / longest)
    let tileWidth = Double(base.width) * scale, tileHeight = Double(base.height) * scale
    // A title's second line (after "\n") is set smaller, not bold.
    let gap = 16.0, titleHeight = maps.contains { $0.title.contains("\n") } ? 48.0 : 34.0, barArea = 110.0
    let tiles = ([(title: "image", rgb: base.rgb)] + maps.map { map in
        (title: map.title, rgb: overlay(map, on: base, range: range))
    }).map { tile in (title: tile.title, rgb: contour.map { drawContour($0, on: tile.rgb) } ?? tile.rgb) }
    try writeFigure(path: path, width: Int(gap + Double(tiles.count) * (tileWidth + gap) + barArea),
                    height: Int(titleHeight + tileHeight + 2 * gap)) { canvas in
        for (index, tile) in tiles.enumerated() {
            let x = gap + Double(index) * (tileWidth + gap)
            let lines = tile.title.split(separator: "\n", maxSplits: 1).map(String.init)
            canvas.text(canvas.fitted(lines.first ?? "", size: 13, maxWidth: tileWidth, bold: true), x: x + tileWidth / 2,
                        y: gap + 10, size: 13, align: .center, vertical: .middle, bold: true)
            if lines.count > 1 {
                canvas.text(canvas.fitted(lines[1], size: 11, maxWidth: tileWidth), x: x + tileWidth / 2, y: gap + 26,
                            size: 11, align: .center, vertical: .middle)
            }
            canvas.drawRGB(tile.rgb, width: base.width, height: base.height, x: x, y: gap + titleHeight, scale: scale)
        }
        drawColorBar(range, on: canvas, frame: PlotFrame(x: Double(canvas.width) - barArea + 8, y: gap + titleHeight,
                                                         width: 22, height: tileHeight))
        if let colorBarLabel {
            canvas.text(canvas.fitted(colorBarLabel, size: 11, maxWidth: tileHeight), x: Double(canvas.width) - 12,
                        y: gap + titleHeight + tileHeight / 2, size: 11, align: .center, vertical: .middle,
                        rotation: -Double.pi / 2)
        }
    }
}

/// The base image with the map's colours blended over it, at the base image's size.
private func overlay(_ map: (title: String, values: [Float], width: Int, height: Int),
                     on base: (width: Int, height: Int, rgb: [UInt8]), range: AxisScale) -> [UInt8] {
    let values = bilinearResample(map.values, width: map.width, height: map.height,
                                  toWidth: base.width, toHeight: base.height)
    return blendHeat(values.map { $0.isFinite ? (Double($0) - range.lower) / (range.upper - range.lower) : 0 }, over: base.rgb)
}

/// RGB pixels with the inferno colour of each `t` (0...1, one per pixel) blended over them; opacity grows with
/// `t` (30 % to 90 %), so the image shows through where the heat is low.
public func blendHeat(_ t: [Double], over rgb: [UInt8]) -> [UInt8] {
    precondition(rgb.count == 3 * t.count, "one heat value per pixel")
    var out = rgb
    for (pixel, value) in t.enumerated() {
        let color = infernoColor(value)
        let alpha = 0.3 + 0.6 * (value.isNaN ? 0 : min(1, max(0, value)))
        for (channel, heat) in [color.r, color.g, color.b].enumerated() {
            let i = pixel * 3 + channel
            out[i] = UInt8((Double(out[i]) * (1 - alpha) + Double(heat) * alpha).rounded())
        }
    }
    return out
}

public func drawContour(_ contour: [Bool], on rgb: [UInt8]) -> [UInt8] {
    var out = rgb
    for (pixel, on) in contour.enumerated() where on {
        (out[3 * pixel], out[3 * pixel + 1], out[3 * pixel + 2]) = (0, 255, 255)
    }
    return out
}

private func drawColorBar(_ range: AxisScale, on canvas: CairoCanvas, frame: PlotFrame) {
    let steps = max(2, Int(frame.height))
    for step in 0..<steps {
        let t = Double(step) / Double(steps - 1)
        canvas.fillRectangle(x: frame.x, y: frame.maxY - frame.height * Double(step + 1) / Double(steps),
                             width: frame.width, height: frame.height / Double(steps) + 0.5, color: infernoColor(t))
    }
    canvas.strokeRectangle(x: frame.x, y: frame.y, width: frame.width, height: frame.height, color: PlotStyle.ink)
    for tick in range.ticks {
        let y = range.position(of: tick, from: frame.maxY, to: frame.y)
        canvas.line(from: (frame.maxX, y), to: (frame.maxX + 5, y), color: PlotStyle.ink)
        canvas.text(range.label(tick), x: frame.maxX + 8, y: y, size: 11, vertical: .middle)
    }
}
