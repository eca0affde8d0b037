import Foundation
import VAEAnalysis
import VAECore
import VAEFormats
import VAEJobs

/// `vae-dist make-pairs`: lesion images and their masks → OUTPUT/{positive,negative,masks}/<stem>.png, ready
/// for `analyze-folder` (negative = the lesion removed by `LesionInpainting`). With `recursive`, images in
/// sub-folders keep them (BUSI's benign/, malignant/: OUTPUT/positive/benign/<stem>.png), which analyze-folder
/// takes as groups.
public struct MakePairsOptions: Sendable {
    public var images: String
    /// nil: BUSI-style `<stem>_mask[_N].<ext>` beside the images.
    public var masks: String?
    public var output: String
    public var inpainting: LesionInpainting
    public var recursive: Bool

    public init(images: String, masks: String? = nil, output: String, inpainting: LesionInpainting = LesionInpainting(),
                recursive: Bool = false) {
        (self.images, self.masks, self.output, self.inpainting, self.recursive) = (images, masks, output, inpainting, recursive)
    }
}

public struct MakePairsSummary: Equatable, Sendable {
    /// Stems written (behind their sub-folder with `recursive`), sorted.
    public let pairs: [String]
    /// Images skipped, with the reason (no mask, or an empty one such as BUSI's normal cases).
    public let skipped: [String]
}

public func makePairs(_ options: MakePairsOptions, log: (String) -> Void = { _ in }) throws -> MakePairsSummary {
    let list = { (folder: String, option: String) in
        options.recursive ? try TrainingImages.recursiveImageNames(in: folder, option: option)
                          : try ImageFolder.imageNames(in: folder, option: option)
    }
    if options.recursive { try refuseOutputInside(images: options.images, output: options.output) }
    // Paths relative to --images (and --masks): a sub-folder's masks are beside its images, or at the same path.
    let files = try list(options.images, "--images")
    let images = files.filter { MaskFiles.maskedStem($0, among: files) == nil }
    let maskNames = try options.masks.map { try list($0, "--masks") } ?? files
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
        if file.contains("/") {
            for folder in folders {
                let sub = (folder as NSString).appendingPathComponent((file as NSString).deletingLastPathComponent)
                do { try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true) } catch {
                    throw VAEDistError("--output \(options.output): cannot create \(sub) (\(error.localizedDescription))")
                }
            }
        }
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

/// With --recursive, an --output inside --images would have its pairs read as images by the next run.
private func refuseOutputInside(images: String, output: String) throws {
    let path = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
    let (imagesPath, outputPath) = (path(images), path(output))
    if outputPath == imagesPath || outputPath.hasPrefix(imagesPath.hasSuffix("/") ? imagesPath : imagesPath + "/") {
        throw VAEDistError("--output \(output) lies inside --images \(images): with --recursive the pairs written there would be read as images by the next run; write them elsewhere")
    }
}
