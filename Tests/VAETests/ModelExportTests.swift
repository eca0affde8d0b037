import Foundation
@testable import VAECore
@testable import VAEFormats
@testable import VAETraining
import XCTest

final class ModelExportTests: XCTestCase {
    private var scratch: String!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ModelExportTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// The fixture model with its ldm weights loaded.
    private func fixtureModel(_ name: String) throws -> AutoencoderKL {
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("\(name)/config.yaml")))
        try model.loadWeights(path: Fixtures.path("\(name)/weights.ldm.safetensors"))
        return model
    }

    /// Same names, shapes and bit patterns.
    private func assertBitIdentical(_ a: SafeTensors, _ b: SafeTensors, _ what: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.names, b.names, "\(what): names differ", file: file, line: line)
        for name in a.names {
            guard let x = a[name], let y = b[name] else { continue }
            XCTAssertEqual(x.shape, y.shape, "\(what): \(name)", file: file, line: line)
            XCTAssertTrue(x.values.map(\.bitPattern) == y.values.map(\.bitPattern), "\(what): \(name) values differ",
                          file: file, line: line)
        }
    }

    private func contents(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    }

    // MARK: Names

    func testEveryLdmNameMapsToDiffusersAndBack() throws {
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            let ldm = try SafeTensors.read(path: Fixtures.path("\(name)/weights.ldm.safetensors"))
            let renamer = DiffusersRenamer(decoderLevels: 2)
            for ldmName in ldm.names {
                let (diffusersName, _) = try XCTUnwrap(renamer.diffusersName(ldmName), ldmName)
                XCTAssertEqual(renamer.ldmName(diffusersName)?.0, ldmName, diffusersName)
            }
        }
        // Level order reverses (up_blocks.K = up[n-1-K]); legacy attention names are never written.
        let renamer = DiffusersRenamer(decoderLevels: 4)
        XCTAssertEqual(renamer.diffusersName("decoder.up.3.block.2.nin_shortcut.weight")?.0,
                       "decoder.up_blocks.0.resnets.2.conv_shortcut.weight")
        XCTAssertEqual(renamer.diffusersName("decoder.mid.attn_1.proj_out.weight")?.0, "decoder.mid_block.attentions.0.to_out.0.weight")
        XCTAssertEqual(renamer.diffusersName("decoder.mid.attn_1.proj_out.weight")?.1, true)
        XCTAssertEqual(renamer.diffusersName("decoder.mid.attn_1.proj_out.bias")?.1, false)
        XCTAssertNil(renamer.diffusersName("decoder.up.4.block.0.conv1.weight"))
        XCTAssertNil(renamer.diffusersName("encoder.up.0.block.0.conv1.weight"))
    }

    /// The diffusers fixtures were written by diffusers itself, so matching them means matching its state dict.
    func testDiffusersWeightsEqualTheFilesDiffusersWrote() throws {
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            let expected = try SafeTensors.read(path: Fixtures.path("\(name)/weights.diffusers.safetensors"))
            assertBitIdentical(try diffusersWeights(try fixtureModel(name)), expected, name)
        }
    }

    // MARK: Export → re-import

    func testDiffusersFolderReloadsToTheSameWeights() throws {
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            let model = try fixtureModel(name)
            let out = "\(scratch!)/\(name)-diffusers"
            try export(model, format: .diffusers, to: out)
            XCTAssertEqual(try contents(out), ["config.json", "diffusion_pytorch_model.safetensors"], name)
            XCTAssertEqual(try contents(scratch).filter { $0.contains(".tmp-") || $0.contains(".old-") }, [])

            let reloaded = AutoencoderKL(model.config)
            let weights = "\(out)/diffusion_pytorch_model.safetensors"
            XCTAssertEqual(try reloaded.loadWeights(path: weights), .diffusers)
            assertBitIdentical(reloaded.weightsFile(), model.weightsFile(), name)
            XCTAssertEqual(try SafeTensors.read(path: weights).metadata, ["format": "pt"])
        }
    }

    func testLdmAndSDFilesHoldExactlyTheLdmWeights() throws {
        let model = try fixtureModel("vae-small-g32")
        let fixture = try SafeTensors.read(path: Fixtures.path("vae-small-g32/weights.ldm.safetensors"))

        try export(model, format: .ldm, to: "\(scratch!)/vae.ldm.safetensors")
        let ldm = try SafeTensors.read(path: "\(scratch!)/vae.ldm.safetensors")
        assertBitIdentical(ldm, fixture, "ldm")

        try export(model, format: .sd, to: "\(scratch!)/vae.sd.safetensors")
        let sd = try SafeTensors.read(path: "\(scratch!)/vae.sd.safetensors")
        XCTAssertEqual(sd.names, fixture.names.map { "first_stage_model." + $0 })
        let reloaded = AutoencoderKL(model.config)
        XCTAssertEqual(try reloaded.loadWeights(path: "\(scratch!)/vae.sd.safetensors"), .ldm)
        assertBitIdentical(reloaded.weightsFile(), fixture, "sd")
    }

    /// A training checkpoint carries Adam's two moments per weight; none of them may leave with the weights (but in
    /// `pt`, whose point is to carry them: ExportCommandTests).
    func testOptimizerStateIsLeftOut() throws {
        let model = try fixtureModel("vae-small-g32")
        let checkpoint = "\(scratch!)/vae_final.safetensors"
        let optimizer = Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4)
        try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: TrainingPosition(), options: TrainingOptions(trainDir: "x"),
                            runID: "export-test", to: checkpoint)
        XCTAssertEqual(try SafeTensors.read(path: checkpoint).tensors.count, 3 * model.namedParameters.count)

        let loaded = AutoencoderKL(try XCTUnwrap(CheckpointMetadata.storedConfig(path: checkpoint)))
        try loaded.loadWeights(path: checkpoint)
        for format in ExportFormat.allCases where format != .pt {
            let out = "\(scratch!)/export-\(format.rawValue)"
            try export(loaded, format: format, to: out)
            let file = try SafeTensors.read(path: format == .diffusers ? "\(out)/diffusion_pytorch_model.safetensors" : out)
            XCTAssertEqual(file.tensors.count, model.namedParameters.count, format.rawValue)
            XCTAssertEqual(file.names.filter { $0.contains("optimizer") || $0.contains("exp_avg") }, [], format.rawValue)
            XCTAssertEqual(file.metadata, ["format": "pt"], format.rawValue)
        }
    }

    // MARK: What each format can express

    func testLdmAndSDRefuseGroupsOtherThan32() throws {
        let model = try fixtureModel("vae-tiny-g8")
        for format in [ExportFormat.ldm, .sd] {
            let out = "\(scratch!)/g8.\(format.rawValue).safetensors"
            XCTAssertThrowsError(try export(model, format: format, to: out)) { error in
                for part in [out, "norm_num_groups 8", "32", "--format diffusers"] {
                    XCTAssertTrue("\(error)".contains(part), "message lacks \(part): \(error)")
                }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
    }

    func testDiffusersRefusesEmbedDimOtherThanZChannels() throws {
        var config = VAEConfig(ch: 32, chMult: [1, 2], numResBlocks: 1, zChannels: 4, embedDim: 3, resolution: 16)
        config.normNumGroups = 32
        let out = "\(scratch!)/latent-mismatch"
        XCTAssertThrowsError(try export(AutoencoderKL(config), format: .diffusers, to: out)) { error in
            for part in [out, "z_channels 4", "embed_dim 3", "--format ldm"] {
                XCTAssertTrue("\(error)".contains(part), "message lacks \(part): \(error)")
            }
        }
        XCTAssertEqual(try contents(scratch), [])
    }

    func testConfigJSONOfTheG8Fixture() throws {
        let out = "\(scratch!)/g8"
        try export(try fixtureModel("vae-tiny-g8"), format: .diffusers, to: out)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(out)/config.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(json["_class_name"] as? String, "AutoencoderKL")
        XCTAssertEqual(json["norm_num_groups"] as? Int, 8)
        XCTAssertEqual(json["block_out_channels"] as? [Int], [16, 32])
        // attn_resolutions [8] at resolution 16: ldm level 1 (the lowest resolution), which diffusers' decoder lists first.
        XCTAssertEqual(json["down_block_types"] as? [String], ["DownEncoderBlock2D", "AttnDownEncoderBlock2D"])
        XCTAssertEqual(json["up_block_types"] as? [String], ["AttnUpDecoderBlock2D", "UpDecoderBlock2D"])
        XCTAssertEqual(json["layers_per_block"] as? Int, 1)
        XCTAssertEqual(json["latent_channels"] as? Int, 4)
        XCTAssertEqual(json["in_channels"] as? Int, 3)
        XCTAssertEqual(json["out_channels"] as? Int, 3)
        XCTAssertEqual(json["sample_size"] as? Int, 16)
        XCTAssertEqual(json["act_fn"] as? String, "silu")
    }

    /// The latent settings of the model's source go into every format with a place for them: config.json for
    /// diffusers (read back the same), the safetensors header for ldm and sd; a model stating none writes none.
    func testLatentSettingsAreExportedIntoEveryFormat() throws {
        let model = try fixtureModel("vae-small-g32")
        for format in ExportFormat.allCases {
            try export(model, format: format, to: "\(scratch!)/plain-\(format)")
        }
        let plainJSON = try String(contentsOfFile: "\(scratch!)/plain-diffusers/config.json", encoding: .utf8)
        XCTAssertFalse(plainJSON.contains("scaling_factor") || plainJSON.contains("force_upcast"), plainJSON)
        XCTAssertEqual(try SafeTensors.readMetadata(path: "\(scratch!)/plain-ldm"), ["format": "pt"])

        var config = model.config
        config.latentSpace = LatentSpace(scalingFactor: 0.13025, latentsMean: [0.5, -1, 2, 0], forceUpcast: false)
        let sdxl = AutoencoderKL(config)
        try sdxl.loadWeights(path: Fixtures.path("vae-small-g32/weights.ldm.safetensors"))
        for format in ExportFormat.allCases {
            try export(sdxl, format: format, to: "\(scratch!)/sdxl-\(format)")
        }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(scratch!)/sdxl-diffusers/config.json"))) as? [String: Any])
        XCTAssertEqual(json["scaling_factor"] as? Double, 0.13025)
        XCTAssertEqual(json["force_upcast"] as? Bool, false)
        XCTAssertEqual(json["latents_mean"] as? [Double], [0.5, -1, 2, 0])
        XCTAssertNil(json["shift_factor"])
        XCTAssertEqual(try ModelSource(checkpoint: "\(scratch!)/sdxl-diffusers", config: nil).config, config)
        for format in [ExportFormat.ldm, .sd] {
            XCTAssertEqual(try SafeTensors.readMetadata(path: "\(scratch!)/sdxl-\(format)"),
                           ["format": "pt", "scaling_factor": "0.13025", "force_upcast": "false", "latents_mean": "[0.5, -1.0, 2.0, 0.0]"])
        }
    }

    func testConfigJSONWithoutBlockAttention() throws {
        let json = diffusersConfigJSON(for: try VAEConfig.load(path: Fixtures.path("vae-small-g32/config.yaml"))).text
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(parsed["down_block_types"] as? [String], ["DownEncoderBlock2D", "DownEncoderBlock2D"])
        XCTAssertEqual(parsed["up_block_types"] as? [String], ["UpDecoderBlock2D", "UpDecoderBlock2D"])
        XCTAssertEqual(parsed["norm_num_groups"] as? Int, 32)
    }

    // MARK: Existing outputs

    func testExistingOutputIsKeptUnlessOverwriteAndThenReplacedOnlyWhenItIsAPreviousExport() throws {
        let model = try fixtureModel("vae-small-g32")
        let folder = "\(scratch!)/existing"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "keep".write(toFile: "\(folder)/notes.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try export(model, format: .diffusers, to: folder)) { error in
            XCTAssertTrue("\(error)".contains(folder) && "\(error)".contains("--overwrite"), "\(error)")
        }
        // A folder holding a file no export writes is the user's: --overwrite does not remove it.
        XCTAssertThrowsError(try export(model, format: .diffusers, to: folder, overwrite: true)) { error in
            XCTAssertTrue("\(error)".contains(folder) && "\(error)".contains("notes.txt"), "\(error)")
        }
        XCTAssertEqual(try contents(folder), ["notes.txt"])

        let previous = "\(scratch!)/previous"
        try export(model, format: .diffusers, to: previous)
        try export(try fixtureModel("vae-tiny-g8"), format: .diffusers, to: previous, overwrite: true)
        XCTAssertEqual(try contents(previous), ["config.json", "diffusion_pytorch_model.safetensors"])
        XCTAssertEqual(try ModelSource(checkpoint: previous, config: nil).config, try VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")))
        XCTAssertEqual(try contents(scratch), ["existing", "previous"])

        let file = "\(scratch!)/weights.safetensors"
        try "old".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try export(model, format: .ldm, to: file))
        // Not a safetensors file: not a previous export, so not replaced either.
        XCTAssertThrowsError(try export(model, format: .ldm, to: file, overwrite: true)) { error in
            XCTAssertTrue("\(error)".contains("\(file) is not a safetensors file"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "old")
        try FileManager.default.removeItem(atPath: file)
        try export(model, format: .sd, to: file)
        try export(model, format: .ldm, to: file, overwrite: true)
        XCTAssertEqual(try SafeTensors.read(path: file).names, model.weightsFile().names)

        XCTAssertThrowsError(try export(model, format: .sd, to: previous, overwrite: true)) { error in
            XCTAssertTrue("\(error)".contains("\(previous) is a folder, not a file"), "\(error)")
        }
        XCTAssertThrowsError(try export(model, format: .diffusers, to: file, overwrite: true)) { error in
            XCTAssertTrue("\(error)".contains("\(file) is a regular file, not a folder"), "\(error)")
        }
    }

    func testMissingFoldersAreCreatedAndAFileInTheWayIsNamed() throws {
        let model = try fixtureModel("vae-small-g32")
        try export(model, format: .diffusers, to: "\(scratch!)/new/nested/vae/")
        XCTAssertEqual(try contents("\(scratch!)/new/nested"), ["vae"])
        XCTAssertEqual(try contents("\(scratch!)/new/nested/vae"), ["config.json", "diffusion_pytorch_model.safetensors"])

        try "x".write(toFile: "\(scratch!)/plain", atomically: true, encoding: .utf8)
        for format in [ExportFormat.diffusers, .ldm] {
            XCTAssertThrowsError(try export(model, format: format, to: "\(scratch!)/plain/sub/out")) { error in
                XCTAssertTrue("\(error)".contains("\(self.scratch!)/plain is a file"), "\(error)")
            }
        }
        XCTAssertEqual(try contents(scratch), ["new", "plain"])
    }
}
