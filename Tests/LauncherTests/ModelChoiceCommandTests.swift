import Foundation
import VAECore
import VAEFormats
import XCTest

/// Which model each command loads from --checkpoint / --init_weights and --config (all decided by `ModelSource`).
final class ModelChoiceCommandTests: XCTestCase {
    var dir: String!
    let yaml = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
    let json = VAEDistBinary.fixture("model-source/vae-tiny-g8/config.json")
    let ldmWeights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")
    let diffusersWeights = VAEDistBinary.fixture("vae-tiny-g8/weights.diffusers.safetensors")
    let images = ["images-64/astronaut_rgb8.png", "images-64/camera_gray.jpg"].map(VAEDistBinary.fixture)

    override func setUpWithError() throws { dir = try temporaryDirectory("model-choice") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A diffusers model folder of the tiny fixture: config.json written by diffusers, weights under diffusers names.
    func diffusersFolder() throws -> String {
        let folder = "\(dir!)/tiny-diffusers"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: json, toPath: "\(folder)/config.json")
        try FileManager.default.copyItem(atPath: diffusersWeights, toPath: "\(folder)/diffusion_pytorch_model.safetensors")
        return folder
    }

    func reconstruct(_ model: [String], into output: String) throws -> CommandResult {
        try VAEDistBinary.run(["reconstruct"] + model + ["--img_size", "16", "--threads", "1", "--output", "\(dir!)/\(output)"] + images)
    }

