import Foundation
import VAECore
import VAEFormats

/// report.html of a folder analysis: one self-contained page (images inline as PNG data URIs, a few lines of
/// inline JavaScript, nothing fetched) with the aggregated plots, the layer ranking with its CIs and a row per
/// pair, sortable by any column.
public enum HTMLReport {
    public static let file = "report.html"

    /// Writes `directory`/report.html atomically; `plots` are PNG files (the aggregated plots) to inline.
    /// `images` must be the pairs' pictures in the order of `pairs`. Returns the page's path.
    @discardableResult
    public static func write(pairs: [(name: String, layers: [LayerDifference])], statistics: FolderStatistics,
                             plots: [String], images: [ReportPairImages], settings: AnalysisSettings,
                             to directory: String) throws -> String {
        guard images.map(\.name) == pairs.map(\.name) else {
            throw VAEDistError("\(file): got the pictures of \(images.count) pairs for \(pairs.count) pairs, or in another order")
        }
        let inlined = try plots.map { path -> (name: String, png: [UInt8]) in
            guard let data = FileManager.default.contents(atPath: path) else { throw VAEDistError("\(path): cannot read the plot for \(file)") }
            return ((path as NSString).lastPathComponent, Array(data))
        }
        let path = (directory as NSString).appendingPathComponent(file)
        try writeFileAtomically(page(pairs: pairs, statistics: statistics, plots: inlined, images: images, settings: settings),
                                to: path)
        return path
    }

    static func page(pairs: [(name: String, layers: [LayerDifference])], statistics: FolderStatistics,
                     plots: [(name: String, png: [UInt8])], images: [ReportPairImages], settings: AnalysisSettings) -> String {
        let title = "vae-dist: layer differences over \(pairs.count) pair\(pairs.count == 1 ? "" : "s")"
        let model = settings.checkpoint.map { "weights \(escaped($0))" } ?? "random weights (seed \(settings.seed))"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escaped(title))</title>
        <style>\(style)</style></head><body>
        <h1>\(escaped(title))</h1>
        <p>Method \(settings.method.rawValue), images at \(settings.imageSize) px, \(model); 95 % CIs from \
        \(statistics.resamples) bootstrap resamples of the pairs (seed \(statistics.seed)).</p>
        \(areaParagraph(statistics))\(leftOutSection(statistics))
        <h2>Aggregated plots</h2>
        \(plots.map { "<figure><img src=\"\(dataURI($0.png))\" alt=\"\(escaped($0.name))\"><figcaption>\(escaped($0.name))</figcaption></figure>" }.joined(separator: "\n"))
        <h2>Layer ranking</h2>
        <p>Layers by decreasing mean over the n pairs where the metric is defined; &asymp; top marks layers whose paired \
        bootstrap interval of the difference to the first layer, over the pairs where both are defined, contains 0 (the \
        pairs cannot tell them apart).</p>
        \(statistics.metrics.enumerated().map { rankingTable($1, statistics: statistics, open: $0 == 0) }.joined(separator: "\n"))
        \(lesionSection(statistics))
        <h2>Pairs</h2>
        <p>Metric columns give the pair's value at the folder's top layer of that metric (undefined: see the pairs left \
        out above). Click a heading to sort.</p>
        \(pairTable(pairs, statistics: statistics, images: images))
        \(provenanceFooter(settings.provenance))
        <script>\(sortScript)</script>
        </body></html>

