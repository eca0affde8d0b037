import Foundation

/// report.html: one self-contained page for a folder analysis (images inline as base64 PNG, no network): the
/// aggregated plot, the ranking with its confidence intervals, and a row per pair with thumbnails of both
/// images, the mask, the pair's top-layer difference map and its metrics, sortable by any column.
public enum HTMLReport {
    public static let file = "report.html"
    /// Side of the thumbnails and of the gathered difference maps, in pixels.
    public static let thumbnailSize = 96

    /// One pair's row: its thumbnails and, per column, the value sorted on.
    public struct PairRow {
        public let name: String
        public let thumbnails: [(label: String, png: [UInt8])]
        public let values: [Double]
    }

    /// The pair's top layer by l2_value, and its difference map scaled to its maximum at thumbnail size:
    /// what the rank that analysed the pair sends to rank 0.
    static func topMap(_ analysis: PairAnalysis) -> [Double] {
        guard let top = largestIndices(analysis.layers.map(\.l2), count: 1).first else { return [] }
        let map = analysis.maps[top]
        let values = bilinearResample(map.values, width: map.width, height: map.height,
                                      toWidth: thumbnailSize, toHeight: thumbnailSize)
        let peak = values.filter(\.isFinite).max() ?? 0
        return [Double(top)] + values.map { peak > 0 ? Double($0 / peak) : 0 }
    }

    /// Writes OUTPUT/report.html from the gathered results; `maps` holds `topMap` of each pair in pair order.
    static func write(pairs: [ImagePair], layers: [[LayerDifference]], maps: [[Double]], statistics: FolderStatistics,
                      imageSize: Int, to directory: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(file)
        let scratch = (directory as NSString).appendingPathComponent(".report-thumbnail.png")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        func png(_ image: RGB8Image) throws -> [UInt8] {
            try writePNG(image, to: scratch)
            guard let data = FileManager.default.contents(atPath: scratch) else { throw IOFailure("cannot read back \(scratch)") }
            return Array(data)
        }
        let s = thumbnailSize
        // Columns: each reported metric at the folder's top layer for it.
        let columns = statistics.metrics.compactMap { metric -> (title: String, metric: DifferenceMetric, layer: Int)? in
            guard let top = statistics.rankings[metric]?.first,
                  let index = layers.first?.firstIndex(where: { $0.layer == top.layer }) else { return nil }
            return ("\(metric.rawValue) @ \(top.layer)", metric, index)
        }
        var rows: [PairRow] = []
        for (index, pair) in pairs.enumerated() {
            var thumbnails = [("positive", try png(resizeBilinearPIL(try loadImage(path: pair.positive), width: s, height: s))),
                              ("negative", try png(resizeBilinearPIL(try loadImage(path: pair.negative), width: s, height: s)))]
            let mask = pair.masks.isEmpty ? nil : try LesionMask.load(pair.masks, size: s)
            if let mask {
                thumbnails.append(("mask", try png(RGB8Image(width: s, height: s, pixels: mask.coverage.flatMap { v in
                    [UInt8](repeating: UInt8((v * 255).rounded()), count: 3)
                }))))
            }
            let map = maps[index]
            if map.count == 1 + s * s {
                let contour = mask?.contour
                let pixels = (0..<s * s).flatMap { p -> [UInt8] in
                    if contour?[p] == true { return [0, 255, 255] }
                    let c = infernoColor(map[1 + p])
                    return [c.r, c.g, c.b]
                }
                thumbnails.append(("\(layers[index][Int(map[0])].layer) (top l2)", try png(RGB8Image(width: s, height: s, pixels: pixels))))
            }
            rows.append(PairRow(name: pair.name, thumbnails: thumbnails,
                                values: columns.map { layers[index][$0.layer].value(of: $0.metric) }))
        }
        let plot = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(AggregateReport.plotFile))
        try writeFileAtomically(page(rows: rows, columns: columns.map(\.title), plot: plot.map { Array($0) },
                                     statistics: statistics, imageSize: imageSize), to: path)
        return path
    }

    static func page(rows: [PairRow], columns: [String], plot: [UInt8]?, statistics: FolderStatistics, imageSize: Int) -> String {
        func image(_ png: [UInt8], _ alt: String) -> String {
            "<img alt=\"\(escape(alt))\" title=\"\(escape(alt))\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
        }
        func number(_ v: Double) -> String { v.isFinite ? String(format: "%.4g", v) : "–" }
        var html = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>vae-dist layer analysis</title>
            <style>
            body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}
            td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}
            #pairs th{cursor:pointer}td.name,th.name{text-align:left}img{vertical-align:middle;margin:1px}
            .same{color:#777}
            </style></head><body>
            <h1>Layer analysis: \(rows.count) pairs at \(imageSize) px</h1>

            """
        if let plot { html += "<h2>Means and bootstrap 95 % confidence intervals</h2>\n<p>\(image(plot, "aggregated differences"))</p>\n" }
        html += "<h2>Ranking (\(statistics.resamples) bootstrap resamples, seed \(statistics.seed))</h2>\n"
        html += "<p>≈ top: the paired bootstrap cannot tell the layer from the first (its 95 % interval of the difference contains 0).</p>\n"
        for metric in statistics.metrics {
            html += "<table><tr><th colspan=\"4\" class=\"name\">\(escape(metric.rawValue))</th></tr>"
                + "<tr><th>rank</th><th class=\"name\">layer</th><th>mean [95 % CI]</th><th></th></tr>\n"
            for (rank, row) in (statistics.rankings[metric] ?? []).prefix(AnalysisReport.topCount).enumerated() {
                html += "<tr><td>\(rank + 1)</td><td class=\"name\">\(escape(row.layer))</td><td>\(number(row.summary.mean)) "
                    + "[\(number(row.summary.ciLow)), \(number(row.summary.ciHigh))]</td>"
                    + "<td class=\"same\">\(rank > 0 && row.indistinguishableFromTop ? "≈ top" : "")</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<h2>Pairs (click a column to sort)</h2>\n<table id=\"pairs\"><thead><tr><th class=\"name\">pair</th><th class=\"name\">images</th>"
            + columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in rows {
            html += "<tr data-pair=\"\(escape(row.name))\"><td class=\"name\" data-value=\"\(escape(row.name))\">\(escape(row.name))</td><td class=\"name\">"
                + row.thumbnails.map { image($0.png, $0.label) }.joined() + "</td>"
                + row.values.map { "<td data-value=\"\($0.isFinite ? "\($0)" : "")\">\(number($0))</td>" }.joined() + "</tr>\n"
        }
        html += """
            </tbody></table>
            <script>
            document.querySelectorAll('#pairs th').forEach(function (th, column) {
              if (column === 1) return;
              th.addEventListener('click', function () {
                var body = document.querySelector('#pairs tbody');
                var descending = th.dataset.order !== 'desc';
                th.dataset.order = descending ? 'desc' : 'asc';
                var rows = Array.from(body.rows);
                rows.sort(function (a, b) {
                  var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
                  var nx = parseFloat(x), ny = parseFloat(y);
                  var order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
                  return descending ? -order : order;
                });
                rows.forEach(function (r) { body.appendChild(r); });
              });
            });
            </script>
            </body></html>

            """
        return html
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
