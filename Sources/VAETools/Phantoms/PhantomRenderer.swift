import Foundation
import VAECore
import VAEFormats

/// One phantom: the tissue alone (negative) and the same tissue with a lesion drawn on it (positive). Both share
/// one speckle pattern, so they differ only where the lesion, its rim or its posterior feature reach.
public struct PhantomCase {
    /// Tissue without a lesion.
    public let negative: RGB8Image
    /// Tissue with the lesion; equal to `negative` when the case has none.
    public let positive: RGB8Image
    /// Row-major, true inside the lesion outline; all false without a lesion.
    public let lesionMask: [Bool]
    public let lesion: PhantomLesion?
}

/// Where a lesion is and what it looks like. Pixels: origin top left, x right, y down; a pixel's centre is at +0.5.
public struct PhantomLesion: Codable, Equatable, Sendable {
    public let kind: LesionKind
    /// [x, y] of the ellipse centre.
    public let center: [Double]
    /// [along the ellipse's own x axis, along its y axis], before lobulation and spiculation.
    public let radii: [Double]
    public let rotationDegrees: Double
    /// Pixels whose centre lies inside the outline (the mask's area).
    public let areaPixels: Int
    /// The mask's extent.
    public let boundingBox: PixelBox
    /// Every pixel where positive and negative differ lies in here: lesion, rim and posterior shadow or enhancement.
    public let changedBox: PixelBox
    public let posterior: PosteriorFeature
    public let rim: Bool

    enum CodingKeys: String, CodingKey {
        case kind, center, radii, rim, posterior
        case rotationDegrees = "rotation_degrees", areaPixels = "area_pixels"
        case boundingBox = "bounding_box", changedBox = "changed_box"
    }
}

/// Renders the phantom of one case. Everything follows from `seed`; the tissue does not depend on `withLesion`.
public func renderPhantom(size: Int, seed: UInt64, withLesion: Bool) -> PhantomCase {
    precondition(size >= 16, "phantoms need at least 16×16 pixels, got \(size)")
    var fieldGenerator = SplitMix64(seed: derivedSeed(seed, 1))
    var tissueGenerator = SplitMix64(seed: derivedSeed(seed, 2))
    var speckleGenerator = SplitMix64(seed: derivedSeed(seed, 3))
    var lesionGenerator = SplitMix64(seed: derivedSeed(seed, 4))
    let field = FieldOfView.random(size: size, using: &fieldGenerator)
    let tissue = TissueModel(field: field, using: &tissueGenerator)
    let scan = ScanSettings.random(using: &tissueGenerator)
    let grain = Double(size) / 256
    let speckle = speckleDecibels(width: size, height: size, lateralSigma: max(0.7, 1.8 * grain),
                                  axialSigma: max(0.5, 0.9 * grain), looks: 2, using: &speckleGenerator)

    var tissueDB = [Double](repeating: 0, count: size * size)
    var grey = [UInt8](repeating: 0, count: size * size)
    for y in 0..<size {
        for x in 0..<size {
            let p = field.probe(Double(x) + 0.5, Double(y) + 0.5)
            guard p.inside else { continue }
            let i = y * size + x
            tissueDB[i] = tissue.decibels(p)
            grey[i] = scan.grey(echoDB: tissueDB[i], speckleDB: speckle[i], depth: p.depth)
        }
    }
    let negative = greyImage(grey, size: size)
    guard withLesion else {
        return PhantomCase(negative: negative, positive: negative, lesionMask: [Bool](repeating: false, count: size * size), lesion: nil)
    }

    let lesion = LesionModel(tissue: tissue, using: &lesionGenerator)
    var mask = [Bool](repeating: false, count: size * size)
    var changed = BoxGrower(), outline = BoxGrower()
    for y in 0..<size {
        for x in 0..<size {
            let p = field.probe(Double(x) + 0.5, Double(y) + 0.5)
            let i = y * size + x
            guard p.inside, let look = lesion.appearance(tissueDB: tissueDB[i], x: Double(x) + 0.5, y: Double(y) + 0.5, probe: p)
            else { continue }
            changed.add(x, y)
            grey[i] = scan.grey(echoDB: look.decibels, speckleDB: speckle[i], depth: p.depth)
            if look.q < 1 {
                mask[i] = true
                outline.add(x, y)
            }
        }
    }
    let shape = lesion.shape
    let record = PhantomLesion(
        kind: lesion.kind, center: [shape.centerX, shape.centerY].map(rounded), radii: [shape.radiusX, shape.radiusY].map(rounded),
        rotationDegrees: rounded(shape.rotation * 180 / .pi), areaPixels: mask.reduce(0) { $0 + ($1 ? 1 : 0) },
        boundingBox: outline.box, changedBox: changed.box, posterior: lesion.posterior, rim: lesion.rim)
    return PhantomCase(negative: negative, positive: greyImage(grey, size: size), lesionMask: mask, lesion: record)
}

/// The mask as a black image with the lesion white, for writing next to the pairs.
public func maskImage(_ mask: [Bool], size: Int) -> RGB8Image {
    greyImage(mask.map { $0 ? 255 : 0 }, size: size)
}

private func greyImage(_ grey: [UInt8], size: Int) -> RGB8Image {
    var pixels = [UInt8](repeating: 0, count: 3 * grey.count)
    for (i, v) in grey.enumerated() {
        pixels[3 * i] = v; pixels[3 * i + 1] = v; pixels[3 * i + 2] = v
    }
    return RGB8Image(width: size, height: size, pixels: pixels)
}

/// Two decimals: lesions.json is for people, and the rendering keeps the exact values.
private func rounded(_ v: Double) -> Double { (v * 100).rounded() / 100 }

/// The bounding box of the pixels added so far.
private struct BoxGrower {
    private var x0 = Int.max, y0 = Int.max, x1 = Int.min, y1 = Int.min

    mutating func add(_ x: Int, _ y: Int) {
        x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x + 1); y1 = max(y1, y + 1)
    }

    var box: PixelBox { x0 > x1 ? PixelBox(x0: 0, y0: 0, x1: 0, y1: 0) : PixelBox(x0: x0, y0: y0, x1: x1, y1: y1) }
}
