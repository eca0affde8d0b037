import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// The files written for one analysed pair, and the terminal table of its top layers.
public enum AnalysisReport {
    public static let layerDifferencesFile = "layer_differences.json"
    public static let summaryFile = "summary.json"
    public static let plotFile = "layer_differences_plot.png"
    public static let reconstructionsFile = "reconstructed_images.png"
    public static let differenceMapsFile = "difference_maps.png"
    public static let topCount = 5

    /// Writes the five files of one pair into `directory` (created if needed), and each figure's PDF beside its PNG;
    /// returns their paths.
    /// `images` are the inputs at the analysis size; `title` names the pair in the pictures.
    @discardableResult
    public static func writePair(_ analysis: PairAnalysis, images: (RGB8Image, RGB8Image), inputs: (String, String),
                                 title: String, settings: AnalysisSettings, model: AutoencoderKL,
                                 to directory: String) throws -> [String] {
        let path = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        // The maps are per-pixel l2, so they are drawn for the top layers by l2_value.
        let mapped = largestIndices(analysis.layers.map(\.l2), count: topCount)
        let metrics = DifferenceMetric.compared(settings.method, masked: analysis.mask != nil)
        try writeFileAtomically(layerDifferencesJSON(analysis.layers, method: settings.method).text,
                                to: path(layerDifferencesFile))
        // The lesion's area once: context, the same at every layer.
        let area: [(key: String, value: JSONValue)] = analysis.mask.map { [("lesion_area_fraction", .double($0.areaFraction))] } ?? []
        let summary = JSONValue.object([("image1", .string(inputs.0)), ("image2", .string(inputs.1))]
            + settings.jsonMembers(model: model) + area
            + [("layers", .integer(analysis.layers.count)),
               ("top5", topJSON(metrics.map { metric in
                   (metric, topLayers(analysis.layers, by: metric, count: topCount).map { ($0.layer, $0.value(of: metric)!) })
               })),
               ("difference_maps", .array(mapped.map { .string(analysis.layers[$0].layer) }))])
        try writeFileAtomically(summary.text, to: path(summaryFile))
        try writeBarChart(path: path(plotFile), title: "Layer differences: \(title)",
                          labels: analysis.layers.map(\.labelWithResolution),
                          series: metrics.map { metric in
                              // Undefined values draw no bar and are never highlighted.
                              let values = analysis.layers.map { $0.value(of: metric) ?? .nan }
                              let defined = values.indices.filter { values[$0].isFinite }
                              return BarSeries(name: defined.isEmpty ? "\(metric.title) (undefined at every layer)" : metric.title,
                                               values: values,
                                               highlight: Set(largestIndices(defined.map { values[$0] }, count: topCount).map { defined[$0] }),
                                               axisLabel: metric.unit)
                          }, legend: topBarsLegend)
        try writeImageGrid(path: path(reconstructionsFile),
                           title: "Reconstructions at \(images.0.width)×\(images.0.height) px (posterior mode)",
                           subtitle: "image 1: \(inputs.0.shortName), image 2: \(inputs.1.shortName)",
                           rowLabels: ["input", "reconstruction"],
                           columns: [ImageGridColumn(caption: "image 1", images: [images.0, analysis.reconstructedImage(0)]),
                                     ImageGridColumn(caption: "image 2", images: [images.1, analysis.reconstructedImage(1)])])
        // Each map is scaled to its own maximum: the picture answers where a layer differs, and layers'
        // magnitudes differ too much to share one colour scale.
        try writeHeatmapOverlays(path: path(differenceMapsFile),
                                 base: (images.0.width, images.0.height, images.0.pixels),
                                 maps: mapped.map { index in
                                     let map = analysis.maps[index]
                                     let peak = map.values.filter(\.isFinite).max() ?? 0
                                     let shape = analysis.layers[index].shape
                                     let size = shape.count == 4 ? "\(shape[2])×\(shape[3]), " : ""
                                     return (title: "\(analysis.layers[index].layer)\n\(size)max \(String(format: "%.3g", peak))",
                                             values: peak > 0 ? map.values.map { $0 / peak } : map.values,
                                             width: map.width, height: map.height)
                                 },
                                 colorBarLabel: "per-pixel ‖a − b‖ / layer max", contour: analysis.mask?.contour)
        let figures = [plotFile, reconstructionsFile, differenceMapsFile]
        return ([layerDifferencesFile, summaryFile] + figures).map(path) + figures.map { figurePDFPath(path($0)) }
    }

