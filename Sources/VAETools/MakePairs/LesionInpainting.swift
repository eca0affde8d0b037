import Foundation
import VAECore
import VAEFormats

/// Removes a lesion from an ultrasound image so that the image and its lesion-free twin form a pair.
///
/// Method (documented in the README): the region is the mask dilated by `dilate` pixels (so the lesion's rim
/// goes too). The image is split into a low-frequency part (a box blur over the pixels outside the region, so
/// the lesion does not darken its surroundings' mean) and the speckle residual (image − blur).
/// The low-frequency part is filled harmonically (Laplace's equation by over-relaxed Gauss–Seidel, boundary values
/// from the surrounding tissue), so brightness and depth attenuation continue smoothly across the region.
/// The residual is filled by exemplar patches: the region is tiled with `patch`-sized blocks, each copied from
/// a place in the ring of tissue around the region, so the speckle keeps its grain and contrast rather than
/// becoming a flat fill. Of 16 seeded random candidates the patch whose low-frequency part is flattest and
/// closest to the filled brightness there wins (no edges of the field of view or of tissue layers copied in).
public struct LesionInpainting: Sendable {
    public var dilate: Int
    public var patch: Int
    public var seed: UInt64

    public init(dilate: Int = 5, patch: Int = 8, seed: UInt64 = 0) {
        (self.dilate, self.patch, self.seed) = (dilate, patch, seed)
    }

    /// The mask (true = lesion) grown by `radius` pixels (a disc).
    public static func dilated(_ mask: [Bool], width: Int, height: Int, radius: Int) -> [Bool] {
        guard radius > 0 else { return mask }
        var out = mask
        var offsets: [(dx: Int, dy: Int)] = []
        for dy in -radius...radius {
            for dx in -radius...radius where dx * dx + dy * dy <= radius * radius { offsets.append((dx, dy)) }
        }
        for y in 0..<height {
            for x in 0..<width where mask[y * width + x] {
                for (dx, dy) in offsets {
                    let (u, v) = (x + dx, y + dy)
                    if u >= 0, v >= 0, u < width, v < height { out[v * width + u] = true }
                }
            }
        }
        return out
    }

    /// The image with the (dilated) lesion region filled from the surrounding tissue.
    public func fill(_ image: RGB8Image, mask: [Bool]) throws -> RGB8Image {
        let (w, h) = (image.width, image.height)
        precondition(mask.count == w * h, "a mask of \(mask.count) pixels for a \(w)x\(h) image")
        let region = Self.dilated(mask, width: w, height: h, radius: dilate)
        let regionCount = region.filter { $0 }.count
        guard regionCount > 0 else { throw VAEDistError("the mask has no lesion pixel") }
        guard regionCount < w * h else { throw VAEDistError("the dilated mask covers the whole image: no tissue is left to fill from") }
        // The ring the texture comes from: as wide as the region's equivalent radius, at least a patch.
        let ringWidth = max(patch, Int((Double(regionCount) / Double.pi).squareRoot().rounded()))
        let ring = zip(Self.dilated(region, width: w, height: h, radius: ringWidth), region).map { $0 && !$1 }
        let sources = patchSources(ring: ring, region: region, width: w, height: h)
        guard !sources.isEmpty else {
            throw VAEDistError("no \(patch)×\(patch) patch of tissue around the lesion lies outside it: the lesion is too close to every border")
        }
        var pixels = image.pixels
        let channels = (0..<3).map { channel in
            let values = (0..<w * h).map { Double(image.pixels[3 * $0 + channel]) }
            let low = boxBlur(values, outside: region, width: w, height: h, radius: max(2, patch / 2))
            return (values: values, low: low, filledLow: harmonicFill(low, region: region, width: w, height: h))
        }
        // One choice of source patches for all channels (judged on the first), so colour stays consistent.
        var rng = SplitMix64(seed: seed)
        let blocks = stride(from: 0, to: h, by: patch).flatMap { by in stride(from: 0, to: w, by: patch).map { (by, $0) } }
        let draws = blocks.map { by, bx -> (Int, Int) in
            let target = (by..<min(h, by + patch)).flatMap { y in (bx..<min(w, bx + patch)).map { y * w + $0 } }
            let level = target.reduce(0) { $0 + channels[0].filledLow[$1] } / Double(target.count)
            let candidates = (0..<16).map { _ in sources[Int(rng.next() % UInt64(sources.count))] }
            return candidates.min { cost($0, level) < cost($1, level) }!
        }
        func cost(_ source: (Int, Int), _ level: Double) -> Double {
            let lows = (0..<patch * patch).map { channels[0].low[(source.0 + $0 / patch) * w + source.1 + $0 % patch] }
            let mean = lows.reduce(0, +) / Double(lows.count)
            let spread = (lows.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(lows.count)).squareRoot()
            return abs(mean - level) + spread
        }
        for channel in 0..<3 {
            let (values, low, filledLow) = channels[channel]
            for ((by, bx), (sy, sx)) in zip(blocks, draws) {
                for y in by..<min(h, by + patch) {
                    for x in bx..<min(w, bx + patch) where region[y * w + x] {
                        let source = (sy + y - by) * w + sx + x - bx
                        let value = filledLow[y * w + x] + values[source] - low[source]
                        pixels[3 * (y * w + x) + channel] = UInt8(max(0, min(255, value.rounded())))
                    }
                }
            }
        }
        return RGB8Image(width: w, height: h, pixels: pixels)
    }