    func contents(_ output: String) throws -> [String: Data] {
        let folder = "\(dir!)/\(output)"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        return Dictionary(uniqueKeysWithValues: try names.map { ($0, try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\($0)"))) })
    }

    func testReconstructTakesADiffusersFolderWithoutConfig() throws {
        let folder = try diffusersFolder()
        let fromFolder = try reconstruct(["--checkpoint", folder], into: "folder")
        XCTAssertEqual(fromFolder.status, 0, fromFolder.output)
        assertMentions(fromFolder.stdout, ["loaded \(folder)/diffusion_pytorch_model.safetensors (diffusers names)",
                                           "config \(folder)/config.json (diffusers)", "ch 16"])
        let fromLdm = try reconstruct(["--checkpoint", ldmWeights, "--config", yaml], into: "ldm")
        XCTAssertEqual(fromLdm.status, 0, fromLdm.output)
        XCTAssertEqual(try contents("folder"), try contents("ldm"))
        XCTAssertEqual(try contents("folder").count, 5)
    }

    /// Issue #21: the weights file of a diffusers folder, given by itself, is the folder's model (its config.json
    /// says 8 groups); before, the SD v1 default applied. A --config that disagrees with it is refused.
    func testAWeightsFileOfAnExportedFolderComesWithItsConfig() throws {
        let folder = "\(dir!)/exported"
        let exported = try VAEDistBinary.run(["export", "--checkpoint", ldmWeights, "--config", yaml, "--format", "diffusers",
                                              "--output", folder])
        XCTAssertEqual(exported.status, 0, exported.output)
        let weights = "\(folder)/diffusion_pytorch_model.safetensors"
        let fromFile = try reconstruct(["--checkpoint", weights], into: "file")
        XCTAssertEqual(fromFile.status, 0, fromFile.output)
        assertMentions(fromFile.stdout, ["loaded \(weights) (diffusers names)", "config \(folder)/config.json (diffusers, beside the weights)",
                                         "norm_num_groups 8"])
        XCTAssertEqual(try reconstruct(["--checkpoint", folder], into: "folder").status, 0)
        XCTAssertEqual(try contents("file"), try contents("folder"))

        let g32 = VAEDistBinary.fixture("vae-small-g32/config.yaml")
        let conflict = try reconstruct(["--checkpoint", weights, "--config", g32], into: "conflict")
        XCTAssertEqual(conflict.status, 1, conflict.output)
        assertMentions(conflict.stderr, ["--config \(g32) disagrees with \(folder)/config.json", weights,
                                         "norm_num_groups 32 in --config but 8 with the weights"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/conflict"))
    }

    func testReconstructReadsPyTorchCheckpoints() throws {
        let fromLdm = try reconstruct(["--checkpoint", ldmWeights, "--config", yaml], into: "ldm")
        XCTAssertEqual(fromLdm.status, 0, fromLdm.output)
        for (file, location) in [("sd_style.ckpt", "state_dict"), ("vae_epoch_2.pt", "model_state_dict")] {
            let path = VAEDistBinary.fixture("torch-checkpoints/\(file)")
            let r = try reconstruct(["--checkpoint", path, "--config", yaml], into: file)
            XCTAssertEqual(r.status, 0, r.output)
            assertMentions(r.stdout, ["loaded \(path)", "PyTorch checkpoint, state dict at \(location)"])
            XCTAssertEqual(try contents(file), try contents("ldm"), file)
        }
    }

    /// The case: our own vae_final.safetensors reconstructs without repeating the config.
    func testReconstructUsesTheConfigStoredInOurCheckpoint() throws {
        let train = "\(dir!)/train"
        try FileManager.default.createDirectory(atPath: train, withIntermediateDirectories: true)
        for image in images { try FileManager.default.copyItem(atPath: image, toPath: "\(train)/\((image as NSString).lastPathComponent)") }
        let trained = try VAEDistBinary.run(["train", "--train_dir", train, "--config_path", yaml, "--output_dir", "\(dir!)/run",
                                             "--epochs", "1", "--batch_size", "2", "--img_size", "16", "--num_recon", "2", "--threads", "1"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let final = "\(dir!)/run/vae_final.safetensors"
        let stored = try reconstruct(["--checkpoint", final], into: "stored")
        XCTAssertEqual(stored.status, 0, stored.output)
        assertMentions(stored.stdout, ["loaded \(final) (ldm names)", "config stored in \(final)"])
        let explicit = try reconstruct(["--checkpoint", final, "--config", yaml], into: "explicit")
        XCTAssertEqual(explicit.status, 0, explicit.output)
        XCTAssertEqual(try contents("stored"), try contents("explicit"))
    }

    func testAnalyzeTakesADiffusersConfigJSON() throws {
        func analyze(_ model: [String], _ output: String) throws -> String {
            let r = try VAEDistBinary.run(["analyze", "--img1", images[0], "--img2", images[1], "--img_size", "16", "--threads", "1",
                                           "--output", "\(dir!)/\(output)"] + model)
            XCTAssertEqual(r.status, 0, r.output)
            assertMentions(r.stderr + r.stdout, ["loaded"])
            return try String(contentsOfFile: "\(dir!)/\(output)/single/layer_differences.json", encoding: .utf8)
        }
        XCTAssertEqual(try analyze(["--checkpoint", diffusersWeights, "--config", json], "json"),
                       try analyze(["--checkpoint", ldmWeights, "--config", yaml], "yaml"))
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir!)/json/single/summary.json")))
        XCTAssertEqual((summary as? [String: Any])?["config"] as? String, json)
    }

    func testTrainInitWeightsBringTheirConfigAndResumeKeepsTheCheckpoints() throws {
        let train = "\(dir!)/train"
        try FileManager.default.createDirectory(atPath: train, withIntermediateDirectories: true)
        for image in images { try FileManager.default.copyItem(atPath: image, toPath: "\(train)/\((image as NSString).lastPathComponent)") }
        let base = ["train", "--train_dir", train, "--output_dir", "\(dir!)/run", "--batch_size", "2", "--img_size", "16",
                    "--num_recon", "2", "--threads", "1", "--save_interval", "1"]
        let folder = try diffusersFolder()
        // Under mpirun rank 0 reads the weights and config and sends them to the other rank.
        let started = try VAEDistBinary.run(base + ["--epochs", "1", "--init_weights", folder], ranks: 2)
        XCTAssertEqual(started.status, 0, started.output)
        assertMentions(started.output, ["loaded \(folder)/diffusion_pytorch_model.safetensors (diffusers names)",
                                        "config \(folder)/config.json (diffusers)", "model: ch 16",
                                        "--init_weights \(folder) (its VAE tensors as float32, and the config): ", "bytes read on rank 0, sent to 1 rank (XXH64 "])
        let checkpoint = "\(dir!)/run/checkpoints/vae_epoch_1.safetensors"
        // The folder's architecture, and the latent settings its config.json states (diffusers' defaults written out).
        var stated = try VAEConfig.load(path: yaml)
        stated.latentSpace = LatentSpace(scalingFactor: 0.18215, forceUpcast: true)
        XCTAssertEqual(try CheckpointMetadata.storedConfig(path: checkpoint), stated)

        // --resume keeps the checkpoint's model; a --config_path describing another one is refused.
        let conflict = try VAEDistBinary.run(base + ["--epochs", "2", "--resume", checkpoint,
                                                     "--config_path", VAEDistBinary.fixture("vae-small-g32/config.yaml")], ranks: 2)
        XCTAssertNotEqual(conflict.status, 0)
        assertMentions(conflict.stderr, ["--config_path", "differs from the model in \(checkpoint)"])
        XCTAssertEqual(conflict.stderr.components(separatedBy: "differs from the model").count - 1, 1, "reported once:\n\(conflict.stderr)")
        // The image size is checked against the checkpoint's model (2 levels: divisible by 2), not the default's.
        let oddSize = try VAEDistBinary.run(base + ["--epochs", "2", "--resume", checkpoint, "--img_size", "15"])
        XCTAssertNotEqual(oddSize.status, 0)
        assertMentions(oddSize.stderr, ["--img_size 15 is not divisible by 2 "])
        let resumed = try VAEDistBinary.run(base + ["--epochs", "2", "--resume", checkpoint])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        assertMentions(resumed.output, ["model: ch 16"])
    }

    /// An SDXL VAE fine-tuned with --init_weights keeps SDXL's scaling_factor 0.13025 (not diffusers' default
    /// 0.18215) in its checkpoints and in every export of them.
    func testAnSDXLStyleVAEFineTunedWithInitWeightsKeepsItsLatentSettings() throws {
        let train = "\(dir!)/train"
        try FileManager.default.createDirectory(atPath: train, withIntermediateDirectories: true)
        for image in images { try FileManager.default.copyItem(atPath: image, toPath: "\(train)/\((image as NSString).lastPathComponent)") }
        // The small 32-group fixture (ldm and sd exports need 32 groups) as a diffusers folder stating SDXL's settings.
        let folder = "\(dir!)/sdxl-vae"
        let made = try VAEDistBinary.run(["export", "--checkpoint", VAEDistBinary.fixture("vae-small-g32/weights.ldm.safetensors"),
                                          "--config", VAEDistBinary.fixture("vae-small-g32/config.yaml"), "--format", "diffusers",
                                          "--output", folder])
        XCTAssertEqual(made.status, 0, made.output)
        let config = try String(contentsOfFile: "\(folder)/config.json", encoding: .utf8)
        XCTAssertFalse(config.contains("scaling_factor"), "a model from a yaml states no latent settings:\n\(config)")
        try config.replacingOccurrences(of: "\"act_fn\"", with: "\"force_upcast\": false, \"scaling_factor\": 0.13025, \"act_fn\"")
            .write(toFile: "\(folder)/config.json", atomically: true, encoding: .utf8)
        let run = try VAEDistBinary.run(["train", "--train_dir", train, "--output_dir", "\(dir!)/run", "--batch_size", "2",
                                         "--img_size", "16", "--num_recon", "0", "--threads", "1", "--epochs", "1",
                                         "--init_weights", folder])
        XCTAssertEqual(run.status, 0, run.output)
        let final = "\(dir!)/run/vae_final.safetensors"
        XCTAssertEqual(try CheckpointMetadata.storedConfig(path: final)?.latentSpace, LatentSpace(scalingFactor: 0.13025, forceUpcast: false))
        for format in ["diffusers", "ldm"] {
            let exported = try VAEDistBinary.run(["export", "--checkpoint", final, "--format", format, "--output", "\(dir!)/out-\(format)"])
            XCTAssertEqual(exported.status, 0, exported.output)
        }
        let json = try String(contentsOfFile: "\(dir!)/out-diffusers/config.json", encoding: .utf8)
        assertMentions(json, ["\"scaling_factor\": 0.13025", "\"force_upcast\": false"])
        XCTAssertEqual(try SafeTensors.readMetadata(path: "\(dir!)/out-ldm")["scaling_factor"], "0.13025")
        // Resuming with the yaml of the same model is no change of model: a yaml cannot state the latent settings.
        let resumed = try VAEDistBinary.run(["train", "--train_dir", train, "--output_dir", "\(dir!)/run", "--batch_size", "2",
                                             "--img_size", "16", "--num_recon", "0", "--threads", "1", "--epochs", "2",
                                             "--resume", "auto", "--config_path", VAEDistBinary.fixture("vae-small-g32/config.yaml")])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertEqual(try CheckpointMetadata.storedConfig(path: final)?.latentSpace.scalingFactor, 0.13025)
    }

    func testNonFiniteWeightsStopEveryCommandNamingTheTensor() throws {
        let original = try SafeTensors.read(path: ldmWeights)
        var broken = SafeTensors()
        for name in original.names {
            var values = original[name]!.values
            if name == "decoder.up.0.block.1.conv2.weight" { values[7] = .nan }
            broken.add(name, shape: original[name]!.shape, values: values)
        }
        let path = "\(dir!)/broken.safetensors"
        try broken.write(path: path)
        let mentions = [path, "1 tensor holds NaN or Inf", "decoder.up.0.block.1.conv2.weight (1 of"]

        let analyzed = try VAEDistBinary.run(["analyze", "--img1", images[0], "--img2", images[1], "--img_size", "16",
                                              "--checkpoint", path, "--config", yaml, "--output", "\(dir!)/a"])
        XCTAssertNotEqual(analyzed.status, 0)
        assertMentions(analyzed.stderr, mentions)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/a/single/layer_differences.json"))

        let reconstructed = try reconstruct(["--checkpoint", path, "--config", yaml], into: "r")
        XCTAssertNotEqual(reconstructed.status, 0)
        assertMentions(reconstructed.stderr, mentions)

        let train = "\(dir!)/train"
        try FileManager.default.createDirectory(atPath: train, withIntermediateDirectories: true)
        for image in images { try FileManager.default.copyItem(atPath: image, toPath: "\(train)/\((image as NSString).lastPathComponent)") }
        let trained = try VAEDistBinary.run(["train", "--train_dir", train, "--config_path", yaml, "--init_weights", path,
                                             "--output_dir", "\(dir!)/run", "--epochs", "1", "--batch_size", "2", "--img_size", "16"])
        XCTAssertNotEqual(trained.status, 0)
        assertMentions(trained.stderr, mentions)
    }

    func testBenchChoicesAreEnumsAndItsConfigComesFromTheSameOptions() throws {
        let badMode = try VAEDistBinary.run(["bench", "--mode", "fly"])
        XCTAssertNotEqual(badMode.status, 0)
        assertMentions(badMode.stderr, ["--mode", "fly", "train", "analyze"])
        let badPreset = try VAEDistBinary.run(["bench", "--preset", "sd-v2"])
        XCTAssertNotEqual(badPreset.status, 0)
        assertMentions(badPreset.stderr, ["--preset", "sd-v2", "sd-v1"])
        let both = try VAEDistBinary.run(["bench", "--preset", "sd-v1", "--config", yaml])
        XCTAssertNotEqual(both.status, 0)
        assertMentions(both.stderr, ["--config or --preset"])
        let badSize = try VAEDistBinary.run(["bench", "--config", json, "--img_size", "15", "--steps", "1"])
        XCTAssertNotEqual(badSize.status, 0)
        assertMentions(badSize.stderr, ["--img_size 15", "divisible by 2"])

        let r = try VAEDistBinary.run(["bench", "--config", json, "--img-size", "16", "--steps", "1", "--mode", "analyze", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["model: ch 16, ch_mult [1,2]", "analyze: img 16"])
    }

    func testEveryModelCommandSharesTheOptionsWithItsOwnImageSizeDefault() throws {
        let required = [
            "analyze": ["--img1", images[0], "--img2", images[1], "--checkpoint", ldmWeights],
            "analyze-folder": ["--folder", dir!, "--checkpoint", ldmWeights],
            "reconstruct": ["--checkpoint", ldmWeights, "--output", dir!, images[0]],
            "train": ["--train_dir", dir!],
            "bench": [],
        ]
        for (command, size) in [("analyze", 512), ("analyze-folder", 512), ("reconstruct", 256), ("train", 256), ("bench", 128)] {
            let help = try VAEDistBinary.run([command, "--help"])
            XCTAssertEqual(help.status, 0, command)
            assertMentions(help.stdout, ["--config", "--img_size", "--threads", "--device"])
            // Reconstruction's default is the size a vae-dist checkpoint was trained at, the others' a number.
            let sizeDefault = command == "reconstruct" ? "Default: the training size stored in a vae-dist checkpoint, else \(size)." : "Default: \(size)."
            assertMentions(help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " "), ["or a diffusers config.json", sizeDefault])
            let gpu = try VAEDistBinary.run([command, "--device", "cuda"] + required[command]!)
            XCTAssertNotEqual(gpu.status, 0, command)
            assertMentions(gpu.stderr, ["--device cuda", "CPUs only"])
        }
    }
}