        """
    }

    private static func rankingTable(_ metric: DifferenceMetric, statistics: FolderStatistics, open: Bool) -> String {
        let ranking = statistics.rankings[metric] ?? []
        guard !ranking.isEmpty else {
            return "<details\(open ? " open" : "")><summary>\(metric.rawValue)</summary><p>Undefined for every pair at every layer: "
                + "not ranked.</p></details>"
        }
        let rows = ranking.enumerated().map { rank, row in
            let s = row.summary
            return "<tr><td>\(rank + 1)</td><td>\(escaped(row.layer))</td><td>\(s.n)</td><td>\(number(s.mean))</td>"
                + "<td>[\(number(s.ciLow)), \(number(s.ciHigh))]</td><td>\(number(s.median))</td><td>\(number(s.iqr))</td>"
                + "<td>\(rank > 0 && row.indistinguishableFromTop == true ? "&asymp; top" : "")</td></tr>"
        }
        let unranked = statistics.unrankedLayers(metric)
        return "<details\(open ? " open" : "")><summary>\(metric.rawValue)</summary><table class=\"ranking\"><thead><tr>"
            + "<th>rank</th><th>layer</th><th>n</th><th>mean</th><th>95 % CI</th><th>median</th><th>IQR</th><th></th></tr></thead><tbody>"
            + rows.joined() + "</tbody></table>"
            + (unranked.isEmpty ? "" : "<p>Not ranked, undefined for every pair: \(escaped(unranked.joined(separator: ", "))).</p>")
            + "</details>"
    }

    private static func pairTable(_ pairs: [(name: String, layers: [LayerDifference])], statistics: FolderStatistics,
                                  images: [ReportPairImages]) -> String {
        let masked = images.contains { !$0.mask.isEmpty }
        // A metric undefined for every pair has no top layer, so no column.
        let columns = statistics.metrics.compactMap { metric in statistics.rankings[metric]?.first.map { (metric, layer: $0.layer) } }
        let areas = Dictionary(statistics.lesion?.pairAreas.map { ($0.name, $0.area) } ?? [], uniquingKeysWith: { a, _ in a })
        func sortable(_ column: Int, _ label: String, numeric: Bool) -> String {
            "<th><button class=\"sort\" data-col=\"\(column)\" data-type=\"\(numeric ? "num" : "text")\">\(label)</button></th>"
        }
        let pictures = ["positive", "negative"] + (masked ? ["mask"] : []) + ["difference map"]
        let areaColumn = statistics.lesion == nil ? 0 : 1
        let header = sortable(0, "pair", numeric: false) + pictures.map { "<th>\($0)</th>" }.joined()
            + sortable(pictures.count + 1, "map layer", numeric: false)
            + (areaColumn == 1 ? sortable(pictures.count + 2, "lesion area<br><small>share of the image</small>", numeric: true) : "")
            + columns.enumerated().map { index, column in
                sortable(pictures.count + 2 + areaColumn + index, "\(column.0.rawValue)<br><small>@ \(escaped(column.layer))</small>", numeric: true)
            }.joined()
        let rows = zip(pairs, images).map { pair, image in
            let thumbnails = [image.positive, image.negative] + (masked ? [image.mask] : []) + [image.map]
            let cells = thumbnails.enumerated().map { index, png in
                png.isEmpty ? "<td>&mdash;</td>" : "<td><img src=\"\(dataURI(png))\" alt=\"\(pictures[index]) of \(escaped(pair.name))\"></td>"
            }
            let area = areaColumn == 1 ? valueCell(areas[pair.name], undefined: nil) : ""
            let values = columns.map { column in
                let index = pair.layers.firstIndex { $0.layer == column.layer }
                return valueCell(index.flatMap { pair.layers[$0].value(of: column.0) },
                                 undefined: index.flatMap { pair.layers.undefinedReason(of: column.0, at: $0) })
            }
            return "<tr data-pair=\"\(escaped(pair.name))\"><td data-v=\"\(escaped(pair.name))\">\(escaped(pair.name))</td>" + cells.joined()
                + "<td data-v=\"\(escaped(image.mapLayer))\">\(escaped(image.mapLayer))</td>" + area + values.joined() + "</tr>"
        }
        return "<table id=\"pairs\"><thead><tr>\(header)</tr></thead><tbody>\n" + rows.joined(separator: "\n") + "\n</tbody></table>"
    }

    /// A number, or "undefined" with its reason (an empty sort key sorts last).
    private static func valueCell(_ value: Double?, undefined reason: UndefinedReason?) -> String {
        guard let value, value.isFinite else {
            return "<td data-v=\"\" title=\"\(escaped(reason?.rawValue ?? "undefined"))\"><i>undefined</i></td>"
        }
        return "<td data-v=\"\(value)\">\(number(value))</td>"
    }

    /// Text or attribute value as HTML: file names come from users and may hold any character.
    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func dataURI(_ png: [UInt8]) -> String { "data:image/png;base64," + Data(png).base64EncodedString() }

    /// Callers pass defined values; anything else reads "undefined", never nan.
    static func number(_ value: Double) -> String { value.isFinite ? String(format: "%.4g", value) : "undefined" }

    private static let style = """
        body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}\
        td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:middle}\
        th{text-align:center}td:first-child,.ranking td:nth-child(2){text-align:left}figure{margin:1em 0}figure img{max-width:100%}\
        #pairs img{width:128px}button.sort{font:inherit;font-weight:bold;cursor:pointer}\
        summary{cursor:pointer;font-weight:bold;margin-top:.5em}
        """

    /// Sorts #pairs by the clicked column (numbers numerically, NaN last; names as text); a second click reverses.
    private static let sortScript = """
        document.querySelectorAll('#pairs button.sort').forEach(function (b) {
          b.addEventListener('click', function () {
            var col = +b.dataset.col, num = b.dataset.type === 'num', body = document.querySelector('#pairs tbody');
            var dir = b.dataset.dir === 'asc' ? -1 : 1;
            b.dataset.dir = dir === 1 ? 'asc' : 'desc';
            var key = function (row) { var v = row.cells[col].dataset.v; return num ? parseFloat(v) : v; };
            Array.from(body.rows).sort(function (x, y) {
              var a = key(x), c = key(y);
              if (!num) return dir * a.localeCompare(c);
              if (isNaN(a) || isNaN(c)) return isNaN(a) - isNaN(c);
              return dir * (a - c);
            }).forEach(function (row) { body.appendChild(row); });
          });
        });
        """
}
