import Foundation
@testable import VAEAnalysis
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
@testable import VAETools
import XCTest

/// report.html, checked by parsing the page: phantoms with lesion masks, a random-weight model.
final class HTMLReportTests: TemporaryDirectoryTestCase {
    /// Names a user's files could have, with every character HTML gives a meaning to.
    let awkwardNames = ["benign (1)", "a<b>&\"c'", "</td><script>alert(1)</script>"]

    /// Three phantom pairs with masks analysed at 64 px; their results under `awkwardNames`.
    func analysedPhantoms(side: Int = 128, names: [String]? = nil) throws
        -> (pairs: [(name: String, layers: [LayerDifference])], images: [ReportPairImages]) {
        let awkwardNames = names ?? self.awkwardNames
        _ = try writePhantoms(PhantomOptions(outputDirectory: dir, trainingCount: 1, pairCount: awkwardNames.count, imageSize: 64, seed: 4))
        let folder = try PairFolder.scan("\(dir!)/pairs")
        let model = AutoencoderKL(VAEConfig(ch: 32, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4,
                                            embedDim: 4, resolution: 64))
        model.initialize(seed: 1)
        var pairs: [(name: String, layers: [LayerDifference])] = [], images: [ReportPairImages] = []
        for (pair, name) in zip(folder.pairs, awkwardNames) {
            let loaded = (try loadResized(pair.positive, size: 64), try loadResized(pair.negative, size: 64))
            let analysis = PairAnalysis(images: loaded, mask: try LesionMask.load(pair.masks, size: 64), with: model)
            pairs.append((name, analysis.layers))
            images.append(try ReportPairImages(name: name, analysis: analysis, images: loaded, side: side))
        }
        return (pairs, images)
    }

