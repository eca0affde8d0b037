@testable import VAEFormats
import XCTest

final class PlotTests: XCTestCase {
    private let white = PlotColor(255, 255, 255)

    func testLinePlotDrawsEachSeriesInItsColour() throws {
        let path = try makeScratchDirectory(self) + "/curves/training.png"
        let epochs = (1...10).map(Double.init)
        try writeLinePlot(path: path, title: "training", panels: [
            PlotPanel(title: "loss", series: [
                PlotSeries(label: "total", x: epochs, y: epochs.map { 2 / $0 + 0.3 }),
                PlotSeries(label: "reconstruction", x: epochs, y: epochs.map { 1 / $0 + 0.2 }),
            ]),
            PlotPanel(title: "KL", yLabel: "KL", series: [PlotSeries(label: "kl", x: epochs, y: epochs.map { 1e-4 * $0 })]),
        ])
        let png = try DecodedPNG(path: path)
        XCTAssertEqual(png.width, 960)
        XCTAssertEqual(png.height, 46 + 2 * 340)
        XCTAssertGreaterThan(png.count(of: PlotStyle.seriesColors[0]), 300)
        XCTAssertGreaterThan(png.count(of: PlotStyle.seriesColors[1]), 300)
        XCTAssertEqual(png.count(of: PlotStyle.seriesColors[2]), 0, "only two series per panel")
        XCTAssertGreaterThan(png.count(of: PlotColor(30, 30, 30), tolerance: 10), 1000, "axes, ticks and text")
        XCTAssertLessThan(png.count(of: white), png.pixels.count)
    }

    func testLinePlotWithALonePointAndAConstantSeries() throws {
        let path = try makeScratchDirectory(self) + "/degenerate.png"
        try writeLinePlot(path: path, title: "first epoch", panels: [
            PlotPanel(title: "one point", series: [PlotSeries(label: "total", x: [1], y: [0.25])]),
            PlotPanel(title: "constant", series: [PlotSeries(label: "kl", x: [1, 2, 3], y: [0, 0, 0]),
                                                  PlotSeries(label: "empty", x: [], y: [])]),
        ])
        let png = try DecodedPNG(path: path)
        XCTAssertEqual(png.width, 960)
        XCTAssertEqual(png.height, 46 + 2 * 340)
        // The lone point's marker in the top panel and the constant line in the bottom one.
        let top = (46..<46 + 340).flatMap { y in (0..<png.width).map { png.color(x: $0, y: y) } }
        XCTAssertGreaterThan(top.filter { $0 == PlotStyle.seriesColors[0] }.count, 10)
        XCTAssertGreaterThan(png.count(of: PlotStyle.seriesColors[0]), 500)
    }

    func testLegendTakesTheCornerTheDataLeaveFree() {
        let plot = PlotFrame(x: 0, y: 0, width: 400, height: 200)
        func corner(_ drawn: [(Double, Double)]) -> (Double, Double) {
            let frame = legendFrame(width: 80, height: 30, in: plot, avoiding: drawn)
            return (frame.x, frame.y)
        }
        XCTAssertTrue(corner([]) == (312, 8), "top right when nothing is in the way")
        let rising = (0...40).map { (Double($0) * 10, 200 - Double($0) * 5) }
        XCTAssertTrue(corner(rising) == (8, 8), "top left beside a rising curve")
        let falling = (0...40).map { (Double($0) * 10, Double($0) * 5) }
        XCTAssertTrue(corner(falling) == (312, 8), "top right beside a falling curve")
        let topRow = (0...40).map { (Double($0) * 10, 20.0) }
        XCTAssertTrue(corner(topRow + [(390, 190)]) == (8, 162), "bottom left when the top and bottom right are taken")
    }

