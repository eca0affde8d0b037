import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// Where the finding is, at the analysis size: each pixel's share inside the lesion (0…1). Masks are resized
/// like the images (PIL bilinear), so a binary mask gets fractional pixels along its edge.
public struct LesionMask: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let coverage: [Double]

    public init(width: Int, height: Int, coverage: [Double]) {
        precondition(coverage.count == width * height, "\(coverage.count) mask values for \(width)x\(height)")
        (self.width, self.height, self.coverage) = (width, height, coverage)
    }

    /// Loads one mask, or several of one image merged (a pixel is inside if any mask has it: BUSI's
    /// `<stem>_mask_1.png`), resized to size × size. A mask covering none or all of the image is refused: the
    /// lesion metrics compare inside with outside.
    public static func load(_ paths: [String], size: Int) throws -> LesionMask {
        try merging(paths.map { try loadResized($0, size: size) }, files: paths)
    }

    /// The mask of `load` from its files' images, already decoded and resized to one size × size.
    static func merging(_ images: [RGB8Image], files paths: [String]) throws -> LesionMask {
        guard let first = paths.first, let size = images.first?.width else { throw VAEDistError("no mask file given") }
        var merged = [Double](repeating: 0, count: size * size)
        for image in images {
            for i in merged.indices {
                let grey = max(image.pixels[3 * i], image.pixels[3 * i + 1], image.pixels[3 * i + 2])
                merged[i] = max(merged[i], Double(grey) / 255)
            }
        }
        let mask = LesionMask(width: size, height: size, coverage: merged)
        let names = paths.joined(separator: ", ")
        guard mask.areaFraction > 0 else { throw VAEDistError("mask \(names): no lesion pixel (all black) in \(first)") }
        guard mask.areaFraction < 1 else {
            throw VAEDistError("mask \(names): covers the whole image, nothing is left outside the lesion to compare with")
        }
        return mask
    }

    /// The mask's share of the image area.
    public var areaFraction: Double { coverage.reduce(0, +) / Double(max(coverage.count, 1)) }

    /// Area averaging to `width` × `height`: each output pixel is the mean of the input area it covers
    /// (fractional overlaps weighted), so the area fraction is kept at every layer resolution.
    public func resampled(width outWidth: Int, height outHeight: Int) -> [Double] {
        if outWidth == width && outHeight == height { return coverage }
        let columns = areaWeights(from: width, to: outWidth), rows = areaWeights(from: height, to: outHeight)
        var horizontal = [Double](repeating: 0, count: outWidth * height)
        for y in 0..<height {
            for (x, taps) in columns.enumerated() {
                horizontal[y * outWidth + x] = taps.reduce(0) { $0 + $1.weight * coverage[y * width + $1.index] }
            }
        }
        var out = [Double](repeating: 0, count: outWidth * outHeight)
        for (y, taps) in rows.enumerated() {
            for x in 0..<outWidth {
                out[y * outWidth + x] = taps.reduce(0) { $0 + $1.weight * horizontal[$1.index * outWidth + x] }
            }
        }
        return out
    }

    /// Inside pixels (coverage ≥ ½) with a 4-neighbour outside, at the mask's size: the contour drawn on maps.
    public var contour: [Bool] {
        let inside = coverage.map { $0 >= 0.5 }
        return inside.indices.map { i in
            guard inside[i] else { return false }
            let (x, y) = (i % width, i / width)
            return x == 0 || y == 0 || x == width - 1 || y == height - 1
                || !inside[i - 1] || !inside[i + 1] || !inside[i - width] || !inside[i + width]
        }
    }
}

/// For each of `outCount` output cells of a 1-D axis of `inCount` cells: the input cells it overlaps and
/// their share of it (weights sum to 1).
private func areaWeights(from inCount: Int, to outCount: Int) -> [[(index: Int, weight: Double)]] {
    let ratio = Double(inCount) / Double(outCount)
    return (0..<outCount).map { o in
        let lo = Double(o) * ratio, hi = Double(o + 1) * ratio
        return (Int(lo.rounded(.down))..<min(inCount, Int(hi.rounded(.up)))).compactMap { i in
            let overlap = min(hi, Double(i + 1)) - max(lo, Double(i))
            return overlap > 0 ? (i, overlap / ratio) : nil
        }
    }
}