    /// Every `attribute="value"` of the page's tags, values unescaped.
    func attributes(_ name: String, in page: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: "\\s\(name)=\"([^\"]*)\"")
        return regex.matches(in: page, range: NSRange(page.startIndex..., in: page)).map { match in
            unescaped(String(page[Range(match.range(at: 1), in: page)!]))
        }
    }

    func unescaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// A data URI's PNG, decoded by the project's decoder (through a file, as users' browsers would read it).
    func decodeDataURI(_ uri: String) throws -> RGB8Image {
        let prefix = "data:image/png;base64,"
        XCTAssertTrue(uri.hasPrefix(prefix), String(uri.prefix(40)))
        let data = try XCTUnwrap(Data(base64Encoded: String(uri.dropFirst(prefix.count))), "base64 of an <img>")
        let path = "\(dir!)/decoded-\(UUID().uuidString).png"
        try data.write(to: URL(fileURLWithPath: path))
        return try loadImage(path: path)
    }

    func testThePageHoldsEveryPairDecodableInlineImagesAndASortControlPerMetric() throws {
        let (pairs, images) = try analysedPhantoms()
        let statistics = FolderStatistics(pairs: pairs, method: .both, resamples: 200, seed: 3)
        let settings = AnalysisSettings(imageSize: 64, bootstrap: 200)
        let plot = "\(dir!)/aggregated_differences.png"
        try writePNG(RGB8Image(width: 40, height: 30, pixels: (0..<3600).map { UInt8($0 % 251) }), to: plot)
        let path = try HTMLReport.write(pairs: pairs, statistics: statistics, plots: [plot], images: images, settings: settings, to: dir)
        XCTAssertEqual(path, "\(dir!)/report.html")
        let page = try String(contentsOfFile: path, encoding: .utf8)

        // Every pair has its row, its name escaped: no name's markup leaks into the page.
        for name in awkwardNames {
            XCTAssertTrue(page.contains("<tr data-pair=\"\(HTMLReport.escaped(name))\"><td data-v=\"\(HTMLReport.escaped(name))\">\(HTMLReport.escaped(name))</td>"), name)
        }
        XCTAssertFalse(page.contains("<script>alert"))
        XCTAssertEqual(page.components(separatedBy: "<script>").count, 2, "only the page's own script")
        XCTAssertEqual(Set(attributes("data-v", in: page)).intersection(awkwardNames).count, awkwardNames.count)

        // Images: the plot, then positive, negative, mask and map of each pair, all PNG data URIs that decode.
        let sources = attributes("src", in: page)
        XCTAssertEqual(sources.count, 1 + 4 * pairs.count)
        let decoded = try sources.map(decodeDataURI)
        XCTAssertEqual(decoded[0], try loadImage(path: plot))
        for image in decoded.dropFirst() { XCTAssertEqual([image.width, image.height], [64, 64]) }
        let alts = attributes("alt", in: page)
        for name in awkwardNames {
            for picture in ["positive", "negative", "mask", "difference map"] { XCTAssertTrue(alts.contains("\(picture) of \(name)")) }
        }

        // Nothing leaves the page.
        for link in sources + attributes("href", in: page) { XCTAssertFalse(link.lowercased().contains("http"), String(link.prefix(60))) }
        XCTAssertFalse(page.contains("http"))

        // A sort button per metric column (and the name and area columns), each pointing at its own column; the
        // metric in words, its key and unit in the heading's title.
        let headings = try pairHeadings(page)
        XCTAssertEqual(headings.count, 1 + 4 + 1 + statistics.metrics.count, "pair, pictures, lesion area, metrics")
        XCTAssertTrue(headings.contains { $0.contains(">lesion area</button>") })
        for metric in statistics.metrics {
            let column = try XCTUnwrap(headings.firstIndex { $0.contains("(\(metric.rawValue)): \(HTMLReport.escaped(metric.unit))") }, metric.rawValue)
            XCTAssertTrue(headings[column].contains("><button class=\"sort\" data-col=\"\(column)\" data-type=\"num\">\(metric.shortTitle)</button>"),
                          headings[column])
        }
        XCTAssertTrue(headings.first!.hasPrefix(" aria-sort=\"ascending\"><button class=\"sort\" data-col=\"0\" data-type=\"text\">pair"))
        XCTAssertFalse(headings.contains { $0.contains("map layer") }, "the same in every row: said once above the table")
        XCTAssertTrue(page.contains("querySelectorAll('#pairs button.sort')"))

        // Each metric cell holds the pair's exact value at the folder's top layer of that metric.
        let l2Top = try XCTUnwrap(statistics.rankings[.l2Value]?.first?.layer)
        for pair in pairs {
            let value = try XCTUnwrap(pair.layers.first { $0.layer == l2Top }).l2
            XCTAssertTrue(page.contains("<td data-v=\"\(value)\">"), "\(pair.name) l2_value")
        }

        // The ranking: a table per metric with every layer, CIs shown.
        for metric in statistics.metrics {
            let table = try XCTUnwrap(page.components(separatedBy: "<small>(\(metric.rawValue))</small></summary>").dropFirst().first?
                .components(separatedBy: "</table>").first, metric.rawValue)
            XCTAssertEqual(table.components(separatedBy: "<tr><td>").count - 1, pairs[0].layers.count, metric.rawValue)
            let top = try XCTUnwrap(statistics.rankings[metric]?.first)
            XCTAssertTrue(table.contains("<td>1</td><td>\(top.layer)</td>"), metric.rawValue)
        }
    }

    /// The pairs table's headings, each from after its `<th` to its `</th>`.
    func pairHeadings(_ page: String) throws -> [String] {
        let header = try XCTUnwrap(page.components(separatedBy: "<table id=\"pairs\"><thead><tr>").last?
            .components(separatedBy: "</tr></thead>").first)
        return header.components(separatedBy: "<th").dropFirst().map { $0.components(separatedBy: "</th>")[0] }
    }

    /// The text of each `<td data-v="…">` cell of the pairs table by row, in page order.
    func pairRows(_ page: String) throws -> [(pair: String, cells: [String])] {
        let body = try XCTUnwrap(page.components(separatedBy: "<tbody>\n").last?.components(separatedBy: "\n</tbody>").first)
        let cell = try NSRegularExpression(pattern: "<td data-v=\"[^\"]*\"[^>]*>([^<]*)(<i>undefined</i>)?</td>")
        return body.components(separatedBy: "\n").map { row in
            let pair = unescaped(row.components(separatedBy: "data-pair=\"")[1].components(separatedBy: "\"")[0])
            let cells = cell.matches(in: row, range: NSRange(row.startIndex..., in: row)).map { match in
                match.range(at: 2).location != NSNotFound ? "undefined" : String(row[Range(match.range(at: 1), in: row)!])
            }
            return (pair, Array(cells.dropFirst()))
        }
    }

    /// Rows in natural order of names (sorted so, the name heading says); the map layer said once when every pair's
    /// map is of the same layer, under each map otherwise; every number column in one format.
    func testRowsInNaturalOrderOneFormatPerColumnAndTheMapLayerOnce() throws {
        let names = ["benign (10)", "benign (2)", "benign (1)", "Benign (11)"]
        let (pairs, images) = try analysedPhantoms(side: 32, names: names)
        let statistics = FolderStatistics(pairs: pairs, method: .both, resamples: 50, seed: 3)
        let page = HTMLReport.page(pairs: pairs, statistics: statistics, plots: [], images: images, settings: AnalysisSettings())
        let rows = try pairRows(page)
        XCTAssertEqual(rows.map(\.pair), ["benign (1)", "benign (2)", "benign (10)", "Benign (11)"])
        XCTAssertEqual(try pairHeadings(page).filter { $0.contains("aria-sort") }.count, 1)

        // One format per column: the same number of decimals, or scientific notation throughout.
        let columns = rows[0].cells.indices.map { column in rows.map { $0.cells[column] }.filter { $0 != "undefined" } }
        XCTAssertEqual(columns.count, 1 + statistics.metrics.count, "lesion area and metrics")
        for column in columns {
            let shapes = Set(column.map { text in "\(text.contains("e")) \(text.components(separatedBy: ".").dropFirst().first?.prefix { $0.isNumber }.count ?? 0)" })
            XCTAssertEqual(shapes.count, 1, "\(column)")
        }

        let layers = Set(images.map(\.mapLayer))
        XCTAssertEqual(layers.count, 1, "phantoms of one model share their top layer")
        XCTAssertTrue(page.contains("at <b>\(HTMLReport.escaped(pairs[0].layers.first { $0.layer == layers.first }!.labelWithResolution))</b>"))
        // Pairs whose maps are of different layers: each map names its layer.
        var mixed = images
        mixed[1] = ReportPairImages(name: images[1].name, mapLayer: "decoder.conv_in", positive: images[1].positive,
                                    negative: images[1].negative, mask: images[1].mask, map: images[1].map)
        let mixedPage = HTMLReport.page(pairs: pairs, statistics: statistics, plots: [], images: mixed, settings: AnalysisSettings())
        XCTAssertTrue(mixedPage.contains("named under its map"))
        XCTAssertTrue(mixedPage.contains("<small>decoder.<wbr>conv_in</small>"))
        XCTAssertEqual(mixedPage.components(separatedBy: "<small>\(HTMLReport.breakable(layers.first!))</small>").count - 1, 3)
    }

    func testColumnNumberFormats() {
        let big = ColumnNumberFormat([73012.4, 64030])
        XCTAssertEqual([73012.4, 64030].map { big($0) }, ["73012", "64030"])
        let mixed = ColumnNumberFormat([0.5, 0.0123, 0.25])
        XCTAssertEqual([0.5, 0.0123].map { mixed($0) }, ["0.5000", "0.0123"])
        let huge = ColumnNumberFormat([3e7, 1])
        XCTAssertEqual([3e7, 1].map { huge($0) }, ["3.000e+07", "1.000e+00"])
        let tiny = ColumnNumberFormat([1e-5, 2e-5])
        XCTAssertEqual(tiny(1e-5), "1.000e-05")
        let spread = ColumnNumberFormat([0.5, 0.00001])
        XCTAssertEqual(spread(0.00001), "1.000e-05", "fixed decimals would write it as 0")
        XCTAssertEqual(spread(0.5), "5.000e-01")
        XCTAssertEqual(ColumnNumberFormat([12.5, -3.25])(-3.25), "-3.25")
        let zeros = ColumnNumberFormat([0, -0.0])
        XCTAssertEqual([0, -0.0].map { zeros($0) }, ["0", "0"])
        XCTAssertEqual(ColumnNumberFormat([])(.nan), "undefined")
        XCTAssertEqual(ColumnNumberFormat([.nan, .infinity, 2])(2), "2.000", "undefined values do not choose the format")
    }

    /// Thumbnails are downscaled; the map shows the lesion's contour (cyan) over the inferno heat.
    func testThumbnailsAreDownscaledAndTheMapCarriesTheMaskContour() throws {
        let (_, images) = try analysedPhantoms(side: 32)
        for pair in images {
            let pictures = try [pair.positive, pair.negative, pair.mask, pair.map].map { png -> RGB8Image in
                let path = "\(dir!)/thumb-\(UUID().uuidString).png"
                try Data(png).write(to: URL(fileURLWithPath: path))
                return try loadImage(path: path)
            }
            for picture in pictures { XCTAssertEqual([picture.width, picture.height], [32, 32], pair.name) }
            let cyan = stride(from: 0, to: pictures[3].pixels.count, by: 3).filter {
                Array(pictures[3].pixels[$0..<$0 + 3]) == [0, 255, 255]
            }
            XCTAssertGreaterThan(cyan.count, 4, "\(pair.name): the mask contour on the map")
            XCTAssertTrue(pictures[2].pixels.contains(255) && pictures[2].pixels.contains(0), "\(pair.name): mask inside and outside")
        }
    }

    func testPicturesOfOtherPairsAreRefusedNamingTheReport() throws {
        let layers = [LayerDifference(layer: "decoder.conv_in", shape: [1, 4, 8, 8], l2: 1, cosine: 0.5)]
        let pairs = [(name: "a", layers: layers), (name: "b", layers: layers)]
        let statistics = FolderStatistics(pairs: pairs, method: .both, resamples: 10, seed: 1)
        let images = ["b", "a"].map { ReportPairImages(name: $0, mapLayer: "decoder.conv_in", positive: [], negative: [], mask: [], map: []) }
        XCTAssertThrowsError(try HTMLReport.write(pairs: pairs, statistics: statistics, plots: [], images: images,
                                                  settings: AnalysisSettings(), to: dir)) { error in
            XCTAssertTrue("\(error)".contains("report.html"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/report.html"))
    }

    func testEscapingCoversEveryMarkupCharacter() {
        XCTAssertEqual(HTMLReport.escaped("<a href='x'>\"&amp;\" é</a>"),
                       "&lt;a href=&#39;x&#39;&gt;&quot;&amp;amp;&quot; é&lt;/a&gt;")
    }
}
