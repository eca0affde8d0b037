import ArgumentParser
import Foundation
import VAECore
import VAEFormats
import VAETraining

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's weights alone, named for diffusers, ldm or a Stable Diffusion checkpoint.",
        discussion: """
            diffusers: OUTPUT is a folder (config.json + diffusion_pytorch_model.safetensors) for
              AutoencoderKL.from_pretrained(OUTPUT).
            ldm: OUTPUT is a safetensors file with ldm names for AutoencoderKL.load_state_dict(..., strict=True).
            sd: the same under first_stage_model., as a Stable Diffusion checkpoint holds its VAE.
            Optimizer state and training metadata are left out. ldm and sd are refused for a model with
            norm_num_groups other than 32 (ldm fixes 32 groups): use diffusers. An existing OUTPUT is refused
            unless --overwrite is given; the output appears whole or not at all.
            """)

    @OptionGroup var weights: RequiredWeights

    @OptionGroup var modelOptions: ModelOptions<TrainingImageSize>

    @Option(help: "diffusers | ldm | sd.")
    var format: ExportFormat

    @Option(help: "Where to write: a folder for diffusers, a .safetensors file for ldm and sd.")
    var output: String

    @Flag(help: "Replace an existing OUTPUT.")
    var overwrite = false

    func run() throws {
        try reportingFailures {
            let vae = try modelOptions.loadModel(weights: weights.checkpoint) { print($0) }
            try export(vae, format: format, to: output, overwrite: overwrite)
            print("wrote \(output) (\(format.rawValue), \(vae.namedParameters.count) tensors; \(vae.config.yamlDescription))")
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}