    /// Top-left corners of the patches lying wholly outside the region with most of their pixels in the ring.
    private func patchSources(ring: [Bool], region: [Bool], width w: Int, height h: Int) -> [(Int, Int)] {
        guard w >= patch, h >= patch else { return [] }
        var sources: [(Int, Int)] = []
        for y in 0...(h - patch) {
            for x in 0...(w - patch) {
                var inRing = 0, inRegion = false
                for v in y..<y + patch {
                    for u in x..<x + patch {
                        if region[v * w + u] { inRegion = true }
                        if ring[v * w + u] { inRing += 1 }
                    }
                }
                if !inRegion && 2 * inRing >= patch * patch { sources.append((y, x)) }
            }
        }
        return sources
    }
}

/// Mean over a (2r+1)² window of the pixels not in `excluded`, clipped at the borders (inside the region,
/// where the window may hold none, the value is replaced by the harmonic fill anyway).
func boxBlur(_ values: [Double], outside excluded: [Bool], width w: Int, height h: Int, radius r: Int) -> [Double] {
    // Sums of value and of weight, blurred separably; their ratio is the masked mean.
    func pass(_ input: [Double], along horizontal: Bool) -> [Double] {
        var out = input
        for line in 0..<(horizontal ? h : w) {
            let count = horizontal ? w : h
            let at = { (i: Int) in horizontal ? line * w + i : i * w + line }
            for i in 0..<count {
                out[at(i)] = (max(0, i - r)...min(count - 1, i + r)).reduce(0) { $0 + input[at($1)] }
            }
        }
        return out
    }
    let weights = excluded.map { $0 ? 0.0 : 1.0 }
    let sums = pass(pass(zip(values, weights).map { $0 * $1 }, along: true), along: false)
    let counts = pass(pass(weights, along: true), along: false)
    return zip(sums, counts).map { $1 > 0 ? $0 / $1 : 0 }
}

/// Values inside `region` replaced by the solution of Laplace's equation with the outside as boundary
/// (successive over-relaxation from the mean of the boundary, until the largest change is below 0.01 grey levels).
func harmonicFill(_ values: [Double], region: [Bool], width w: Int, height h: Int) -> [Double] {
    var out = values
    let inside = region.indices.filter { region[$0] }
    let border = Set(inside.flatMap { i -> [Int] in
        let (x, y) = (i % w, i / w)
        return [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)].compactMap { u, v in
            u >= 0 && v >= 0 && u < w && v < h && !region[v * w + u] ? v * w + u : nil
        }
    })
    let start = border.isEmpty ? 0 : border.reduce(0) { $0 + values[$1] } / Double(border.count)
    for i in inside { out[i] = start }
    for _ in 0..<5000 {
        var change = 0.0
        for i in inside {
            let (x, y) = (i % w, i / w)
            var sum = 0.0, n = 0.0
            if x > 0 { sum += out[i - 1]; n += 1 }
            if x < w - 1 { sum += out[i + 1]; n += 1 }
            if y > 0 { sum += out[i - w]; n += 1 }
            if y < h - 1 { sum += out[i + w]; n += 1 }
            let step = 1.9 * (sum / n - out[i])  // over-relaxed: converges in far fewer sweeps
            change = max(change, abs(step))
            out[i] += step
        }
        if change < 0.01 { break }
    }
    return out
}
