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
            pt: OUTPUT is a .pt file in the original PyTorch tool's layout, {"epoch", "model_state_dict",
              "optimizer_state_dict", "loss"}, for its resume snippet: from a vae-dist training checkpoint with its
              epoch, optimizer state and loss; from weights alone with epoch 0, a fresh Adam (lr 1e-4, the original's
              default) and loss None.
            Except for pt, optimizer state and training metadata are left out. ldm, sd and pt are refused for a model with
            norm_num_groups other than 32 (ldm fixes 32 groups): use diffusers. An existing OUTPUT is refused
            unless --overwrite is given, and even then it is replaced only when it is a previous export of the same
            format (a diffusers folder holding only config.json and weights files; a safetensors file): a folder
            with other files, a device, a FIFO, a symbolic link, '.', '..' or a folder holding the working
            directory are refused. The output appears whole or not at all; the old one stays until then.
            """)

    @OptionGroup var weights: RequiredWeights

    @OptionGroup var configOption: ConfigOption<TrainingDefaults>

    @Option(help: "diffusers | ldm | sd | pt.")
    var format: ExportFormat

    @Option(help: "Where to write: a folder for diffusers, a .safetensors file for ldm and sd, a .pt file for pt.")
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
            let checkpoint = format == .pt ? try trainingCheckpoint() : nil
            print(try source.loadWeights(checkpoint?.weights ?? source.readWeights(), into: vae))
            let training = try checkpoint.map {
                try TrainingCheckpoint.torchTrainingState(of: $0.contents, path: weights.checkpoint, parameterNames: vae.namedParameters.map(\.name))
            }
            try export(vae, format: format, to: output, overwrite: overwrite, training: training)
            print("wrote \(output) (\(format.rawValue), \(vae.namedParameters.count) tensors; \(vae.config.yamlDescription))")
            if format == .pt {
                let state = training.map { "epoch \($0.epoch), \($0.optimizer.group.kind.rawValue) state at step \($0.optimizer.step) from the checkpoint" }
                    ?? "epoch 0 and a fresh Adam (lr 1e-4): \(weights.checkpoint) holds no optimizer state"
                print("  with \(state)")
            }
        }
    }

    /// A vae-dist training checkpoint (.safetensors or .pt), for a pt export: parsed once, its weights (as
    /// `ModelSource.readWeights` reads them) beside its epoch, optimizer state and loss. nil for weights that carry
    /// none (plain weights, vae_final_ema, a diffusers folder): the header says which.
    private func trainingCheckpoint() throws -> (contents: TrainingCheckpoint.Contents, weights: ReadWeights)? {
        let path = weights.checkpoint
        guard let mode = fileModeIfPresent(path), mode & S_IFMT != S_IFDIR,
              try CheckpointMetadata.metadata(path: path)["format"] == CheckpointMetadata.checkpointFormat else { return nil }
        let contents = try TrainingCheckpoint.read(path: path)
        let location = TorchCheckpoint.isZipArchive(path: path) ? TorchTrainingCheckpoint.weightsKey : nil
        return (contents, ReadWeights(tensors: contents.file.tensors.filter { isVAEKey($0.key) }, location: location))
    }
}

extension ExportFormat: ExpressibleByArgument {}
