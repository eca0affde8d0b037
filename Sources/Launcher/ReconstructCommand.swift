import ArgumentParser
import Foundation
import VAEAnalysis

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
            let vae = try modelOptions.loadModel(weights: weights.checkpoint) { print($0) }
            let job = ReconstructionJob(model: vae, imageSize: modelOptions.imgSize, outputDirectory: output)
            let written = try job.run(images: images) { print($0) }
            print("wrote \(written.count) files to \(output)")
        }
    }
}
