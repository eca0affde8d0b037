import Foundation
@testable import VAECore
@testable import VAEFormats
import XCTest

/// Every figure is also a PDF for papers; reconstruction grids are labelled and enlarged.
final class FigureTests: XCTestCase {
    /// The page size a PDF states, in points; fails unless the file is a one-page PDF.
    func pdfPageSize(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Int] {
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path), path, file: file, line: line)
        XCTAssertEqual(Array(bytes.prefix(5)), Array("%PDF-".utf8), "\(path) starts as a PDF", file: file, line: line)
        XCTAssertEqual(Array(bytes.suffix(6)).filter { $0 > 32 }, Array("%%EOF".utf8), "\(path) ends as a PDF", file: file, line: line)
        let text = String(decoding: bytes, as: UTF8.self)
        let regex = try NSRegularExpression(pattern: "/MediaBox \\[ *0 0 ([0-9.]+) ([0-9.]+) *\\]")
        let boxes = regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
        XCTAssertEqual(boxes.count, 1, "\(path): one page", file: file, line: line)
        let box = try XCTUnwrap(boxes.first, file: file, line: line)
        return (1...2).map { Int(Double(text[Range(box.range(at: $0), in: text)!])!) }
    }

    func testEveryFigureIsAlsoAPDFPageOfItsSize() throws {
        let directory = try makeScratchDirectory(self)
        let epochs = [1.0, 2, 3]
        try writeLinePlot(path: directory + "/curves.png", title: "training",
                          panels: [PlotPanel(title: "loss", series: [PlotSeries(label: "total", x: epochs, y: [3, 2, 1])])])
        try writeBarChart(path: directory + "/bars.png", title: "bars", labels: ["a", "b", "c"],
                          series: [BarSeries(name: "l2", values: [1, 2, 3], highlight: [2])],
                          legend: BarLegend(highlighted: "top", others: "rest"))
        try writeHeatmapOverlays(path: directory + "/maps.png", base: (4, 4, [UInt8](repeating: 90, count: 48)),
                                 maps: [(title: "m\nsecond line", values: (0..<16).map(Float.init), width: 4, height: 4)])
        let image = RGB8Image(width: 16, height: 8, pixels: (0..<384).map { UInt8($0 % 256) })
        try writeImageGrid(path: directory + "/grid.png", title: "grid", rowLabels: ["input", "reconstruction"],
                           columns: [ImageGridColumn(caption: "one", images: [image, image])])
        for name in ["curves", "bars", "maps", "grid"] {
            let png = try DecodedPNG(path: "\(directory)/\(name).png")
            XCTAssertEqual(try pdfPageSize("\(directory)/\(name).pdf"), [png.width, png.height], name)
        }
        XCTAssertEqual(figurePDFPath("a/b.PNG"), "a/b.pdf")
        XCTAssertEqual(figurePDFPath("a/b"), "a/b.pdf")
    }

    func testImageGridEnlargesTilesToAtLeast128PixelsAndPlacesEveryImage() throws {
        let directory = try makeScratchDirectory(self)
        // Distinct images, so each tile's pixels say which image is there.
        let images = (0..<3).map { (index: Int) -> RGB8Image in
            var pixels: [UInt8] = []
            for pixel in 0..<(64 * 48) { pixels += [UInt8(40 * index), UInt8(pixel % 64 * 4), UInt8(pixel / 64 * 5)] }
            return RGB8Image(width: 64, height: 48, pixels: pixels)
        }
        let columns = (0..<3).map { ImageGridColumn(caption: "image \($0)", images: [images[$0], images[2 - $0]]) }
        try writeImageGrid(path: directory + "/grid.png", title: "Reconstructions after epoch 3", subtitle: "64×48 px",
                           rowLabels: ["input", "reconstruction"], columns: columns, columnsPerBlock: 2)
        let png = try DecodedPNG(path: directory + "/grid.png")
        let layout = try ImageGridLayout(title: "Reconstructions after epoch 3", subtitle: "64×48 px",
                                         rowLabels: ["input", "reconstruction"], columns: 3, imageWidth: 64, imageHeight: 48,
                                         minimumTile: 128, columnsPerBlock: 2)
        XCTAssertEqual(layout.scale, 2, "64 px enlarged twice to 128")
        XCTAssertEqual(layout.blocks, 2, "three columns in blocks of two")
        XCTAssertEqual([png.width, png.height], [layout.width, layout.height])
        for (column, images) in columns.map({ (c: ImageGridColumn) in c.images }).enumerated() {
            for (row, image) in images.enumerated() {
                let origin = layout.tileOrigin(column: column, row: row)
                for (x, y) in [(0, 0), (63, 0), (17, 29), (63, 47)] {
                    let i = 3 * (y * 64 + x)
                    let expected = PlotColor(image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
                    // Each image pixel is a 2×2 block.
                    for (dx, dy) in [(0, 0), (1, 1)] {
                        XCTAssertEqual(png.color(x: Int(origin.x) + 2 * x + dx, y: Int(origin.y) + 2 * y + dy), expected,
                                       "column \(column) row \(row) pixel \(x),\(y)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(png.count(of: PlotColor(30, 30, 30), tolerance: 40), 200, "title and labels")

        XCTAssertEqual(ImageGridLayout(imageWidth: 16, imageHeight: 16, rows: 2, columns: 1, minimumTile: 128, columnsPerBlock: 8,
                                       labelWidth: 0, subtitle: false).scale, 8)
        XCTAssertEqual(ImageGridLayout(imageWidth: 200, imageHeight: 100, rows: 2, columns: 1, minimumTile: 128, columnsPerBlock: 8,
                                       labelWidth: 0, subtitle: false).scale, 1, "never shrunk, never blurred")
        let wide = ImageGridLayout(imageWidth: 16, imageHeight: 16, rows: 1, columns: 1, minimumTile: 128, columnsPerBlock: 8,
                                   labelWidth: 20, subtitle: false, textWidth: 600)
        XCTAssertGreaterThanOrEqual(wide.width, 600, "as wide as its title")
        // 64 images of 2048 px in blocks of 8 would be 131072 px tall: shown smaller, within Cairo's limits.
        let huge = ImageGridLayout(imageWidth: 2048, imageHeight: 2048, rows: 2, columns: 64, minimumTile: 128, columnsPerBlock: 8,
                                   labelWidth: 100, subtitle: true)
        XCTAssertLessThan(huge.scale, 1)
        XCTAssertLessThanOrEqual(max(huge.width, huge.height), 16384)
        XCTAssertEqual(huge.tileOrigin(column: 63, row: 1).y + huge.tileHeight + ImageGridLayout.margin, Double(huge.height), accuracy: 1)
    }

    func testImageGridRefusesRaggedInput() throws {
        let path = try makeScratchDirectory(self) + "/grid.png"
        let small = RGB8Image(width: 2, height: 2), large = RGB8Image(width: 4, height: 4)
        XCTAssertThrowsError(try writeImageGrid(path: path, title: "t", rowLabels: ["input", "reconstruction"],
                                                columns: [ImageGridColumn(caption: "a", images: [small])])) {
            XCTAssertTrue("\($0)".contains("column 'a' has 1 images for 2 rows"), "\($0)")
        }
        XCTAssertThrowsError(try writeImageGrid(path: path, title: "t", rowLabels: ["input"],
                                                columns: [ImageGridColumn(caption: "a", images: [small]),
                                                          ImageGridColumn(caption: "b", images: [large])])) {
            XCTAssertTrue("\($0)".contains("a 4×4 image among 2×2 ones"), "\($0)")
        }
        XCTAssertThrowsError(try writeImageGrid(path: path, title: "t", rowLabels: [], columns: []))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: figurePDFPath(path)))
    }

    /// The legend sits in a band under the title, outside every panel, and names only the colours in use.
    func testBarChartLegendIsABandUnderTheTitle() throws {
        let directory = try makeScratchDirectory(self)
        let series = [BarSeries(name: "l2", values: [1, 2, 3, 4], highlight: [3], intervals: (0..<4).map { _ in BarInterval(low: 0.5, high: 4.5) })]
        try writeBarChart(path: directory + "/legend.png", title: "t", labels: ["a", "b", "c", "d"], series: series,
                          legend: BarLegend(highlighted: "top 1 layers of each panel", others: "other layers", whiskers: "95 % CI"))
        try writeBarChart(path: directory + "/plain.png", title: "t", labels: ["a", "b", "c", "d"], series: series)
        let legend = try DecodedPNG(path: directory + "/legend.png"), plain = try DecodedPNG(path: directory + "/plain.png")
        XCTAssertEqual(legend.height, plain.height + 24)
        let band = (46..<70).flatMap { y in (0..<legend.width).map { legend.color(x: $0, y: y) } }
        XCTAssertGreaterThan(band.filter { $0 == PlotStyle.highlightColor }.count, 60, "the highlight swatch")
        XCTAssertGreaterThan(band.filter { $0 == PlotStyle.barColor }.count, 60, "the other bars' swatch")
        let plainBand = (46..<70).flatMap { y in (0..<plain.width).map { plain.color(x: $0, y: y) } }
        XCTAssertEqual(plainBand.filter { $0 == PlotStyle.highlightColor || $0 == PlotStyle.barColor }.count, 0)
        // Nothing highlighted: no highlight swatch.
        try writeBarChart(path: directory + "/none.png", title: "t", labels: ["a"], series: [BarSeries(name: "l2", values: [1])],
                          legend: BarLegend(highlighted: "top", others: "other layers"))
        XCTAssertEqual(try DecodedPNG(path: directory + "/none.png").count(of: PlotStyle.highlightColor), 0)
    }

    func testEpochAxesTickWholeEpochs() {
        let two = AxisScale(dataMin: 1, dataMax: 2, snapToTicks: false, margin: 0.03, wholeNumbers: true)
        XCTAssertEqual(two.ticks, [1, 2])
        let one = AxisScale(dataMin: 1, dataMax: 1, snapToTicks: false, margin: 0.03, wholeNumbers: true)
        XCTAssertEqual(one.ticks, [1])
        XCTAssertEqual(AxisScale(dataMin: 1, dataMax: 2, snapToTicks: false).ticks.count, 6, "fractions elsewhere")
    }
}

/// How figures name metrics and layers.
final class FigureLabelTests: XCTestCase {
    func testHeatIsBlendedOverTheImage() {
        let grey = [UInt8](repeating: 100, count: 6)
        // t = 0: 30 % of the ramp's black; t = 1: 90 % of its pale yellow.
        XCTAssertEqual(blendHeat([0, 1], over: grey), [70, 70, 71, 237, 239, 158])
        XCTAssertEqual(blendHeat([.nan, 2], over: grey), blendHeat([0, 1], over: grey))
    }
}
