import ArgumentParser
import Foundation
import VAEAnalysis
import VAECore
import VAEFormats

struct Reconstruct: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode images, decode the posterior mode and write reconstructions, side-by-side comparisons and latents.",
        discussion: """
            Writes DIR/<stem>_recon.png, DIR/<stem>_side_by_side.png (original | reconstruction) and
            DIR/latents.safetensors (the posterior means, keyed by stem).
            """)

    @OptionGroup var weights: RequiredWeights

    @OptionGroup var modelOptions: ModelOptions<ReconstructionDefaults>

    @Option(help: "Output directory.")
    var output: String

    @Argument(help: "Images (png, jpg, jpeg).")
    var images: [String]

    @Flag(help: quietHelp)
    var quiet = false

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image to reconstruct") }
        try checkOutputPathGiven(output, flag: "--output")
    }

    func run() throws {
        try reportingFailures {
            let console = Console(isRoot: true, quiet: quiet)
            let say = console.say
            // The weights' header is read once: the config and the training size come from it.
            let source = try ModelSource(checkpoint: weights.checkpoint, config: modelOptions.config)
            let size = imageSize(stored: source.trainingImageSize)
            say("img_size \(size.value): \(size.why)")
            // The memory, with every input kept decoded, is checked before the weights or an image are read.
            let vae = try modelOptions.loadModel(source, imageSize: size.value, check: {
                try MemoryEstimate.require(config: $0, imageSize: size.value, batch: 1, work: .inference, cachedImages: images.count)
            }, say: say)
            let job = ReconstructionJob(model: vae, imageSize: size.value, outputDirectory: output)
            let written = try job.run(images: images, log: say)
            console.result("wrote \(written.count) files to \(output)")
        }
    }

    /// --img_size, else the size a vae-dist checkpoint was trained at (reconstructions at another size than the
    /// training's are worse), else the original tools' 256; with the reason, for the log.
    private func imageSize(stored: Int?) -> (value: Int, why: String) {
        if let given = modelOptions.givenImageSize { return (given, "--img_size") }
        let path = weights.checkpoint
        if let stored {
            return (stored, "the training size stored in \(path) (--img_size chooses another)")
        }
        return (ReconstructionDefaults.imageSize, "the default (\(path) stores no training size; --img_size chooses another)")
    }
}
