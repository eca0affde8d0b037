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
            unless --overwrite is given, and even then it is replaced only when it is a previous export of the same
            format (a diffusers folder holding only config.json and weights files; a safetensors file): a folder
            with other files, a device, a FIFO, a symbolic link, '.', '..' or a folder holding the working
            directory are refused. The output appears whole or not at all; the old one stays until then.
            """)

    @OptionGroup var weights: RequiredWeights

    @OptionGroup var configOption: ConfigOption<TrainingDefaults>

    @Option(help: "diffusers | ldm | sd.")
    var format: ExportFormat

    @Option(help: "Where to write: a folder for diffusers, a .safetensors file for ldm and sd.")
    var output: String

    @Flag(help: "Replace an existing OUTPUT that is a previous export of the same format.")
    var overwrite = false

    func validate() throws {
        do { _ = try checkReplaceableOutputPath(output, flag: "--output") } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        try reportingFailures {
            // Refused targets cost nothing: they are checked before the weights are read (and again when written).
            _ = try checkExportTarget(output, format: format, overwrite: overwrite)
            let source = try ModelSource(checkpoint: weights.checkpoint, config: configOption.config)
            let vae = AutoencoderKL(source.config)
            print(try source.loadWeights(into: vae))
            try export(vae, format: format, to: output, overwrite: overwrite)
            print("wrote \(output) (\(format.rawValue), \(vae.namedParameters.count) tensors; \(vae.config.yamlDescription))")
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}
