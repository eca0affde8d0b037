import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// `vae-dist reconstruct`: encode each image, decode the posterior mode, write the reconstruction, a side-by-side
/// comparison and the latent means.
public struct ReconstructionJob {
    public let model: AutoencoderKL
    public let imageSize: Int
    public let outputDirectory: String

    public init(model: AutoencoderKL, imageSize: Int, outputDirectory: String) {
        self.model = model
        self.imageSize = imageSize
        self.outputDirectory = outputDirectory
    }

    /// Output stems must be unique: two inputs named a.png and a.jpg would overwrite each other.
    public static func stems(of paths: [String]) throws -> [String] {
        let stems = paths.map(outputStem)
        var seen: [String: String] = [:]
        for (stem, path) in zip(stems, paths) {
            if let other = seen[stem] {
                throw VAEDistError("\(other) and \(path) share the name '\(stem)': their outputs would overwrite each other")
            }
            seen[stem] = path
        }
        return stems
    }

    /// Decodes every image first, so that a bad one fails the command before anything is written (the resized
    /// images are kept, 3·S² bytes each, so each file is decoded once), then encodes and decodes them one at a
    /// time (the model's memory stays that of one image); returns the files written.
    @discardableResult
    public func run(images: [String], log: (String) -> Void = { _ in }) throws -> [String] {
        let stems = try Self.stems(of: images)
        try model.config.requireRGB(for: "reconstruct")
        try MemoryEstimate.require(config: model.config, imageSize: imageSize, batch: 1, work: .inference, cachedImages: images.count)
        try checkOutputDirectory(outputDirectory)
        var originals: [RGB8Image] = [], failures: [String] = []
        for path in images {
            do { originals.append(try loadResized(path, size: imageSize)) } catch { failures.append("  \(error)") }
        }
        guard failures.isEmpty else {
            throw VAEDistError("cannot read these images, so nothing was written:\n" + failures.joined(separator: "\n"))
        }
        try createOutputDirectory(outputDirectory)
        var latents = SafeTensors()
        var written: [String] = []
        for (original, (path, stem)) in zip(originals, zip(images, stems)) {
            let posterior = model.encode(imageBatch([original]), train: false)
            let recImage = batchImages(model.decode(posterior.mode, train: false))[0]
            let recPath = "\(outputDirectory)/\(stem)_recon.png"
            let pairPath = "\(outputDirectory)/\(stem)_side_by_side.png"
            try writePNG(recImage, to: recPath)
            try writePNG(composeGrid([[original, recImage]]), to: pairPath)
            latents.add(stem, posterior.mean.reshaped(Array(posterior.mean.shape.dropFirst())))
            written += [recPath, pairPath]
            log("\(path) → \(recPath)")
        }
        latents.metadata = ["content": "posterior means (latents) keyed by image stem", "img_size": "\(imageSize)"]
        let latentPath = "\(outputDirectory)/latents.safetensors"
        try latents.write(path: latentPath)
        return written + [latentPath]
    }
}
