import ArgumentParser
import Foundation
import VAEAnalysis
import VAECore

struct Reconstruct: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode images, decode the posterior mode and write reconstructions, side-by-side comparisons and latents.",
        discussion: """
            Writes DIR/<stem>_recon.png, DIR/<stem>_side_by_side.png (original | reconstruction) and
            DIR/latents.safetensors (the posterior means, keyed by stem).
            """)

    @OptionGroup var weights: RequiredWeights

    @OptionGroup var modelOptions: ModelOptions<TrainingDefaults>

    @Option(help: "Output directory.")
    var output: String

    @Argument(help: "Images (png, jpg, jpeg).")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image to reconstruct") }
        try checkOutputPathGiven(output, flag: "--output")
    }

    func run() throws {
        try reportingFailures {
            // The memory, with every input kept decoded, is checked before the weights or an image are read.
            let vae = try modelOptions.loadModel(weights: weights.checkpoint, check: {
                try MemoryEstimate.require(config: $0, imageSize: modelOptions.imgSize, batch: 1, work: .inference, cachedImages: images.count)
            }) { print($0) }
            let job = ReconstructionJob(model: vae, imageSize: modelOptions.imgSize, outputDirectory: output)
            let written = try job.run(images: images) { print($0) }
            print("wrote \(written.count) files to \(output)")
        }
    }
}