    func testLinePlotRejectsMismatchedSeries() throws {
        let path = try makeScratchDirectory(self) + "/bad.png"
        XCTAssertThrowsError(try writeLinePlot(path: path, title: "t", panels: [
            PlotPanel(title: "loss", series: [PlotSeries(label: "total", x: [1, 2], y: [1])]),
        ])) { XCTAssertTrue("\($0)".contains("'total' has 2 x and 1 y values"), "\($0)") }
        XCTAssertThrowsError(try writeLinePlot(path: path, title: "t", panels: []))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testBarChartHighlightsOnlyTheChosenBars() throws {
        let directory = try makeScratchDirectory(self)
        let labels = (0..<12).map { "decoder.up.\($0 / 3).block.\($0 % 3).conv_shortcut" }
        let series = [
            BarSeries(name: "l2", values: (0..<12).map { Double($0) * 0.1 + 0.05 }, errors: (0..<12).map { _ in 0.02 }),
            BarSeries(name: "cosine", values: (0..<12).map { $0 % 2 == 0 ? 0.9 : -0.3 }),
        ]
        try writeBarChart(path: directory + "/highlighted.png", title: "layer sensitivity", labels: labels,
                          series: series, highlight: [3, 7])
        try writeBarChart(path: directory + "/plain.png", title: "layer sensitivity", labels: labels,
                          series: series, highlight: [])
        let highlighted = try DecodedPNG(path: directory + "/highlighted.png")
        let plain = try DecodedPNG(path: directory + "/plain.png")
        XCTAssertEqual(highlighted.width, plain.width)
        XCTAssertEqual(highlighted.width, 84 + 24 + 12 * 48)
        // Two panels of 280 px under a 46 px title, then the vertical labels.
        XCTAssertGreaterThan(highlighted.height, 46 + 2 * 280 + 150)
        XCTAssertGreaterThan(highlighted.count(of: PlotStyle.highlightColor), 2 * 500)
        XCTAssertEqual(plain.count(of: PlotStyle.highlightColor), 0)
        XCTAssertGreaterThan(plain.count(of: PlotStyle.barColor), highlighted.count(of: PlotStyle.barColor))
        XCTAssertGreaterThan(highlighted.count(of: PlotColor(40, 40, 40), tolerance: 6), 50, "error bars")
    }

    /// Each metric has its own top layers: a series' highlight replaces the chart's for that panel only.
    func testBarChartHighlightsPerSeries() throws {
        let directory = try makeScratchDirectory(self)
        let labels = (0..<6).map { "layer \($0)" }
        let values = (0..<6).map { Double($0) + 1 }
        try writeBarChart(path: directory + "/one.png", title: "t", labels: labels,
                          series: [BarSeries(name: "a", values: values, highlight: [0]), BarSeries(name: "b", values: values)])
        try writeBarChart(path: directory + "/both.png", title: "t", labels: labels,
                          series: [BarSeries(name: "a", values: values, highlight: [0]),
                                   BarSeries(name: "b", values: values, highlight: [0])])
        let one = try DecodedPNG(path: directory + "/one.png").count(of: PlotStyle.highlightColor)
        let both = try DecodedPNG(path: directory + "/both.png").count(of: PlotStyle.highlightColor)
        XCTAssertGreaterThan(one, 100)
        XCTAssertEqual(both, 2 * one)
        XCTAssertThrowsError(try writeBarChart(path: directory + "/bad.png", title: "t", labels: labels,
                                               series: [BarSeries(name: "a", values: values, highlight: [6])])) {
            XCTAssertTrue("\($0)".contains("highlighted index 6"), "\($0)")
        }
    }

    func testBarChartRejectsInconsistentInput() throws {
        let path = try makeScratchDirectory(self) + "/bad.png"
        XCTAssertThrowsError(try writeBarChart(path: path, title: "t", labels: ["a", "b"],
                                               series: [BarSeries(name: "l2", values: [1])])) {
            XCTAssertTrue("\($0)".contains("'l2' has 1 values for 2 labels"), "\($0)")
        }
        XCTAssertThrowsError(try writeBarChart(path: path, title: "t", labels: ["a"],
                                               series: [BarSeries(name: "l2", values: [1], errors: [1, 2])]))
        XCTAssertThrowsError(try writeBarChart(path: path, title: "t", labels: ["a"],
                                               series: [BarSeries(name: "l2", values: [1])], highlight: [1])) {
            XCTAssertTrue("\($0)".contains("highlighted index 1"), "\($0)")
        }
    }

    func testHeatmapOverlaysBlendTheRampOverTheImage() throws {
        let path = try makeScratchDirectory(self) + "/overlay.png"
        let gray = PlotColor(128, 128, 128)
        let base = (width: 32, height: 24, rgb: [UInt8](repeating: 128, count: 32 * 24 * 3))
        try writeHeatmapOverlays(path: path, base: base, maps: [
            (title: "high everywhere", values: [Float](repeating: 1, count: 8 * 6), width: 8, height: 6),
            (title: "ramp", values: (0..<12).map { Float($0) / 11 }, width: 4, height: 3),
        ])
        let png = try DecodedPNG(path: path)
        // 32×24 is enlarged 8 times; three tiles (image first) and a colour bar.
        XCTAssertEqual(png.width, 16 + 3 * (256 + 16) + 110)
        XCTAssertEqual(png.height, 34 + 192 + 32)
        XCTAssertGreaterThanOrEqual(png.count(of: gray, tolerance: 0), 256 * 192)
        // The maximum, 90 % opaque: (252, 255, 164) over grey.
        let hottest = PlotColor(239, 242, 160)
        XCTAssertGreaterThan(png.count(of: hottest), 256 * 192)
        // The ramp's minimum corner, 30 % opaque: (0, 0, 4) over grey.
        XCTAssertEqual(png.color(x: 16 + 2 * 272 + 2, y: 34 + 16 + 2), PlotColor(90, 90, 91))
    }

    func testHeatmapRejectsMapsOfTheWrongSize() throws {
        let path = try makeScratchDirectory(self) + "/bad.png"
        let base = (width: 2, height: 2, rgb: [UInt8](repeating: 0, count: 12))
        XCTAssertThrowsError(try writeHeatmapOverlays(path: path, base: base,
                                                      maps: [(title: "m", values: [1, 2, 3], width: 2, height: 2)])) {
            XCTAssertTrue("\($0)".contains("map 'm' has 3 values"), "\($0)")
        }
        XCTAssertThrowsError(try writeHeatmapOverlays(path: path, base: (width: 2, height: 2, rgb: [0]), maps: []))
    }

    func testUnwritablePathThrowsNamingThePath() throws {
        let directory = try makeScratchDirectory(self)
        let notADirectory = directory + "/file"
        XCTAssertTrue(FileManager.default.createFile(atPath: notADirectory, contents: Data([1])))
        let path = notADirectory + "/plot.png"
        let base = (width: 1, height: 1, rgb: [UInt8](repeating: 0, count: 3))
        let writers: [() throws -> Void] = [
            { try writeLinePlot(path: path, title: "t", panels: [PlotPanel(title: "p", series: [])]) },
            { try writeBarChart(path: path, title: "t", labels: ["a"], series: [BarSeries(name: "l2", values: [1])]) },
            { try writeHeatmapOverlays(path: path, base: base, maps: [(title: "m", values: [0], width: 1, height: 1)]) },
        ]
        for write in writers {
            XCTAssertThrowsError(try write()) { XCTAssertTrue("\($0)".contains(path), "\($0)") }
        }
    }

    func testBilinearResampleSamplesPixelCentres() {
        XCTAssertEqual(bilinearResample([0, 1], width: 2, height: 1, toWidth: 4, toHeight: 1), [0, 0.25, 0.75, 1])
        XCTAssertEqual(bilinearResample([1, 2, 3, 4], width: 2, height: 2, toWidth: 2, toHeight: 2), [1, 2, 3, 4])
        XCTAssertEqual(bilinearResample([5], width: 1, height: 1, toWidth: 3, toHeight: 2), [Float](repeating: 5, count: 6))
        XCTAssertEqual(bilinearResample([0, 4], width: 1, height: 2, toWidth: 1, toHeight: 4), [0, 1, 3, 4])
    }

    func testInfernoRampGetsBrighterThroughout() {
        XCTAssertEqual(infernoColor(0), PlotColor(0, 0, 4))
        XCTAssertEqual(infernoColor(1), PlotColor(252, 255, 164))
        XCTAssertEqual(infernoColor(-1), infernoColor(0))
        XCTAssertEqual(infernoColor(.nan), infernoColor(0))
        let luminance = stride(from: 0.0, through: 1.0, by: 0.02).map { t -> Double in
            let c = infernoColor(t)
            return 0.2126 * Double(c.r) + 0.7152 * Double(c.g) + 0.0722 * Double(c.b)
        }
        XCTAssertEqual(luminance, luminance.sorted())
        XCTAssertEqual(Set(luminance).count, luminance.count)
    }

    func testAxisTicksAreNiceAndLabelsDistinct() {
        let unit = AxisScale(dataMin: 0, dataMax: 1, snapToTicks: true)
        XCTAssertEqual(unit.ticks, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(unit.ticks.map(unit.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])

        let constant = AxisScale(dataMin: 3, dataMax: 3, snapToTicks: false)
        XCTAssertLessThan(constant.lower, 3)
        XCTAssertGreaterThan(constant.upper, 3)
        XCTAssertEqual(constant.position(of: 3, from: 0, to: 100), 50, accuracy: 1e-9)

        let zero = AxisScale(dataMin: 0, dataMax: 0, snapToTicks: true)
        XCTAssertEqual(zero.lower, -1)
        XCTAssertEqual(zero.upper, 1)

        let epochs = AxisScale(dataMin: 1, dataMax: 40, snapToTicks: false)
        XCTAssertEqual(epochs.ticks.map(epochs.label), ["10", "20", "30", "40"])

        let tiny = AxisScale(dataMin: 1.00001, dataMax: 1.00004, snapToTicks: true)
        XCTAssertEqual(Set(tiny.ticks.map(tiny.label)).count, tiny.ticks.count, "\(tiny.ticks.map(tiny.label))")

        let huge = AxisScale(dataMin: 0, dataMax: 3e7, snapToTicks: true)
        XCTAssertEqual(huge.label(2.5e7), "2.5e+07")
        XCTAssertEqual(Set(huge.ticks.map(huge.label)).count, huge.ticks.count)
    }
}
