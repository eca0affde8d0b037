import Foundation
import VAEFormats

/// The pictures of one pair in report.html, as PNG bytes: made by the rank that analysed the pair (only it has
/// the difference maps) and gathered to rank 0, so the report needs no shared file system.
public struct ReportPairImages: Equatable, Sendable {
    public let name: String
    /// The pair's layer with the largest l2 difference, whose map is shown.
    public let mapLayer: String
    public let positive: [UInt8]
    public let negative: [UInt8]
    /// Empty without a mask.
    public let mask: [UInt8]
    /// The map in inferno colours (scaled to its own maximum, as in difference_maps.png) over image 1, the mask
    /// contour in cyan: where in the image the layer differs.
    public let map: [UInt8]

    public init(name: String, mapLayer: String, positive: [UInt8], negative: [UInt8], mask: [UInt8], map: [UInt8]) {
        (self.name, self.mapLayer, self.positive, self.negative, self.mask, self.map) = (name, mapLayer, positive, negative, mask, map)
    }

    /// Thumbnails at most `side` pixels on their longer edge (images are never enlarged).
    public init(name: String, analysis: PairAnalysis, images: (RGB8Image, RGB8Image), side: Int = 128) throws {
        let top = largestIndices(analysis.layers.map(\.l2), count: 1).first ?? 0
        let scale = min(1, Double(side) / Double(max(images.0.width, images.0.height)))
        let (width, height) = (max(1, Int((Double(images.0.width) * scale).rounded())),
                               max(1, Int((Double(images.0.height) * scale).rounded())))
        let shrink = { (image: RGB8Image) in
            image.width == width && image.height == height ? image : resizeBilinearPIL(image, width: width, height: height)
        }
        let positive = shrink(images.0)
        let lesion = analysis.mask.map { LesionMask(width: width, height: height, coverage: $0.resampled(width: width, height: height)) }

        let map = analysis.maps[top]
        let values = bilinearResample(map.values, width: map.width, height: map.height, toWidth: width, toHeight: height)
        let peak = values.filter(\.isFinite).max() ?? 0
        var heat = blendHeat(values.map { $0.isFinite && peak > 0 ? Double($0 / peak) : 0 }, over: positive.pixels)
        if let lesion { heat = drawContour(lesion.contour, on: heat) }

        let label = { (what: String) in "report thumbnail (\(what)) of pair \(name)" }
        self.init(name: name, mapLayer: analysis.layers[top].layer,
                  positive: try encodePNG(positive, name: label("positive")),
                  negative: try encodePNG(shrink(images.1), name: label("negative")),
                  mask: try lesion.map { mask in
                      let grey = mask.coverage.flatMap { c -> [UInt8] in let v = UInt8((c * 255).rounded()); return [v, v, v] }
                      return try encodePNG(RGB8Image(width: width, height: height, pixels: grey), name: label("mask"))
                  } ?? [],
                  map: try encodePNG(RGB8Image(width: width, height: height, pixels: heat), name: label("difference map")))
    }
}
