import Foundation
import VAEAnalysis
import VAECore
import VAEFormats
import VAEJobs

/// `vae-dist make-pairs`: lesion images and their masks → OUTPUT/{positive,negative,masks}/<stem>.png, ready
/// for `analyze-folder` (negative = the lesion removed by `LesionInpainting`).
public struct MakePairsOptions: Sendable {
    public var images: String
    /// nil: BUSI-style `<stem>_mask[_N].<ext>` beside the images.
    public var masks: String?
    public var output: String
    public var inpainting: LesionInpainting

    public init(images: String, masks: String? = nil, output: String, inpainting: LesionInpainting = LesionInpainting()) {
        (self.images, self.masks, self.output, self.inpainting) = (images, masks, output, inpainting)
    }
}

public struct MakePairsSummary: Equatable, Sendable {
    /// Stems written, sorted.
    public let pairs: [String]
    /// Images skipped, with the reason (no mask, or an empty one such as BUSI's normal cases).
    public let skipped: [String]
}

public func makePairs(_ options: MakePairsOptions, log: (String) -> Void = { _ in }) throws -> MakePairsSummary {
    let files = try ImageFolder.imageNames(in: options.images, option: "--images")
    let images = files.filter { MaskFiles.maskedStem($0, among: files) == nil }
    let maskNames = try options.masks.map { try ImageFolder.imageNames(in: $0, option: "--masks") } ?? files
    let maskDirectory = options.masks ?? options.images
    let stems = images.map { ($0 as NSString).deletingPathExtension }
    let repeated = Dictionary(grouping: stems, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
    guard repeated.isEmpty else {
        throw VAEDistError("--images \(options.images): several images share the stem \(repeated.joined(separator: ", ")); the pairs are written as <stem>.png")
    }
    let folders = ["positive", "negative", "masks"].map { (options.output as NSString).appendingPathComponent($0) }
    for folder in folders {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw VAEDistError("--output \(options.output): cannot create \(folder) (\(error.localizedDescription))")
        }
    }
    var written: [String] = [], skipped: [String] = []
    for (name, stem) in zip(images, stems) {
        let maskFiles = options.masks == nil ? MaskFiles.busiMasks(of: stem, in: maskNames)
                                             : MaskFiles.masks(ofFile: name, in: maskNames)
        guard !maskFiles.isEmpty else { skipped.append("\(name): no mask"); continue }
        let image = try loadImage(path: (options.images as NSString).appendingPathComponent(name))
        var mask = [Bool](repeating: false, count: image.width * image.height)
        for file in maskFiles {
            let path = (maskDirectory as NSString).appendingPathComponent(file)
            let m = try loadImage(path: path)
            guard m.width == image.width, m.height == image.height else {
                throw VAEDistError("mask \(path) is \(m.width)x\(m.height), its image \(name) \(image.width)x\(image.height)")
            }
            for i in mask.indices where max(m.pixels[3 * i], m.pixels[3 * i + 1], m.pixels[3 * i + 2]) >= 128 { mask[i] = true }
        }
        guard mask.contains(true) else { skipped.append("\(name): empty mask (no lesion)"); continue }
        let negative: RGB8Image
        do {
            negative = try options.inpainting.fill(image, mask: mask)
        } catch {
            throw VAEDistError("\(name): \(error)")
        }
        let file = stem + ".png"
        try writePNG(image, to: (folders[0] as NSString).appendingPathComponent(file))
        try writePNG(negative, to: (folders[1] as NSString).appendingPathComponent(file))
        let white = mask.flatMap { $0 ? [UInt8](repeating: 255, count: 3) : [0, 0, 0] }
        try writePNG(RGB8Image(width: image.width, height: image.height, pixels: white),
                     to: (folders[2] as NSString).appendingPathComponent(file))
        written.append(stem)
        log("\(name): \(maskFiles.count) mask(s), \(mask.filter { $0 }.count) lesion pixels")
    }
    guard !written.isEmpty else {
        throw VAEDistError("--images \(options.images): no image has a non-empty mask (\(skipped.count) skipped: \(skipped.joined(separator: "; ")))")
    }
    return MakePairsSummary(pairs: written, skipped: skipped)
}
