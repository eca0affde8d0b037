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
        // Sections in page order; each is a function of the statistics, so a new one is one more entry.
        let sections = [
            "<h1>\(escaped(title))</h1>\n<p>Method \(settings.method.rawValue), images at \(settings.imageSize) px, \(model); "
                + "95 % CIs from \(statistics.resamples) bootstrap resamples of the pairs (seed \(statistics.seed)).</p>",
            areaParagraph(statistics), leftOutSection(statistics),
            "<h2>Aggregated plots</h2>\n" + plots.map {
                "<figure><img src=\"\(dataURI($0.png))\" alt=\"\(escaped($0.name))\"><figcaption>\(escaped($0.name))</figcaption></figure>"
            }.joined(separator: "\n"),
            rankingSection(statistics),
            lesionSection(statistics),
            pairSection(pairs, statistics: statistics, images: images),
        ]
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escaped(title))</title>
        <style>\(style)</style></head><body>
        \(sections.filter { !$0.isEmpty }.joined(separator: "\n"))
        <script>\(sortScript)</script>
        </body></html>

        """
    }

    private static func rankingSection(_ statistics: FolderStatistics) -> String {
        "<h2>Layer ranking</h2>\n<p>Layers by decreasing mean over the n pairs where the metric is defined; &asymp; top marks "
            + "layers whose paired bootstrap interval of the difference to the first layer, over the pairs where both are "
            + "defined, contains 0 (the pairs cannot tell them apart).</p>\n"
            + statistics.metrics.enumerated().map { rankingTable($1, statistics: statistics, open: $0 == 0) }.joined(separator: "\n")
    }

    private static func rankingTable(_ metric: DifferenceMetric, statistics: FolderStatistics, open: Bool) -> String {
        let ranking = statistics.rankings[metric] ?? []
        let summary = "<summary>\(escaped(metric.title)) <small>(\(metric.rawValue))</small></summary>"
        guard !ranking.isEmpty else {
            return "<details\(open ? " open" : "")>\(summary)<p>Undefined for every pair at every layer: not ranked.</p></details>"
        }
        let summaries = ranking.map(\.summary)
        let mean = ColumnNumberFormat(summaries.map(\.mean)), ci = ColumnNumberFormat(summaries.flatMap { [$0.ciLow, $0.ciHigh] })
        let median = ColumnNumberFormat(summaries.map(\.median)), iqr = ColumnNumberFormat(summaries.map(\.iqr))
        let rows = ranking.enumerated().map { rank, row in
            let s = row.summary
            return "<tr><td>\(rank + 1)</td><td>\(escaped(row.layer))</td><td>\(s.n)</td><td>\(mean(s.mean))</td>"
                + "<td>[\(ci(s.ciLow)), \(ci(s.ciHigh))]</td><td>\(median(s.median))</td><td>\(iqr(s.iqr))</td>"
                + "<td>\(rank > 0 && row.indistinguishableFromTop == true ? "&asymp; top" : "")</td></tr>"
        }
        let unranked = statistics.unrankedLayers(metric)
        return "<details\(open ? " open" : "")>\(summary)<p class=\"unit\">\(escaped(metric.unit))</p><div class=\"scroll\">"
            + "<table class=\"ranking\"><thead><tr><th>rank</th><th>layer</th><th>n</th><th>mean</th><th>95 % CI</th><th>median</th>"
            + "<th>IQR</th><th></th></tr></thead><tbody>" + rows.joined() + "</tbody></table></div>"
            + (unranked.isEmpty ? "" : "<p>Not ranked, undefined for every pair: \(escaped(unranked.joined(separator: ", "))).</p>")
            + "</details>"
    }

    /// The pairs table with what it needs said above it: the layer of the difference maps when every pair's is the
    /// same (else each map names its own) and the maps' colour scale.
    private static func pairSection(_ pairs: [(name: String, layers: [LayerDifference])], statistics: FolderStatistics,
                                    images: [ReportPairImages]) -> String {
        let mapLayers = Set(images.map(\.mapLayer))
        let mapLayer = mapLayers.count == 1 ? mapLayers.first : nil
        let shape = mapLayer.flatMap { layer in pairs.first?.layers.first { $0.layer == layer }?.labelWithResolution }
        let which = shape.map { "at <b>\(escaped($0))</b>, the layer of largest L2 distance for every pair" }
            ?? "at each pair's layer of largest L2 distance (named under its map)"
        return """
            <h2>Pairs</h2>
            <p>Metric columns give the pair's value at the folder's top layer of that metric (undefined: see the pairs left \
            out above). Click a heading to sort; again to reverse. Difference maps: the per-pixel &Vert;a &minus; b&Vert; \
            over channels \(which), over image 1 (positive), each scaled to its pair's own maximum, the lesion's contour in \
            cyan.</p>
            \(colorBar)
            <div class="scroll">\(pairTable(pairs, statistics: statistics, images: images, namedMaps: mapLayer == nil))</div>
            """
    }

    /// The maps' colour scale: the inferno ramp from no difference to the pair's largest.
    private static var colorBar: String {
        let stops = (0...8).map { step -> String in
            let c = infernoColor(Double(step) / 8)
            return "rgb(\(c.r),\(c.g),\(c.b))"
        }
        return "<p class=\"colorbar\">difference map: <span>0</span><span class=\"ramp\" style=\"background:linear-gradient(to right,"
            + stops.joined(separator: ",") + ")\"></span><span>the pair's maximum</span></p>"
    }

    private static func pairTable(_ pairs: [(name: String, layers: [LayerDifference])], statistics: FolderStatistics,
                                  images: [ReportPairImages], namedMaps: Bool) -> String {
        let masked = images.contains { !$0.mask.isEmpty }
        // A metric undefined for every pair has no top layer, so no column.
        let columns = statistics.metrics.compactMap { metric in statistics.rankings[metric]?.first.map { (metric, layer: $0.layer) } }
        let areas = Dictionary(statistics.lesion?.pairAreas.map { ($0.name, $0.area) } ?? [], uniquingKeysWith: { a, _ in a })
        let shapes = Dictionary(pairs.first?.layers.map { ($0.layer, $0.labelWithResolution) } ?? [], uniquingKeysWith: { a, _ in a })
        func sortable(_ column: Int, _ label: String, numeric: Bool, note: String = "", title: String? = nil) -> String {
            "<th\(column == 0 ? " aria-sort=\"ascending\"" : "")\(title.map { " title=\"\(escaped($0))\"" } ?? "")>"
                + "<button class=\"sort\" data-col=\"\(column)\" data-type=\"\(numeric ? "num" : "text")\">\(label)</button>\(note)</th>"
        }
        let pictures = ["positive", "negative"] + (masked ? ["mask"] : []) + ["difference map"]
        let areaColumn = statistics.lesion == nil ? 0 : 1
        let header = sortable(0, "pair", numeric: false) + pictures.map { "<th>\($0)</th>" }.joined()
            + (areaColumn == 1 ? sortable(pictures.count + 1, "lesion area", numeric: true, note: "<br><small>% of the image</small>") : "")
            + columns.enumerated().map { index, column in
                sortable(pictures.count + 1 + areaColumn + index, escaped(column.0.shortTitle), numeric: true,
                         note: "<br><small>at \(breakable(shapes[column.layer] ?? column.layer))</small>",
                         title: "\(column.0.title) (\(column.0.rawValue)): \(column.0.unit)")
            }.joined()
        // One number format per column.
        let areaFormat = ColumnNumberFormat(pairs.compactMap { areas[$0.name].map { 100 * $0 } })
        let values = columns.map { column in
            pairs.map { pair -> (Double?, UndefinedReason?) in
                let index = pair.layers.firstIndex { $0.layer == column.layer }
                return (index.flatMap { pair.layers[$0].value(of: column.0) },
                        index.flatMap { pair.layers.undefinedReason(of: column.0, at: $0) })
            }
        }
        let formats = values.map { column in ColumnNumberFormat(column.compactMap(\.0)) }
        let order = pairs.indices.sorted { naturalOrder(pairs[$0].name, pairs[$1].name) }
        let rows = order.map { row in
            let (pair, image) = (pairs[row], images[row])
            let thumbnails = [image.positive, image.negative] + (masked ? [image.mask] : []) + [image.map]
            let cells = thumbnails.enumerated().map { index, png in
                let caption = namedMaps && index == thumbnails.count - 1 ? "<small>\(breakable(image.mapLayer))</small>" : ""
                return png.isEmpty ? "<td>&mdash;</td>"
                    : "<td><img src=\"\(dataURI(png))\" alt=\"\(pictures[index]) of \(escaped(pair.name))\">\(caption)</td>"
            }
            let area = areaColumn == 1 ? valueCell(areas[pair.name], undefined: nil, format: areaFormat, scale: 100) : ""
            let metrics = zip(values, formats).map { column, format in
                valueCell(column[row].0, undefined: column[row].1, format: format)
            }
            return "<tr data-pair=\"\(escaped(pair.name))\"><td data-v=\"\(escaped(pair.name))\">\(escaped(pair.name))</td>" + cells.joined()
                + area + metrics.joined() + "</tr>"
        }
        return "<table id=\"pairs\"><thead><tr>\(header)</tr></thead><tbody>\n" + rows.joined(separator: "\n") + "\n</tbody></table>"
    }

    /// A number in its column's format (its sort key exact), or "undefined" with its reason (an empty sort key,
    /// which sorts last). `scale` multiplies the shown value (100 for a percentage).
    private static func valueCell(_ value: Double?, undefined reason: UndefinedReason?, format: ColumnNumberFormat,
                                  scale: Double = 1) -> String {
        guard let value, value.isFinite else {
            return "<td data-v=\"\" title=\"\(escaped(reason?.rawValue ?? "undefined"))\"><i>undefined</i></td>"
        }
        return "<td data-v=\"\(value)\">\(format(value * scale))</td>"
    }

    /// A layer name that may wrap after its dots, so narrow columns need no horizontal room for it.
    static func breakable(_ name: String) -> String {
        escaped(name).replacingOccurrences(of: ".", with: ".<wbr>")
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

    /// Wide tables scroll inside their box; the page itself never scrolls sideways. Sort arrows show the order.
    private static let style = """
        body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}\
        .scroll{max-width:100%;overflow-x:auto}\
        td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:middle}\
        th{text-align:center;vertical-align:bottom}th small,td small{font-weight:normal;display:block;color:#555}\
        td:first-child,.ranking td:nth-child(2){text-align:left}figure{margin:1em 0}figure img{max-width:100%}\
        #pairs td:first-child{min-width:6em;max-width:14em;overflow-wrap:break-word}#pairs img{width:96px;display:block;margin:auto}\
        button.sort{font:inherit;font-weight:bold;cursor:pointer;border:0;background:none;padding:0}\
        button.sort::after{content:" \\21C5";color:#aaa}th[aria-sort=ascending] button.sort::after{content:" \\25B2";color:#222}\
        th[aria-sort=descending] button.sort::after{content:" \\25BC";color:#222}\
        summary{cursor:pointer;font-weight:bold;margin-top:.5em}.unit{margin:.2em 0;color:#555}\
        .colorbar span{vertical-align:middle;margin:0 .4em}.colorbar .ramp{display:inline-block;width:200px;height:12px;border:1px solid #888}
        """

    /// Sorts #pairs by the clicked column: numbers numerically (undefined last either way), names in natural order
    /// (`naturalCompare`'s rules: digit runs by value, other runs without case); a second click reverses. The
    /// column's heading carries aria-sort, which draws its arrow.
    private static let sortScript = """
        function naturalCompare(a, b) {
          var x = a.match(/[0-9]+|[^0-9]+/g) || [], y = b.match(/[0-9]+|[^0-9]+/g) || [];
          for (var i = 0; i < Math.min(x.length, y.length); i++) {
            var p = x[i], q = y[i];
            if (/^[0-9]/.test(p) && /^[0-9]/.test(q)) {
              var pv = p.replace(/^0+/, ''), qv = q.replace(/^0+/, '');
              if (pv.length !== qv.length) return pv.length - qv.length;
              if (pv !== qv) return pv < qv ? -1 : 1;
              if (p.length !== q.length) return p.length - q.length;
            } else {
              var pl = p.toLowerCase(), ql = q.toLowerCase();
              if (pl !== ql) return pl < ql ? -1 : 1;
            }
          }
          if (x.length !== y.length) return x.length - y.length;
          return a < b ? -1 : a > b ? 1 : 0;
        }
        document.querySelectorAll('#pairs button.sort').forEach(function (b) {
          b.addEventListener('click', function () {
            var col = +b.dataset.col, num = b.dataset.type === 'num', body = document.querySelector('#pairs tbody');
            var th = b.closest('th'), dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
            document.querySelectorAll('#pairs th[aria-sort]').forEach(function (h) { h.removeAttribute('aria-sort'); });
            th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
            var key = function (row) { var v = row.cells[col].dataset.v; return num ? parseFloat(v) : v; };
            Array.from(body.rows).sort(function (x, y) {
              var a = key(x), c = key(y);
              if (!num) return dir * naturalCompare(a, c);
              if (isNaN(a) || isNaN(c)) return isNaN(a) - isNaN(c);
              return dir * (a - c);
            }).forEach(function (row) { body.appendChild(row); });
          });
        });
        """
}
