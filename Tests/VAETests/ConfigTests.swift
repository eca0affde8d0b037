import Foundation
@testable import VAEAnalysis
@testable import VAECore
@testable import VAEFormats
import XCTest

final class ConfigTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    private func fixtureConfig(_ model: String) -> String {
        fixtures.appendingPathComponent(model).appendingPathComponent("config.yaml").path
    }

    /// Asserts that parsing fails with a message naming the file and every one of `keys`.
    private func assertRejected(_ yaml: String, naming keys: [String], file: StaticString = #filePath, line: UInt = #line) {
        let source = "bad-config.yaml"
        XCTAssertThrowsError(try VAEConfig.parse(yaml: yaml, source: source), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(source), "message does not start with the file: \(message)", file: file, line: line)
            for key in keys {
                XCTAssertTrue(message.contains(key), "message lacks \(key): \(message)", file: file, line: line)
            }
        }
    }

    func testTinyFixtureConfig() throws {
        let config = try VAEConfig.load(path: fixtureConfig("vae-tiny-g8"))
        XCTAssertEqual(config, VAEConfig(ch: 16, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], zChannels: 4,
                                         embedDim: 4, inChannels: 3, outCh: 3, resolution: 16, doubleZ: true,
                                         normNumGroups: 8))
        XCTAssertEqual(config.attentionLevels, [1])
        XCTAssertEqual(config.levelChannels, [16, 32])
    }

    func testSmallFixtureConfig() throws {
        let config = try VAEConfig.load(path: fixtureConfig("vae-small-g32"))
        XCTAssertEqual(config, VAEConfig(ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4,
                                         embedDim: 4, inChannels: 3, outCh: 3, resolution: 24, doubleZ: true,
                                         normNumGroups: 32))
        XCTAssertEqual(config.attentionLevels, [])
    }

    func testSDV1Defaults() {
        let sd = VAEConfig.sdV1
        XCTAssertEqual(sd.ch, 128)
        XCTAssertEqual(sd.chMult, [1, 2, 4, 4])
        XCTAssertEqual(sd.numResBlocks, 2)
        XCTAssertEqual(sd.attnResolutions, [])
        XCTAssertEqual(sd.zChannels, 4)
        XCTAssertEqual(sd.embedDim, 4)
        XCTAssertEqual(sd.inChannels, 3)
        XCTAssertEqual(sd.outCh, 3)
        XCTAssertEqual(sd.resolution, 256)
        XCTAssertTrue(sd.doubleZ)
        XCTAssertEqual(sd.normNumGroups, 32)
        XCTAssertNoThrow(try sd.validate())
        XCTAssertEqual(sd.yamlDescription, "ch 128, ch_mult [1,2,4,4], num_res_blocks 2, attn_resolutions [], "
                       + "z_channels 4, embed_dim 4, in_channels 3, out_ch 3, resolution 256, norm_num_groups 32")
    }

    /// Stable Diffusion's v1-inference.yaml, UNet and text encoder included.
    func testFullStableDiffusionConfig() throws {
        let yaml = """
        model:
          base_learning_rate: 1.0e-04
          target: ldm.models.diffusion.ddpm.LatentDiffusion
          params:
            linear_start: 0.00085
            linear_end: 0.0120
            first_stage_key: "jpg"
            cond_stage_key: "txt"
            image_size: 64
            channels: 4
            scale_factor: 0.18215
            use_ema: False
            scheduler_config:
              target: ldm.lr_scheduler.LambdaLinearScheduler
              params:
                warm_up_steps: [ 10000 ]
                f_start: [ 1.e-6 ]
            unet_config:
              target: ldm.modules.diffusionmodules.openaimodel.UNetModel
              params:
                image_size: 32
                in_channels: 4
                out_channels: 4
                model_channels: 320
                attention_resolutions: [ 4, 2, 1 ]
                num_res_blocks: 2
                channel_mult: [ 1, 2, 4, 4 ]
                num_heads: 8
                use_spatial_transformer: True
                context_dim: 768
            first_stage_config:
              target: ldm.models.autoencoder.AutoencoderKL
              params:
                embed_dim: 4
                monitor: val/rec_loss
                ddconfig:
                  double_z: true
                  z_channels: 4
                  resolution: 256
                  in_channels: 3
                  out_ch: 3
                  ch: 128
                  ch_mult:
                  - 1
                  - 2
                  - 4
                  - 4
                  num_res_blocks: 2
                  attn_resolutions: []
                  dropout: 0.0
                lossconfig:
                  target: torch.nn.Identity
            cond_stage_config:
              target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
        """
        var expected = VAEConfig.sdV1
        expected.latentSpace.scalingFactor = 0.18215                 // model.params.scale_factor
        XCTAssertEqual(try VAEConfig.parse(yaml: yaml, source: "v1-inference.yaml"), expected)
    }

    /// latent-diffusion's configs/autoencoder/autoencoder_kl_32x32x4.yaml, the config of the kl-f8 download: the
    /// AutoencoderKL sits at `model` itself, beside the training sections vae-dist does not read.
    /// An SD yaml's `model.params.scale_factor` (SDXL's 0.13025) is the latent space's scaling factor; a value that is
    /// not a positive number is refused with its line.
    func testStableDiffusionScaleFactorIsTheLatentScalingFactor() throws {
        let ddconfig = "ddconfig: {ch: 32, ch_mult: [1, 2], num_res_blocks: 1, z_channels: 4, resolution: 24, attn_resolutions: []}"
        func yaml(_ scale: String) -> String {
            "model:\n  params:\n    scale_factor: \(scale)\n    first_stage_config:\n      params: {embed_dim: 4, \(ddconfig)}\n"
        }
        XCTAssertEqual(try VAEConfig.parse(yaml: yaml("0.13025"), source: "sdxl.yaml").latentSpace, LatentSpace(scalingFactor: 0.13025))
        for bad in ["-1", "0", ".nan", "big", "[1]"] {
            XCTAssertThrowsError(try VAEConfig.parse(yaml: yaml(bad), source: "bad.yaml")) { error in
                XCTAssertTrue("\(error)".hasPrefix("bad.yaml:3: model.params.scale_factor must be a positive number"), "\(error)")
            }
        }
    }

    func testLatentDiffusionAutoencoderConfig() throws {
        let yaml = """
        model:
          base_learning_rate: 4.5e-6
          target: ldm.models.autoencoder.AutoencoderKL
          params:
            monitor: "val/rec_loss"
            embed_dim: 4
            lossconfig:
              target: ldm.modules.losses.LPIPSWithDiscriminator
              params:
                disc_start: 50001
                kl_weight: 0.000001
                disc_weight: 0.5

            ddconfig:
              double_z: True
              z_channels: 4
              resolution: 256
              in_channels: 3
              out_ch: 3
              ch: 128
              ch_mult: [ 1,2,4,4 ]  # num_down = len(ch_mult)-1
              num_res_blocks: 2
              attn_resolutions: [ ]
              dropout: 0.0

        data:
          target: main.DataModuleFromConfig
          params:
            batch_size: 12
            wrap: True
            train:
              target: ldm.data.imagenet.ImageNetSRTrain
              params: {size: 256, degradation: pil_nearest}

        lightning:
          callbacks:
            image_logger:
              target: main.ImageLogger
              params: {batch_frequency: 1000, max_images: 8, increase_log_steps: True}
          trainer:
            benchmark: True
            accumulate_grad_batches: 2
        """
        XCTAssertEqual(try VAEConfig.parse(yaml: yaml, source: "autoencoder_kl_32x32x4.yaml"), .sdV1)
        // Its keys are checked as anywhere else, under their place in this layout.
        assertRejected(yaml.replacingOccurrences(of: "ch: 128", with: "chs: 128"), naming: ["model.params.ddconfig.chs", "unknown key"])
        assertRejected(yaml.replacingOccurrences(of: "ldm.models.autoencoder.AutoencoderKL", with: "ldm.models.autoencoder.VQModel"),
                       naming: ["model.target is ldm.models.autoencoder.VQModel"])
    }

    func testParamsOnlyConfig() throws {
        let yaml = """
        embed_dim: 8
        monitor: val/rec_loss
        lossconfig:
          target: ldm.modules.losses.LPIPSWithDiscriminator
          params: {disc_start: 50001, kl_weight: 0.000001}
        ddconfig: {double_z: true, z_channels: 8, resolution: 64, in_channels: 1, out_ch: 1, ch: 48,
                   ch_mult: [1, 2, 2], num_res_blocks: 3, attn_resolutions: [16], dropout: 0, norm_num_groups: 16}
        """
        let config = try VAEConfig.parse(yaml: yaml, source: "params.yaml")
        XCTAssertEqual(config, VAEConfig(ch: 48, chMult: [1, 2, 2], numResBlocks: 3, attnResolutions: [16],
                                         zChannels: 8, embedDim: 8, inChannels: 1, outCh: 1, resolution: 64,
                                         doubleZ: true, normNumGroups: 16))
        XCTAssertEqual(config.attentionLevels, [2])
    }

    func testFirstStageNodeAsRoot() throws {
        let yaml = """
        target: sgm.models.autoencoder.AutoencoderKLInferenceWrapper
        params:
          embed_dim: 4
          ddconfig: {ch: 64, ch_mult: [1, 2]}
        """
        XCTAssertEqual(try VAEConfig.parse(yaml: yaml, source: "first-stage.yaml"), VAEConfig(ch: 64, chMult: [1, 2]))
    }

    func testBareDDConfig() throws {
        let yaml = """
        ch: 32
        ch_mult: [1, 2, 4]
        num_res_blocks: 1
        z_channels: 4
        embed_dim: 4
        norm_num_groups: 8
        """
        XCTAssertEqual(try VAEConfig.parse(yaml: yaml, source: "bare.yaml"),
                       VAEConfig(ch: 32, chMult: [1, 2, 4], numResBlocks: 1, normNumGroups: 8))
    }

    func testAbsentKeysTakeSDV1Values() throws {
        XCTAssertEqual(try VAEConfig.parse(yaml: "ddconfig: {}", source: "empty-ddconfig.yaml"), .sdV1)
    }

    func testNormNumGroupsInsideDDConfigAndAgreeingTwice() throws {
        let inside = try VAEConfig.parse(yaml: "ddconfig: {ch: 16, norm_num_groups: 8}", source: "inside.yaml")
        XCTAssertEqual(inside.normNumGroups, 8)
        let both = try VAEConfig.parse(yaml: "norm_num_groups: 4\nddconfig: {ch: 16, norm_num_groups: 4}", source: "both.yaml")
        XCTAssertEqual(both.normNumGroups, 4)
    }

    func testCodableRoundTripUsesYamlKeys() throws {
        let config = VAEConfig(ch: 16, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], resolution: 16, normNumGroups: 8)
        let json = try JSONEncoder().encode(config)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains("\"ch_mult\""))
        XCTAssertEqual(try JSONDecoder().decode(VAEConfig.self, from: json), config)
        var invalid = config
        invalid.normNumGroups = 32
        XCTAssertThrowsError(try JSONDecoder().decode(VAEConfig.self, from: JSONEncoder().encode(invalid)))
    }

    /// The latent settings are stored beside the rest under diffusers' names, only when stated; a config stored
    /// before they existed (no such keys) still reads, stating none.
    func testStoredLatentSettingsRoundTripAndOlderConfigsStillRead() throws {
        var config = VAEConfig(ch: 16, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], resolution: 16, normNumGroups: 8)
        let older = #"{"attn_resolutions":[8],"ch":16,"ch_mult":[1,2],"double_z":true,"embed_dim":4,"in_channels":3,"norm_num_groups":8,"num_res_blocks":1,"out_ch":3,"resolution":16,"z_channels":4}"#
        XCTAssertEqual(try CheckpointMetadata.json(config), older, "nothing stated, nothing written")
        XCTAssertEqual(try JSONDecoder().decode(VAEConfig.self, from: Data(older.utf8)), config)
        config.latentSpace = LatentSpace(scalingFactor: 0.13025, shiftFactor: -0.5, latentsMean: [1, 2, 3, 4],
                                         latentsStd: [0.5, 1, 1, 2], forceUpcast: false)
        let stored = try CheckpointMetadata.json(config)
        for part in [#""scaling_factor":0.13025"#, #""shift_factor":-0.5"#, #""latents_mean":[1,2,3,4]"#, #""force_upcast":false"#] {
            XCTAssertTrue(stored.contains(part), "\(part) not in \(stored)")
        }
        XCTAssertEqual(try JSONDecoder().decode(VAEConfig.self, from: Data(stored.utf8)), config)
        XCTAssertTrue(config.yamlDescription.hasSuffix("force_upcast false, latents_mean [1.0, 2.0, 3.0, 4.0], "
                                                       + "latents_std [0.5, 1.0, 1.0, 2.0], scaling_factor 0.13025, shift_factor -0.5"),
                      config.yamlDescription)
        // Stored values are validated like the rest.
        XCTAssertThrowsError(try JSONDecoder().decode(VAEConfig.self, from: Data(stored.replacingOccurrences(of: "[1,2,3,4]", with: "[1,2]").utf8)))
    }

    // MARK: Rejections

    func testRejectsNonListChMult() {
        assertRejected("ddconfig:\n  ch_mult: abc", naming: ["ddconfig.ch_mult", "non-empty list of positive integers", "\"abc\""])
    }

    func testRejectsEmptyChMult() {
        assertRejected("ddconfig: {ch_mult: []}", naming: ["ddconfig.ch_mult", "non-empty"])
    }

    func testRejectsNonPositiveEntries() {
        assertRejected("ddconfig: {ch_mult: [1, 0]}", naming: ["ddconfig.ch_mult", "got [1, 0]"])
        assertRejected("ddconfig: {ch: -128}", naming: ["ddconfig.ch", "positive integer", "got -128"])
        assertRejected("ddconfig: {num_res_blocks: 0}", naming: ["ddconfig.num_res_blocks"])
        assertRejected("ddconfig: {attn_resolutions: [16, -1]}", naming: ["ddconfig.attn_resolutions"])
        assertRejected("embed_dim: 0\nddconfig: {}", naming: ["embed_dim", "positive integer"])
        assertRejected("norm_num_groups: 0\nddconfig: {}", naming: ["norm_num_groups"])
    }

    func testRejectsWrongTypes() {
        assertRejected("ddconfig: {ch: 12.5}", naming: ["ddconfig.ch", "got 12.5"])
        assertRejected("ddconfig: {ch: \"128\"}", naming: ["ddconfig.ch", "got \"128\""])
        assertRejected("ddconfig: {z_channels: [4]}", naming: ["ddconfig.z_channels"])
        assertRejected("ddconfig: {double_z: maybe}", naming: ["ddconfig.double_z", "true or false"])
        assertRejected("ddconfig: {dropout: none}", naming: ["ddconfig.dropout", "number"])
        assertRejected("ddconfig: [1, 2]", naming: ["ddconfig", "must be a mapping"])
    }

    func testRejectsDoubleZFalse() {
        assertRejected("ddconfig: {double_z: false}", naming: ["ddconfig.double_z", "must be true"])
    }

    func testRejectsNonzeroDropout() {
        assertRejected("ddconfig: {dropout: 0.1}", naming: ["ddconfig.dropout", "without dropout"])
    }

    func testRejectsOtherArchitectures() {
        assertRejected("ddconfig: {use_linear_attn: true}", naming: ["ddconfig.use_linear_attn"])
        assertRejected("ddconfig: {attn_type: linear}", naming: ["ddconfig.attn_type"])
        assertRejected("ddconfig: {resamp_with_conv: false}", naming: ["ddconfig.resamp_with_conv"])
        assertRejected("target: ldm.models.autoencoder.VQModel\nparams: {embed_dim: 3, ddconfig: {}}", naming: ["target", "VQModel"])
    }

    func testRejectsUnknownKeys() {
        assertRejected("ddconfig: {ch: 64, chmult: [1, 2]}", naming: ["ddconfig.chmult", "unknown key"])
        assertRejected("norm_num_group: 8\nddconfig: {}", naming: ["norm_num_group", "unknown key"])
        assertRejected("ch: 64\nch_multiplier: [1, 2]", naming: ["ch_multiplier", "unknown key"])
    }

    func testRejectsChannelsIndivisibleByGroups() {
        assertRejected("ddconfig: {ch: 40, ch_mult: [1, 2]}\nnorm_num_groups: 16",
                       naming: ["norm_num_groups 16", "ddconfig.ch 40", "[40, 40, 80]", "40 is not a multiple of 16"])
        // Every level would divide, but conv_in's ch channels feed the first GroupNorm too.
        assertRejected("ddconfig: {ch: 16, ch_mult: [2, 4]}",
                       naming: ["norm_num_groups 32", "[16, 32, 64]", "16 is not a multiple of 32"])
    }

    func testRejectsDisagreeingGroupCounts() {
        assertRejected("norm_num_groups: 8\nddconfig: {ch: 16, norm_num_groups: 4}",
                       naming: ["ddconfig.norm_num_groups", "norm_num_groups is 8"])
    }

    func testRejectsMissingSections() {
        assertRejected("model:\n  params:\n    unet_config: {}", naming: ["model.params.first_stage_config", "missing"])
        assertRejected("model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n    unet_config: {}",
                       naming: ["model.params.first_stage_config", "missing", "latent-diffusion autoencoder config"])
        assertRejected("model:\n  params:\n    first_stage_config:\n      target: ldm.models.autoencoder.AutoencoderKL",
                       naming: ["model.params.first_stage_config.params", "missing"])
        assertRejected("lossconfig: {}", naming: ["no VAE config found"])
        assertRejected("# nothing here\n", naming: ["empty"])
    }

    func testRejectsInvalidYaml() {
        assertRejected("ddconfig: {ch: [1, 2}", naming: ["invalid YAML"])
        assertRejected("ddconfig: {}\nddconfig: {}", naming: ["invalid YAML", "'ddconfig'"])
    }

    /// Nesting deeper than libyaml's limit, in flow or block style, is refused in one short line (Yams' own
    /// message quoted the whole 200 kB line); the composer's recursion never goes deeper.
    func testDeeplyNestedYamlIsRefusedWithItsLimit() {
        let flow = "ddconfig: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let block = (0..<3000).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " 1"
        for yaml in [flow, block] {
            assertRejected(yaml, naming: ["invalid YAML: nested too deeply (limit 1000)"])
            XCTAssertLessThan(error(of: yaml).count, 300)
        }
        // Within the limit, nesting is no error of the reader (the keys are then refused by name).
        assertRejected("ddconfig: " + String(repeating: "[", count: 50) + String(repeating: "]", count: 50), naming: ["ddconfig"])
    }

    private func error(of yaml: String) -> String {
        do { _ = try VAEConfig.parse(yaml: yaml, source: "x"); return "" } catch { return "\(error)" }
    }

    func testUnreadableFile() {
        let path = fixtures.appendingPathComponent("no-such-dir/config.yaml").path
        XCTAssertThrowsError(try VAEConfig.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    func testMessagesCarryTheLine() {
        assertRejected("embed_dim: 4\nddconfig:\n  ch: 16\n  ch_mult: abc\n", naming: ["bad-config.yaml:4:"])
    }

    // MARK: Limits (values that crashed with a signal when they reached the model)

    func testRejectsOversizedValuesWithFileLineAndKey() {
        let levels65 = "[" + Array(repeating: "1", count: 65).joined(separator: ", ") + "]"
        assertRejected("embed_dim: 4\nddconfig:\n  ch_mult: \(levels65)\n",
                       naming: ["bad-config.yaml:3:", "ddconfig.ch_mult has 65 entries", "10 accepted"])
        assertRejected("ddconfig:\n  ch: 4611686018427387904\n",
                       naming: ["bad-config.yaml:2:", "ddconfig.ch is 4611686018427387904", "4096 accepted"])
        assertRejected("ddconfig:\n  ch: 100000\n", naming: ["bad-config.yaml:2:", "ddconfig.ch is 100000"])
        assertRejected("ddconfig:\n  num_res_blocks: 100000\n",
                       naming: ["bad-config.yaml:2:", "ddconfig.num_res_blocks is 100000", "64 accepted"])
        assertRejected("ddconfig: {ch_mult: [1, 65]}", naming: ["ddconfig.ch_mult has the entry 65", "64 accepted"])
        assertRejected("ddconfig: {z_channels: 1025}", naming: ["ddconfig.z_channels is 1025"])
        assertRejected("ddconfig: {in_channels: 99999}", naming: ["ddconfig.in_channels is 99999"])
        assertRejected("ddconfig: {out_ch: 99999}", naming: ["ddconfig.out_ch is 99999"])
        assertRejected("ddconfig: {resolution: 9223372036854775807}", naming: ["ddconfig.resolution is 9223372036854775807"])
        assertRejected("ddconfig: {attn_resolutions: [16, 70000]}", naming: ["ddconfig.attn_resolutions has the entry 70000"])
        let manyResolutions = "[" + (1...65).map(String.init).joined(separator: ", ") + "]"
        assertRejected("ddconfig: {attn_resolutions: \(manyResolutions)}", naming: ["ddconfig.attn_resolutions has 65 entries"])
        assertRejected("embed_dim: 5000\nddconfig: {}", naming: ["bad-config.yaml:1:", "embed_dim is 5000"])
        assertRejected("norm_num_groups: 5000\nddconfig: {}", naming: ["norm_num_groups is 5000"])
        assertRejected("ch: 64\nnorm_num_groups: 5000", naming: ["norm_num_groups is 5000"])
    }

    func testRejectsModelsTooWideOrTooLarge() {
        assertRejected("ddconfig: {ch: 4096, ch_mult: [1, 8]}",
                       naming: ["ddconfig.ch 4096", "32768 channels", "16384 accepted"])
        // Every value in bounds, but 3×3 convolutions of 16384 channels: billions of parameters.
        assertRejected("ddconfig: {ch: 2048, ch_mult: [1, 8]}", naming: ["parameters", "2147483648 accepted"])
    }

    /// The same bounds hold for a config decoded from JSON (a checkpoint's metadata), with the keys named.
    func testDecodingValidatesTheBounds() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(VAEConfig.sdV1)) as! [String: Any]
        for (key, value, expected) in [("ch_mult", Array(repeating: 1, count: 65) as Any, "ddconfig.ch_mult has 65 entries"),
                                       ("ch", 4611686018427387904 as Any, "ddconfig.ch is 4611686018427387904"),
                                       ("num_res_blocks", 100000 as Any, "ddconfig.num_res_blocks is 100000")] {
            let original = json[key]
            json[key] = value
            let data = try JSONSerialization.data(withJSONObject: json)
            XCTAssertThrowsError(try JSONDecoder().decode(VAEConfig.self, from: data)) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
            }
            json[key] = original
        }
    }

    func testStoredCheckpointConfigIsValidated() throws {
        let dir = NSTemporaryDirectory() + "vae-dist-stored-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/hostile.safetensors"
        var file = SafeTensors()
        file.add("x", shape: [1], values: [0])
        let config = String(decoding: try JSONEncoder().encode(VAEConfig.sdV1), as: UTF8.self)
            .replacingOccurrences(of: "\"num_res_blocks\":2", with: "\"num_res_blocks\":100000")
        XCTAssertTrue(config.contains("100000"), config)
        file.metadata = ["format": "vae-dist-checkpoint-1", "config": config]
        try file.write(path: path)
        XCTAssertThrowsError(try CheckpointMetadata.storedConfig(path: path)) { error in
            for part in [path, "metadata 'config'", "ddconfig.num_res_blocks is 100000"] {
                XCTAssertTrue("\(error)".contains(part), "lacks \(part): \(error)")
            }
        }
    }

    /// The count validation uses (on the model built with one group, before the groups are checked) is the model's.
    func testParameterCountMatchesTheBuiltModel() throws {
        var configs = [VAEConfig.sdV1, try VAEConfig.load(path: fixtureConfig("vae-tiny-g8")),
                       try VAEConfig.load(path: fixtureConfig("vae-small-g32"))]
        configs.append(VAEConfig(ch: 16, chMult: [1, 2, 3], numResBlocks: 2, attnResolutions: [32, 8], resolution: 32,
                                 normNumGroups: 8))
        for config in configs {
            XCTAssertEqual(config.parameterCount, AutoencoderKL(config).parameterCount, config.yamlDescription)
        }
        XCTAssertEqual(VAEConfig.sdV1.parameterCount, 83_653_863)
    }

    /// Anchors let 40 short lines describe a list of 2^40 entries; refusing it must not walk them all.
    func testRejectsAnAliasBombQuickly() {
        var anchors = ["&a0 [1, 1]"]
        for i in 1..<40 { anchors.append("&a\(i) [*a\(i - 1), *a\(i - 1)]") }
        let started = Date()
        assertRejected("ddconfig:\n  ch_mult: [" + anchors.joined(separator: ", ") + "]\n",
                       naming: ["bad-config.yaml:2:", "ddconfig.ch_mult", "…"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    /// A one-channel model fed the RGB images a job reads is refused by name, not stopped by a precondition.
    func testJobsRefuseModelsThatAreNotRGB() throws {
        let grey = VAEConfig(ch: 8, chMult: [1], numResBlocks: 1, inChannels: 1, outCh: 1, resolution: 16, normNumGroups: 8)
        XCTAssertNoThrow(try grey.validate())
        let image = fixtures.appendingPathComponent("images-64/camera_gray8.png").path
        let job = ReconstructionJob(model: AutoencoderKL(grey), imageSize: 16, outputDirectory: NSTemporaryDirectory())
        XCTAssertThrowsError(try job.run(images: [image])) { error in
            XCTAssertTrue("\(error)".contains("reconstruct works on RGB images"), "\(error)")
            XCTAssertTrue("\(error)".contains("in_channels 3 and out_ch 3, the config has 1 and 1"), "\(error)")
        }
        XCTAssertThrowsError(try grey.requireRGB(for: "the analysis")) { XCTAssertTrue("\($0)".contains("the analysis works on RGB images"), "\($0)") }
    }
}
