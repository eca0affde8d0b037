import Foundation
@testable import VAECore
@testable import VAEFormats
@testable import VAETraining
import XCTest

/// `ModelSource`: which config and which weights a command gets from --checkpoint and --config.
final class ModelSourceTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    private var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "vae-dist-model-source-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func fixture(_ relative: String) -> String { fixtures.appendingPathComponent(relative).path }

    private var tinyYAML: String { fixture("vae-tiny-g8/config.yaml") }
    /// Written by diffusers (tools/make_diffusers_configs.py), which loaded the tiny diffusers weights with it strictly.
    private var tinyJSON: String { fixture("model-source/vae-tiny-g8/config.json") }

    /// A diffusers model folder: config.json (unless nil) and the weights under `weightsName`.
    private func diffusersFolder(_ name: String, config: String? = nil, weights: String = "vae-tiny-g8/weights.diffusers.safetensors",
                                 weightsName: String = "diffusion_pytorch_model.safetensors") throws -> String {
        let folder = "\(dir!)/\(name)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture(weights), toPath: "\(folder)/\(weightsName)")
        if let config { try FileManager.default.copyItem(atPath: config, toPath: "\(folder)/config.json") }
        return folder
    }

    /// `config` with the latent settings the fixtures' config.json files state (diffusers writes its defaults out),
    /// which a config read from them carries.
    private func statingDiffusersDefaults(_ config: VAEConfig) -> VAEConfig {
        var config = config
        config.latentSpace = LatentSpace(scalingFactor: 0.18215, forceUpcast: true)
        return config
    }

    private func parameters(_ model: AutoencoderKL) -> [String: [UInt32]] {
        Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter.value.array.map(\.bitPattern)) })
    }

    private func ldmModel() throws -> AutoencoderKL {
        let model = AutoencoderKL(try VAEConfig.load(path: tinyYAML))
        try model.loadWeights(path: fixture("vae-tiny-g8/weights.ldm.safetensors"))
        return model
    }

    private func assertThrows(_ expression: @autoclosure () throws -> some Any, containing parts: [String],
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            for part in parts {
                XCTAssertTrue("\(error)".contains(part), "message lacks \(part): \(error)", file: file, line: line)
            }
        }
    }

    // MARK: diffusers folders

    func testDiffusersFolderBringsItsConfigAndTheSameWeightsAsTheLdmFile() throws {
        let folder = try diffusersFolder("vae", config: tinyJSON)
        let source = try ModelSource(checkpoint: folder, config: nil)
        XCTAssertEqual(source.config, statingDiffusersDefaults(try VAEConfig.load(path: tinyYAML)))
        XCTAssertEqual(source.configOrigin, .diffusersFolder("\(folder)/config.json"))
        XCTAssertEqual(source.weights, WeightsFile(path: "\(folder)/diffusion_pytorch_model.safetensors", diffusersFolder: folder))

        let model = AutoencoderKL(source.config)
        let line = try source.loadWeights(into: model)
        XCTAssertEqual(parameters(model), parameters(try ldmModel()))
        for part in ["\(folder)/diffusion_pytorch_model.safetensors", "diffusers names", "\(folder)/config.json (diffusers)", "ch 16"] {
            XCTAssertTrue(line.contains(part), "log line lacks \(part): \(line)")
        }
    }

    func testFolderVariantsPipelinesAndExplicitConfigs() throws {
        // Only the fp16 variant (here ldm-named F16 weights: the naming is told by the keys, not the file name).
        let fp16 = try diffusersFolder("fp16", config: tinyJSON, weights: "vae-tiny-g8/weights.ldm-f16.safetensors",
                                       weightsName: "diffusion_pytorch_model.fp16.safetensors")
        XCTAssertEqual(try ModelSource(checkpoint: fp16, config: nil).weights?.path, "\(fp16)/diffusion_pytorch_model.fp16.safetensors")
        // Both: the full-precision file is preferred.
        try FileManager.default.copyItem(atPath: fixture("vae-tiny-g8/weights.diffusers.safetensors"),
                                         toPath: "\(fp16)/diffusion_pytorch_model.safetensors")
        XCTAssertEqual(try ModelSource(checkpoint: fp16, config: nil).weights?.path, "\(fp16)/diffusion_pytorch_model.safetensors")

        // A pipeline folder keeps its VAE in vae/.
        let pipeline = "\(dir!)/pipeline"
        try FileManager.default.createDirectory(atPath: pipeline, withIntermediateDirectories: true)
        let vae = try diffusersFolder("pipeline/vae", config: tinyJSON)
        let fromPipeline = try ModelSource(checkpoint: pipeline, config: nil)
        XCTAssertEqual(fromPipeline.weights?.diffusersFolder, vae)
        XCTAssertEqual(fromPipeline.configOrigin, .diffusersFolder("\(vae)/config.json"))

        // An explicit --config wins over the folder's; a folder without config.json means the SD v1 VAE.
        let explicit = try ModelSource(checkpoint: vae, config: tinyYAML)
        XCTAssertEqual(explicit.configOrigin, .file(tinyYAML))
        let bare = try diffusersFolder("bare")
        XCTAssertEqual(try ModelSource(checkpoint: bare, config: nil).config, .sdV1)
        XCTAssertEqual(try ModelSource(checkpoint: bare, config: nil).configOrigin, .sdV1Default)

        let empty = "\(dir!)/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        assertThrows(try ModelSource(checkpoint: empty, config: nil),
                     containing: [empty, "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                                  "diffusion_pytorch_model.bin"])
        assertThrows(try ModelSource(checkpoint: "\(dir!)/none.safetensors", config: nil), containing: ["none.safetensors", "cannot read"])
    }

    // MARK: Configs

    func testDiffusersConfigJSONGivesTheLdmConfig() throws {
        // Attention in the second level's blocks and 8 groups: exactly the tiny yaml.
        XCTAssertEqual(try ModelSource.loadConfig(path: tinyJSON), statingDiffusersDefaults(try VAEConfig.load(path: tinyYAML)))
        var sdV1 = VAEConfig.sdV1
        sdV1.resolution = 512
        XCTAssertEqual(try ModelSource.loadConfig(path: fixture("model-source/sd-v1/config.json")), statingDiffusersDefaults(sdV1))

        // Keys left out take diffusers' defaults; attention at the lowest resolution of a three-level model.
        let minimal = try write("minimal.json", """
            {"_class_name": "AutoencoderKL", "block_out_channels": [32, 64, 64], "sample_size": 64,
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
             "up_block_types": ["AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"], "latent_channels": 8}
            """)
        XCTAssertEqual(try ModelSource.loadConfig(path: minimal),
                       VAEConfig(ch: 32, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [16], zChannels: 8, embedDim: 8,
                                 resolution: 64, normNumGroups: 32))
        // The yaml layouts still load through the same entry point.
        XCTAssertEqual(try ModelSource.loadConfig(path: tinyYAML), try VAEConfig.load(path: tinyYAML))
    }

    func testUnsupportedDiffusersConfigsAreRefusedNamingFileAndKey() throws {
        let base = try String(contentsOfFile: tinyJSON, encoding: .utf8)
        func variant(_ name: String, _ replace: String, _ with: String) throws -> String {
            XCTAssertTrue(base.contains(replace), replace)
            return try write(name, base.replacingOccurrences(of: replace, with: with))
        }
        let unknown = try variant("unknown.json", "\"act_fn\"", "\"temb_channels\": 512, \"act_fn\"")
        assertThrows(try ModelSource.loadConfig(path: unknown), containing: [unknown, "unknown key temb_channels"])
        let unet = try variant("unet.json", "\"_class_name\": \"AutoencoderKL\"", "\"_class_name\": \"UNet2DConditionModel\", \"cross_attention_dim\": 768")
        assertThrows(try ModelSource.loadConfig(path: unet), containing: [unet, "_class_name is UNet2DConditionModel", "vae/"])
        let gelu = try variant("gelu.json", "\"silu\"", "\"gelu\"")
        assertThrows(try ModelSource.loadConfig(path: gelu), containing: [gelu, "act_fn is gelu"])
        let mismatch = try variant("mismatch.json", "\"AttnUpDecoderBlock2D\",\n    \"UpDecoderBlock2D\"", "\"UpDecoderBlock2D\",\n    \"AttnUpDecoderBlock2D\"")
        assertThrows(try ModelSource.loadConfig(path: mismatch), containing: [mismatch, "up_block_types", "down_block_types"])
        let block = try variant("block.json", "\"AttnDownEncoderBlock2D\"", "\"SimpleDownEncoderBlock2D\"")
        assertThrows(try ModelSource.loadConfig(path: block), containing: [block, "down_block_types[1] is SimpleDownEncoderBlock2D"])
        let channels = try variant("channels.json", "16,\n    32", "16,\n    24")
        assertThrows(try ModelSource.loadConfig(path: channels), containing: [channels, "block_out_channels", "24 is not a multiple of"])
        let count = try variant("count.json", "16,\n    32", "16,\n    32,\n    32")
        assertThrows(try ModelSource.loadConfig(path: count), containing: [count, "down_block_types has 2 entries", "block_out_channels 3"])
        let quant = try variant("quant.json", "\"use_quant_conv\": true", "\"use_quant_conv\": false")
        assertThrows(try ModelSource.loadConfig(path: quant), containing: [quant, "use_quant_conv is false: that architecture", "not supported"])
        let groups = try variant("groups.json", "\"norm_num_groups\": 8", "\"norm_num_groups\": 12")
        assertThrows(try ModelSource.loadConfig(path: groups), containing: [groups, "norm_num_groups 12 must divide"])
        let text = try variant("text.json", "\"layers_per_block\": 1", "\"layers_per_block\": \"one\"")
        assertThrows(try ModelSource.loadConfig(path: text), containing: [text, "layers_per_block must be a positive integer", "\"one\""])
        let flag = try variant("flag.json", "\"layers_per_block\": 1", "\"layers_per_block\": true")
        assertThrows(try ModelSource.loadConfig(path: flag), containing: [flag, "layers_per_block must be a positive integer"])
    }

    /// The latent settings a diffusers config states are read into the config (an SDXL VAE's 0.13025), checked, and
    /// adopted by an explicit yaml --config that agrees with them (a yaml cannot state them).
    func testLatentSettingsOfADiffusersConfigAreCarried() throws {
        let base = try String(contentsOfFile: tinyJSON, encoding: .utf8)
        func variant(_ name: String, _ replacements: [(String, String)]) throws -> String {
            var text = base
            for (old, new) in replacements {
                XCTAssertTrue(text.contains(old), old)
                text = text.replacingOccurrences(of: old, with: new)
            }
            return try write(name, text)
        }
        let sdxl = try variant("sdxl.json", [("\"scaling_factor\": 0.18215", "\"scaling_factor\": 0.13025"),
                                            ("\"force_upcast\": true", "\"force_upcast\": false")])
        XCTAssertEqual(try ModelSource.loadConfig(path: sdxl).latentSpace, LatentSpace(scalingFactor: 0.13025, forceUpcast: false))
        let flux = try variant("shifted.json", [("\"shift_factor\": null", "\"shift_factor\": 0.1159"),
                                               ("\"latents_mean\": null", "\"latents_mean\": [0.5, -1, 2e-1, 3]"),
                                               ("\"latents_std\": null", "\"latents_std\": [1, 2, 3, 4.5]")])
        XCTAssertEqual(try ModelSource.loadConfig(path: flux).latentSpace,
                       LatentSpace(scalingFactor: 0.18215, shiftFactor: 0.1159, latentsMean: [0.5, -1, 0.2, 3],
                                   latentsStd: [1, 2, 3, 4.5], forceUpcast: true))
        // Left out or null: not stated.
        let unstated = try variant("unstated.json", [("\"scaling_factor\": 0.18215", "\"scaling_factor\": null"),
                                                    ("  \"force_upcast\": true,\n", "")])
        XCTAssertTrue(try ModelSource.loadConfig(path: unstated).latentSpace.isEmpty)
        // Wrong values are refused naming the file and key.
        for (name, old, new, part) in [("scale.json", "\"scaling_factor\": 0.18215", "\"scaling_factor\": \"big\"", "scaling_factor must be a number"),
                                       ("zero.json", "\"scaling_factor\": 0.18215", "\"scaling_factor\": 0", "scaling_factor must be a positive number"),
                                       ("mean.json", "\"latents_mean\": null", "\"latents_mean\": [1, 2, 3]", "latents_mean has 3 entries, but the model has 4 latent channels"),
                                       ("std.json", "\"latents_std\": null", "\"latents_std\": [1, 2, 0, 4]", "latents_std must hold positive numbers"),
                                       ("upcast.json", "\"force_upcast\": true", "\"force_upcast\": 1", "force_upcast must be true or false")] {
            let path = try variant(name, [(old, new)])
            assertThrows(try ModelSource.loadConfig(path: path), containing: [path, part])
        }
        // A diffusers folder with the SDXL config, given with the tiny yaml: the yaml's architecture, the folder's latent space.
        let folder = try diffusersFolder("sdxl", config: sdxl)
        let source = try ModelSource(checkpoint: folder, config: tinyYAML)
        XCTAssertEqual(source.configOrigin, .file(tinyYAML))
        XCTAssertEqual(source.config.latentSpace.scalingFactor, 0.13025)
        XCTAssertTrue(try source.loadWeights(into: AutoencoderKL(source.config)).contains("scaling_factor 0.13025"))
    }

    /// SD3's and FLUX's VAEs (no quant convs, 16 latent channels) and VAEs without mid-block attention: one line
    /// saying the architecture is not supported, for their configs and for their weights given without one.
    func testUnsupportedArchitecturesAreRefusedInOneLine() throws {
        let base = try String(contentsOfFile: tinyJSON, encoding: .utf8)
        for (key, what) in [("use_post_quant_conv", "no post_quant_conv"), ("mid_block_add_attention", "no attention in the mid block")] {
            let path = try write("\(key).json", base.replacingOccurrences(of: "\"\(key)\": true", with: "\"\(key)\": false"))
            assertThrows(try ModelSource.loadConfig(path: path), containing: [path, "\(key) is false: that architecture (\(what)", "not supported"])
        }
        let ldm = try SafeTensors.read(path: fixture("vae-tiny-g8/weights.ldm.safetensors"))
        // The tiny weights made FLUX-like: no quant convs, and a decoder.conv_in taking 16 latent channels.
        var flux = SafeTensors()
        for name in ldm.names where !name.hasPrefix("quant_conv.") && !name.hasPrefix("post_quant_conv.") {
            let entry = ldm[name]!
            if name == "decoder.conv_in.weight" {
                let shape = [entry.shape[0], 16] + entry.shape[2...]
                flux.add(name, shape: shape, values: [Float](repeating: 0.01, count: shape.reduce(1, *)))
            } else {
                flux.add(name, shape: entry.shape, values: entry.values)
            }
        }
        let fluxPath = "\(dir!)/ae.safetensors"
        try flux.write(path: fluxPath)
        XCTAssertThrowsError(try ModelSource(checkpoint: fluxPath, config: nil).loadWeights(into: AutoencoderKL(.sdV1))) { error in
            let message = "\(error)"
            for part in [fluxPath, "without quant_conv and post_quant_conv, with 16 latent channels", "SD3's and FLUX's VAE", "not supported"] {
                XCTAssertTrue(message.contains(part), "message lacks \(part): \(message)")
            }
            XCTAssertFalse(message.contains("\n"), "one line, not the mismatch list: \(message)")
        }
        var noMidAttention = SafeTensors()
        for name in ldm.names where !name.contains(".mid.attn_1.") { noMidAttention.add(name, shape: ldm[name]!.shape, values: ldm[name]!.values) }
        let midPath = "\(dir!)/no-mid-attention.safetensors"
        try noMidAttention.write(path: midPath)
        assertThrows(try ModelSource(checkpoint: midPath, config: tinyYAML).loadWeights(into: AutoencoderKL(try VAEConfig.load(path: tinyYAML))),
                     containing: [midPath, "without attention in its mid block", "not supported"])
    }

    func testVaeDistCheckpointsBringTheirConfigAndPlainFilesTheDefault() throws {
        let model = try ldmModel()
        let checkpoint = "\(dir!)/vae_epoch_1.safetensors"
        try TrainingCheckpoint.save(model: model, optimizer: Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4),
                            position: TrainingPosition(), options: TrainingOptions(trainDir: dir), runID: "model-source-test", to: checkpoint)
        let source = try ModelSource(checkpoint: checkpoint, config: nil)
        XCTAssertEqual(source.config, model.config)
        XCTAssertEqual(source.configOrigin, .storedInCheckpoint(checkpoint))
        let reloaded = AutoencoderKL(source.config)
        XCTAssertTrue(try source.loadWeights(into: reloaded).contains("ldm names"))
        XCTAssertEqual(parameters(reloaded), parameters(model))

        let plainPath = fixture("vae-tiny-g8/weights.ldm.safetensors")
        let plain = try ModelSource(checkpoint: plainPath, config: nil)
        XCTAssertEqual(plain.configOrigin, .sdV1Default)
        XCTAssertEqual(plain.config, .sdV1)
        assertThrows(try plain.loadWeights(into: AutoencoderKL(plain.config)),
                     containing: [plainPath, "does not fit the model (ch 128", "SD v1 VAE (default): no --config given and the weights carry none"])
        XCTAssertNil(try ModelSource(checkpoint: nil, config: tinyJSON).weights)
    }

    /// The training size comes from the metadata read for the config (reconstruct's default --img_size): a
    /// training checkpoint's options (.safetensors and .pt), averaged weights' img_size; none for other weights.
    func testTheStoredTrainingSizeComesWithTheSource() throws {
        let model = try ldmModel()
        var options = TrainingOptions(trainDir: dir)
        options.imgSize = 48
        let optimizer = Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4)
        for name in ["vae_epoch_1.safetensors", "vae_epoch_1.pt"] {
            let path = "\(dir!)/\(name)"
            try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: TrainingPosition(), options: options,
                                        runID: "size", to: path)
            XCTAssertEqual(try ModelSource(checkpoint: path, config: nil).trainingImageSize, 48, name)
            XCTAssertEqual(try ModelSource(checkpoint: path, config: tinyYAML).trainingImageSize, 48, name)
        }
        let averaged = "\(dir!)/vae_final_ema.safetensors"
        try CheckpointMetadata.saveWeights(model.weightsFile(), config: model.config, imageSize: 40, to: averaged)
        XCTAssertEqual(try ModelSource(checkpoint: averaged, config: nil).trainingImageSize, 40)
        XCTAssertNil(try ModelSource(checkpoint: fixture("vae-tiny-g8/weights.ldm.safetensors"), config: tinyYAML).trainingImageSize)
        XCTAssertNil(try ModelSource(checkpoint: try diffusersFolder("folder", config: tinyJSON), config: nil).trainingImageSize)
        XCTAssertNil(ModelSource(config: model.config, configOrigin: .sdV1Default, weights: nil).trainingImageSize)
    }

    func testFullStableDiffusionFilesContributeTheirVAEOnly() throws {
        let ldm = try SafeTensors.read(path: fixture("vae-tiny-g8/weights.ldm.safetensors"))
        var full = SafeTensors()
        for name in ldm.names { full.add("first_stage_model." + name, shape: ldm[name]!.shape, values: ldm[name]!.values) }
        full.add("model.diffusion_model.out.2.bias", shape: [2], values: [.nan, 1])  // not read, so not refused
        full.add("first_stage_model.loss.logvar", shape: [1], values: [0])
        let path = "\(dir!)/sd-full.safetensors"
        try full.write(path: path)
        let model = AutoencoderKL(try VAEConfig.load(path: tinyYAML))
        let line = try ModelSource(checkpoint: path, config: tinyYAML).loadWeights(into: model)
        XCTAssertTrue(line.contains("ldm names under first_stage_model. (a full SD checkpoint)"), line)
        XCTAssertTrue(line.contains("config \(tinyYAML): ch 16"), line)
        XCTAssertEqual(parameters(model), parameters(try ldmModel()))

        var unet = SafeTensors()
        unet.add("model.diffusion_model.out.2.bias", shape: [1], values: [0])
        let unetPath = "\(dir!)/unet.safetensors"
        try unet.write(path: unetPath)
        assertThrows(try ModelSource(checkpoint: unetPath, config: tinyYAML).loadWeights(into: model),
                     containing: [unetPath, "no VAE tensors", "1 tensor, e.g. model.diffusion_model.out.2.bias"])
    }

    // MARK: PyTorch checkpoints (fixtures of tools/make_torch_checkpoints.py: the tiny fixture's weights)

    func testPyTorchCheckpointsLoadTheSameWeights() throws {
        let expected = parameters(try ldmModel())
        for (file, naming) in [("sd_style.ckpt", "ldm names under first_stage_model. (a full SD checkpoint), PyTorch checkpoint, state dict at state_dict"),
                               ("vae_epoch_2.pt", "ldm names, PyTorch checkpoint, state dict at model_state_dict")] {
            let path = fixture("torch-checkpoints/\(file)")
            let source = try ModelSource(checkpoint: path, config: tinyYAML)
            XCTAssertEqual(source.weights?.format, .torch, file)
            let model = AutoencoderKL(source.config)
            let line = try source.loadWeights(into: model)
            XCTAssertTrue(line.contains("loaded \(path) (\(naming))"), line)
            XCTAssertEqual(parameters(model), expected, file)
        }
        // Without --config a PyTorch file brings none: the SD v1 VAE is assumed.
        XCTAssertEqual(try ModelSource(checkpoint: fixture("torch-checkpoints/vae_epoch_2.pt"), config: nil).configOrigin, .sdV1Default)

        // A diffusers folder that holds only the pickled weights.
        let folder = try diffusersFolder("bin", config: tinyJSON, weights: "torch-checkpoints/vae_epoch_2.pt",
                                         weightsName: "diffusion_pytorch_model.bin")
        let fromFolder = try ModelSource(checkpoint: folder, config: nil)
        XCTAssertEqual(fromFolder.weights, WeightsFile(path: "\(folder)/diffusion_pytorch_model.bin", diffusersFolder: folder))
        XCTAssertEqual(fromFolder.weights?.format, .torch)
        let model = AutoencoderKL(fromFolder.config)
        _ = try fromFolder.loadWeights(into: model)
        XCTAssertEqual(parameters(model), expected)

        // A pre-1.6 pickle gets the torch reader's explanation, not a safetensors complaint.
        let legacy = fixture("torch-checkpoints/legacy.pt")
        assertThrows(try ModelSource(checkpoint: legacy, config: tinyYAML).loadWeights(into: model), containing: [legacy, "legacy"])
    }

    func testImageSizeMustDivideByTheDownsamplingFactor() throws {
        XCTAssertEqual(VAEConfig.sdV1.downsamplingFactor, 8)
        XCTAssertNoThrow(try VAEConfig.sdV1.checkImageSize(512, option: "--img_size"))
        assertThrows(try VAEConfig.sdV1.checkImageSize(500, option: "--img_size"), containing: ["--img_size 500", "divisible by 8"])
    }

    // MARK: Non-finite weights

    func testNonFiniteWeightsAreRefusedNamingTheTensors() throws {
        let original = try SafeTensors.read(path: fixture("vae-tiny-g8/weights.ldm.safetensors"))
        var broken = SafeTensors()
        for name in original.names {
            var values = original[name]!.values
            if name == "decoder.conv_out.weight" { values[0] = .nan; values[5] = .infinity }
            if name == "encoder.mid.attn_1.q.bias" { values[1] = -.infinity }
            broken.add(name, shape: original[name]!.shape, values: values)
        }
        let path = "\(dir!)/broken.safetensors"
        try broken.write(path: path)
        let model = AutoencoderKL(try VAEConfig.load(path: tinyYAML))
        let before = parameters(model)
        assertThrows(try ModelSource(checkpoint: path, config: tinyYAML).loadWeights(into: model),
                     containing: [path, "2 tensors hold NaN or Inf", "encoder.mid.attn_1.q.bias (1 of 32 values)",
                                  "decoder.conv_out.weight (2 of 432 values)"])
        XCTAssertEqual(parameters(model), before, "nothing is loaded from a broken file")
    }

    func testLongListsOfNonFiniteTensorsAreCut() throws {
        let values = Dictionary(uniqueKeysWithValues: (0..<8).map { ("t\($0)", [Float.nan, 1]) })
        assertThrows(try rejectNonFinite(values, order: (0..<8).map { "t\($0)" }, path: "w.safetensors"),
                     containing: ["w.safetensors: 8 tensors", "t0 (1 of 2 values)", "t4", "… and 3 more"])
        XCTAssertNoThrow(try rejectNonFinite(["a": [0, -1e30, 3]], order: ["a"], path: "w.safetensors"))
    }

    func testVAEKeysAreThoseOfAnAutoencoderKL() {
        for key in ["encoder.conv_in.weight", "decoder.up.0.block.0.conv1.bias", "quant_conv.weight", "post_quant_conv.bias",
                    "first_stage_model.decoder.conv_out.weight"] {
            XCTAssertTrue(isVAEKey(key), key)
        }
        for key in ["model.diffusion_model.input_blocks.0.0.weight", "optimizer.exp_avg.encoder.conv_in.weight",
                    "loss.logvar", "first_stage_model.loss.logvar", "cond_stage_model.transformer.text_model.embeddings", "encoder"] {
            XCTAssertFalse(isVAEKey(key), key)
        }
    }

    // MARK: weights beside their config (issue #21)

    /// The small fixture's weights as a diffusers folder whose config.json says 16 groups: the same tensors as
    /// the 32-group config, so that only the config decides the arithmetic.
    private func sixteenGroupFolder() throws -> (folder: String, config: VAEConfig) {
        var config = try VAEConfig.load(path: fixture("vae-small-g32/config.yaml"))
        config.normNumGroups = 16
        let folder = try diffusersFolder("g16", weights: "vae-small-g32/weights.diffusers.safetensors")
        try writeFileAtomically(diffusersConfigJSON(for: config).text, to: "\(folder)/config.json")
        return (folder, config)
    }

    func testAWeightsFileInADiffusersFolderUsesTheConfigBesideIt() throws {
        let (folder, config) = try sixteenGroupFolder()
        let weights = "\(folder)/diffusion_pytorch_model.safetensors"
        let source = try ModelSource(checkpoint: weights, config: nil)
        XCTAssertEqual(source.config, config, "before, the SD v1 default (32 groups) applied")
        XCTAssertEqual(source.configOrigin, .besideWeights("\(folder)/config.json"))
        let line = try source.loadWeights(into: AutoencoderKL(source.config))
        for part in [weights, "config \(folder)/config.json (diffusers, beside the weights)", "norm_num_groups 16"] {
            XCTAssertTrue(line.contains(part), "log line lacks \(part): \(line)")
        }
        // The same model as the folder itself gives.
        XCTAssertEqual(try ModelSource(checkpoint: folder, config: nil).config, config)
        // Given by a relative path, the config beside it is found all the same.
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        XCTAssertEqual(try ModelSource(checkpoint: "diffusion_pytorch_model.safetensors", config: nil).configOrigin, .besideWeights("config.json"))
    }

    func testAConfigThatDisagreesWithTheWeightsOwnIsRefusedNamingBoth() throws {
        let (folder, config) = try sixteenGroupFolder()
        let g32 = fixture("vae-small-g32/config.yaml")
        for weights in [folder, "\(folder)/diffusion_pytorch_model.safetensors"] {
            assertThrows(try ModelSource(checkpoint: weights, config: g32),
                         containing: ["--config \(g32)", "\(folder)/config.json", "norm_num_groups 32 in --config but 16 with the weights"])
        }
        // One that computes the same is taken (a diffusers config.json and a yaml of the same model agree).
        var yaml = try String(contentsOfFile: g32, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "norm_num_groups: 32", with: "norm_num_groups: 16")
        let g16 = try write("g16.yaml", yaml)
        let agreeing = try ModelSource(checkpoint: "\(folder)/diffusion_pytorch_model.safetensors", config: g16)
        XCTAssertEqual(agreeing.configOrigin, .file(g16))
        XCTAssertEqual(agreeing.config.arithmeticDifferences(from: config), [])
        // Attention at another level, or other channels, disagree too.
        let tiny = try ModelSource(checkpoint: fixture("vae-tiny-g8/weights.ldm.safetensors"), config: tinyYAML).config
        var moved = tiny
        moved.attnResolutions = [tiny.resolution]
        XCTAssertEqual(moved.arithmeticDifferences(from: tiny), ["attention at levels [0] in --config but [1] with the weights"])
        var resized = tiny
        (resized.resolution, resized.attnResolutions) = (32, [16])
        XCTAssertEqual(resized.arithmeticDifferences(from: tiny), [], "the same levels carry attention")

        // A vae-dist checkpoint's stored config counts as the weights' own as well.
        let model = try ldmModel()
        let checkpoint = "\(dir!)/vae_final.safetensors"
        try TrainingCheckpoint.save(model: model, optimizer: Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4),
                                    position: TrainingPosition(), options: TrainingOptions(trainDir: dir), runID: "x", to: checkpoint)
        assertThrows(try ModelSource(checkpoint: checkpoint, config: fixture("model-source/sd-v1/config.json")),
                     containing: ["the config stored in \(checkpoint)", "ch 128 in --config but 16 with the weights"])
    }

    func testOnlyAnAutoencoderKLConfigBesideAFileCounts() throws {
        let folder = try diffusersFolder("unet", weights: "vae-tiny-g8/weights.diffusers.safetensors")
        let weights = "\(folder)/diffusion_pytorch_model.safetensors"
        // A UNet's config.json (another model of the pipeline) says nothing about these weights.
        _ = try write("unet/config.json", #"{"_class_name": "UNet2DConditionModel", "block_out_channels": [320, 640]}"#)
        XCTAssertEqual(try ModelSource(checkpoint: weights, config: nil).configOrigin, .sdV1Default)
        XCTAssertEqual(try ModelSource(checkpoint: weights, config: tinyYAML).configOrigin, .file(tinyYAML))
        // A FIFO named config.json is not opened (that would wait for a writer).
        try FileManager.default.removeItem(atPath: "\(folder)/config.json")
        XCTAssertEqual(mkfifo("\(folder)/config.json", 0o644), 0)
        XCTAssertEqual(try ModelSource(checkpoint: weights, config: nil).configOrigin, .sdV1Default)
        // An AutoencoderKL config vae-dist cannot read is an error naming it, unless --config is given instead.
        try FileManager.default.removeItem(atPath: "\(folder)/config.json")
        _ = try write("unet/config.json", #"{"_class_name": "AutoencoderKL", "block_out_channels": [16, 32], "new_key": 1}"#)
        assertThrows(try ModelSource(checkpoint: weights, config: nil), containing: ["\(folder)/config.json", "new_key"])
        XCTAssertEqual(try ModelSource(checkpoint: weights, config: tinyYAML).configOrigin, .file(tinyYAML))
    }

    /// A tensor name holding a NUL or an escape sequence is printed escaped, never raw.
    func testControlCharactersInTensorNamesAreEscapedInMessages() throws {
        var file = try SafeTensors.read(path: fixture("vae-tiny-g8/weights.ldm.safetensors"))
        file.add("encoder.conv_in.weight\0evil", shape: [1], values: [0])
        file.add("decoder.\u{1B}[2Jclear", shape: [1], values: [0])
        let path = "\(dir!)/nul.safetensors"
        try file.write(path: path)
        let model = AutoencoderKL(try VAEConfig.load(path: tinyYAML))
        XCTAssertThrowsError(try ModelSource(checkpoint: path, config: tinyYAML).loadWeights(into: model)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("encoder.conv_in.weight\\0evil") && message.contains("decoder.\\u{1b}[2Jclear"), message)
            XCTAssertFalse(message.unicodeScalars.contains { $0 == "\0" || $0 == "\u{1B}" }, message)
        }
        XCTAssertEqual(printable("a\0b\u{202E}c\\"), "a\\0b\\u{202e}c\\\\")
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let path = "\(dir!)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