    /// `{ "<layer>": {<the method's metrics>, <the lesion metrics with a mask>, "shape": [1, C, H, W]}, … }`
    /// in decoder order; an undefined value (a share of no difference) is null.
    public static func layerDifferencesJSON(_ layers: [LayerDifference], method: AnalysisMethod) -> JSONValue {
        let metrics = DifferenceMetric.reported(method, layers: layers)
        return .object(layers.map { layer in
            (layer.layer, .object(metrics.map { ($0.rawValue, layer.value(of: $0).map(JSONValue.double) ?? .null) }
                                  + [("shape", .array(layer.shape.map(JSONValue.integer)))]))
        })
    }

    /// `{ "<metric>": [{"layer": …, "<metric>": …}, …], … }`, largest first.
    static func topJSON(_ tops: [(DifferenceMetric, [(layer: String, value: Double)])]) -> JSONValue {
        .object(tops.map { metric, rows in
            (metric.rawValue, .array(rows.map { .object([("layer", .string($0.layer)), (metric.rawValue, .double($0.value))]) }))
        })
    }

    /// The terminal table: "TOP 5 layers with largest differences" for each metric, one layer per line.
    /// `spread` (a standard deviation per row) is shown as ± when given.
    public static func topTable(_ metric: DifferenceMetric, rows: [(layer: String, value: Double, spread: Double?)]) -> String {
        let width = max(rows.map(\.layer.count).max() ?? 0, 5)
        var lines = ["TOP \(rows.count) layers with largest differences (\(metric.rawValue)):"]
        for (rank, row) in rows.enumerated() {
            var line = "  \(rank + 1). " + row.layer.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  " + String(format: "%.6g", row.value)
            if let spread = row.spread { line += String(format: " ± %.3g", spread) }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// The tables of one pair, one per compared metric; a metric undefined at every layer is said so, with why.
    public static func topTables(_ layers: [LayerDifference], method: AnalysisMethod) -> String {
        DifferenceMetric.compared(method, layers: layers).map { metric in
            let rows = topLayers(layers, by: metric, count: topCount)
            guard !rows.isEmpty else {
                let reasons = Set(layers.indices.compactMap { layers.undefinedReason(of: metric, at: $0) }).map(\.rawValue).sorted()
                return "\(metric.rawValue): undefined at every layer: \(reasons.joined(separator: "; "))"
            }
            return topTable(metric, rows: rows.map { ($0.layer, $0.value(of: metric)!, nil) })
        }.joined(separator: "\n\n")
    }
}

/// `vae-dist analyze`: one pair, image 1 against image 2, into `directory`.
/// `mask`: the lesion's mask file(s) (merged), for the lesion metrics.
public func analyzePair(image1: String, image2: String, mask: [String] = [], settings: AnalysisSettings,
                        model: AutoencoderKL, outputDirectory directory: String) throws -> PairAnalysis {
    try MemoryEstimate.require(config: model.config, imageSize: settings.imageSize, batch: 2, work: .inference,
                               cachedImages: 2 + mask.count)
    let images = (try loadResized(image1, size: settings.imageSize), try loadResized(image2, size: settings.imageSize))
    let lesion = mask.isEmpty ? nil : try LesionMask.load(mask, size: settings.imageSize)
    let analysis = PairAnalysis(images: images, mask: lesion, layers: settings.layers, with: model)
    let title = "\(image1.shortName) vs \(image2.shortName)"
    try AnalysisReport.writePair(analysis, images: images, inputs: (image1, image2), title: title, settings: settings,
                                 model: model, to: directory)
    return analysis
}

extension String {
    /// A path as figures name it: with its parent folder, since pairs often share a file name
    /// (positive/case1.png vs negative/case1.png).
    var shortName: String {
        (self as NSString).pathComponents.filter { $0 != "/" }.suffix(2).joined(separator: "/")
    }
}
