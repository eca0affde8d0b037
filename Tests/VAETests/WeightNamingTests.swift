import Foundation
@testable import VAECore
@testable import VAEFormats
import XCTest

final class WeightNamingTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    private func fixturePath(_ model: String, _ file: String) -> String {
        fixtures.appendingPathComponent(model).appendingPathComponent(file).path
    }

    private func read(_ model: String, _ file: String) throws -> SafeTensors {
        try SafeTensors.read(path: fixturePath(model, file))
    }

    /// The parameter list a model built from the fixture would expect: the ldm file's own names and shapes.
    private func expectedParameters(_ model: String) throws -> [(name: String, shape: [Int])] {
        let ldm = try read(model, "weights.ldm.safetensors")
        return ldm.names.map { ($0, ldm[$0]!.shape) }
    }

    /// Same names, shapes and bit patterns.
    private func assertBitIdentical(_ a: [String: SafeTensors.Entry], _ b: [String: SafeTensors.Entry],
                                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), "name sets differ", file: file, line: line)
        for (name, entry) in a {
            guard let other = b[name] else { continue }
            XCTAssertEqual(entry.shape, other.shape, name, file: file, line: line)
            XCTAssertTrue(entry.values.map(\.bitPattern) == other.values.map(\.bitPattern), "\(name): values differ",
                          file: file, line: line)
        }
    }

    private func assertThrows(_ expression: @autoclosure () throws -> some Any, containing parts: [String],
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            let message = "\(error)"
            for part in parts {
                XCTAssertTrue(message.contains(part), "message lacks \(part): \(message)", file: file, line: line)
            }
        }
    }

    // MARK: Naming detection and renaming

    func testDiffusersFixturesMapToTheLdmFixtures() throws {
        for model in ["vae-tiny-g8", "vae-small-g32"] {
            let ldmPath = fixturePath(model, "weights.ldm.safetensors")
            let diffusersPath = fixturePath(model, "weights.diffusers.safetensors")
            let ldm = try ldmTensors(from: SafeTensors.read(path: ldmPath), path: ldmPath)
            let diffusers = try ldmTensors(from: SafeTensors.read(path: diffusersPath), path: diffusersPath)
            XCTAssertEqual(ldm.naming, .ldm, model)
            XCTAssertEqual(diffusers.naming, .diffusers, model)
            // The raw files differ (names, and [C, C] linear attention weights), so the mapping did the work.
            XCTAssertNotEqual(Set(try read(model, "weights.diffusers.safetensors").names), Set(ldm.tensors.keys), model)
            assertBitIdentical(diffusers.tensors, ldm.tensors)
            XCTAssertEqual(ldm.tensors.count, try read(model, "weights.ldm.safetensors").tensors.count, model)
        }
    }

    func testDecoderLevelsAreReversed() throws {
        let path = fixturePath("vae-tiny-g8", "weights.diffusers.safetensors")
        let raw = try SafeTensors.read(path: path)
        let mapped = try ldmTensors(from: raw, path: path).tensors
        // Only the tiny fixture's lowest-resolution level (ldm up.1 = diffusers up_blocks.0) has attention.
        XCTAssertEqual(mapped["decoder.up.1.attn.1.q.weight"]?.values, raw["decoder.up_blocks.0.attentions.1.to_q.weight"]?.values)
        XCTAssertEqual(mapped["decoder.up.1.attn.1.q.weight"]?.shape, [32, 32, 1, 1])
        XCTAssertEqual(mapped["decoder.up.0.block.0.nin_shortcut.weight"]?.values,
                       raw["decoder.up_blocks.1.resnets.0.conv_shortcut.weight"]?.values)
        XCTAssertEqual(mapped["decoder.up.1.upsample.conv.bias"]?.values, raw["decoder.up_blocks.0.upsamplers.0.conv.bias"]?.values)
        XCTAssertNil(mapped["decoder.up.0.upsample.conv.bias"])
    }

    func testLegacyDiffusersAttentionNames() throws {
        let current = try read("vae-tiny-g8", "weights.diffusers.safetensors")
        let legacyNames = ["to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"]
        var legacy = SafeTensors()
        var renamedCount = 0
        for name in current.names {
            var legacyName = name
            for (new, old) in legacyNames where name.contains(".attentions.") && name.contains(".\(new).") {
                legacyName = name.replacingOccurrences(of: ".\(new).", with: ".\(old).")
                renamedCount += 1
            }
            legacy.add(legacyName, shape: current[name]!.shape, values: current[name]!.values)
        }
        XCTAssertEqual(renamedCount, 4 * 2 * 5) // q, k, v, out × weight, bias × 5 attention blocks
        let mapped = try ldmTensors(from: legacy, path: "legacy.safetensors")
        XCTAssertEqual(mapped.naming, .diffusers)
        let ldm = try ldmTensors(from: read("vae-tiny-g8", "weights.ldm.safetensors"), path: "ldm.safetensors")
        assertBitIdentical(mapped.tensors, ldm.tensors)
    }

    func testFullStableDiffusionCheckpoint() throws {
        let ldm = try read("vae-small-g32", "weights.ldm.safetensors")
        var full = SafeTensors()
        for name in ldm.names { full.add("first_stage_model." + name, shape: ldm[name]!.shape, values: ldm[name]!.values) }
        full.add("model.diffusion_model.input_blocks.0.0.weight", shape: [4, 4, 3, 3], values: [Float](repeating: 1, count: 144))
        full.add("model.diffusion_model.out.2.bias", shape: [4], values: [1, 2, 3, 4])
        full.add("cond_stage_model.transformer.text_model.final_layer_norm.weight", shape: [2], values: [1, 1])
        full.add("model_ema.decay", shape: [], values: [0.9999])
        // A bare VAE key outside first_stage_model is not this checkpoint's VAE.
        full.add("encoder.conv_in.weight", shape: [1], values: [7])
        let mapped = try ldmTensors(from: full, path: "sd-v1-5.safetensors")
        XCTAssertEqual(mapped.naming, .ldm)
        assertBitIdentical(mapped.tensors, ldm.tensors)
    }

    func testLdmTrainingKeysOutsideTheVAEAreDropped() throws {
        var file = try read("vae-tiny-g8", "weights.ldm.safetensors")
        file.add("loss.logvar", shape: [], values: [0])
        file.add("loss.discriminator.main.0.weight", shape: [2], values: [1, 2])
        let mapped = try ldmTensors(from: file, path: "vae-ft-mse.safetensors")
        XCTAssertNil(mapped.tensors["loss.logvar"])
        assertBitIdentical(mapped.tensors, try read("vae-tiny-g8", "weights.ldm.safetensors").tensors)
    }

    func testF16WeightsAreWithinRounding() throws {
        let f32 = try ldmTensors(from: read("vae-tiny-g8", "weights.ldm.safetensors"), path: "ldm.safetensors").tensors
        let f16 = try ldmTensors(from: read("vae-tiny-g8", "weights.ldm-f16.safetensors"), path: "ldm-f16.safetensors")
        XCTAssertEqual(f16.naming, .ldm)
        XCTAssertEqual(Set(f16.tensors.keys), Set(f32.keys))
        var differing = 0
        for (name, reference) in f32 {
            guard let rounded = f16.tensors[name] else { continue }
            XCTAssertEqual(rounded.shape, reference.shape, name)
            for (x, y) in zip(reference.values, rounded.values) {
                // Round-to-nearest is off by at most half a float16 ulp (subnormal ulps included).
                let halfULP = Float(Float16(x).ulp) / 2
                XCTAssertLessThanOrEqual(abs(x - y), halfULP, "\(name): \(x) vs \(y)")
                if x != y { differing += 1 }
            }
        }
        XCTAssertGreaterThan(differing, 0, "the f16 file should actually be rounded")
    }

    func testMixedNamingIsRejected() throws {
        var mixed = try read("vae-tiny-g8", "weights.ldm.safetensors")
        mixed.add("encoder.down_blocks.0.resnets.0.conv1.weight", shape: [1], values: [0])
        assertThrows(try ldmTensors(from: mixed, path: "mixed.safetensors"),
                     containing: ["mixed.safetensors", "encoder.down_blocks.0.resnets.0.conv1.weight", "ldm names"])
    }

    func testFileWithoutVAETensorsIsRejected() {
        var unet = SafeTensors()
        unet.add("model.diffusion_model.out.2.bias", shape: [1], values: [0])
        assertThrows(try ldmTensors(from: unet, path: "unet.safetensors"),
                     containing: ["unet.safetensors", "no VAE tensors", "model.diffusion_model.out.2.bias"])
    }

    func testDuplicateDiffusersNamesAreRejected() throws {
        var both = try read("vae-tiny-g8", "weights.diffusers.safetensors")
        let q = both["encoder.mid_block.attentions.0.to_q.weight"]!
        both.add("encoder.mid_block.attentions.0.query.weight", shape: q.shape, values: q.values)
        assertThrows(try ldmTensors(from: both, path: "both.safetensors"),
                     containing: ["both.safetensors", "encoder.mid.attn_1.q.weight", "to_q", "query"])
    }

    func testUnknownDiffusersKeysStayUnexpected() throws {
        let model = "vae-tiny-g8"
        var file = try read(model, "weights.diffusers.safetensors")
        file.add("encoder.down_blocks.0.resnets.0.time_emb_proj.weight", shape: [2], values: [0, 0])
        let mapped = try ldmTensors(from: file, path: "extra.safetensors").tensors
        XCTAssertNotNil(mapped["encoder.down_blocks.0.resnets.0.time_emb_proj.weight"])
        assertThrows(try matchParameters(expected: expectedParameters(model), loaded: mapped, path: "extra.safetensors",
                                         configDescription: "tiny"),
                     containing: ["1 unexpected", "encoder.down_blocks.0.resnets.0.time_emb_proj.weight [2]"])
    }

    // MARK: matchParameters

    func testMatchingParametersReturnsTheValues() throws {
        let model = "vae-small-g32"
        let path = fixturePath(model, "weights.diffusers.safetensors")
        let loaded = try ldmTensors(from: SafeTensors.read(path: path), path: path).tensors
        let expected = try expectedParameters(model)
        let values = try matchParameters(expected: expected, loaded: loaded, path: path, configDescription: "small")
        let ldm = try read(model, "weights.ldm.safetensors")
        XCTAssertEqual(values.count, expected.count)
        for (name, _) in expected { XCTAssertEqual(values[name], ldm[name]!.values, name) }
    }

    func testMismatchesAreReportedTogether() throws {
        let model = "vae-tiny-g8"
        let config = try VAEConfig.load(path: fixturePath(model, "config.yaml"))
        var loaded = try ldmTensors(from: read(model, "weights.ldm.safetensors"), path: "w.safetensors").tensors
        loaded["encoder.conv_in.bias"] = nil
        loaded["decoder.up.1.attn.0.q.weight"] = nil
        loaded["encoder.down.0.block.0.extra.weight"] = SafeTensors.Entry(shape: [3], values: [1, 2, 3])
        loaded["quant_conv.weight"] = SafeTensors.Entry(shape: [8, 8], values: [Float](repeating: 0, count: 64))
        assertThrows(try matchParameters(expected: expectedParameters(model), loaded: loaded, path: "w.safetensors",
                                         configDescription: config.yamlDescription),
                     containing: ["w.safetensors", config.yamlDescription, "2 missing, 1 unexpected, 1 with another shape",
                                  "encoder.conv_in.bias [16]", "decoder.up.1.attn.0.q.weight [32, 32, 1, 1]",
                                  "encoder.down.0.block.0.extra.weight [3]",
                                  "quant_conv.weight: expected [8, 8, 1, 1], found [8, 8]"])
    }

    func testLongListsAreCut() throws {
        let model = "vae-tiny-g8"
        let expected = try expectedParameters(model)
        let loaded = try ldmTensors(from: read(model, "weights.ldm.safetensors"), path: "w.safetensors").tensors
            .filter { !$0.key.hasPrefix("decoder.") }
        let missingCount = expected.filter { $0.name.hasPrefix("decoder.") }.count
        XCTAssertGreaterThan(missingCount, 20)
        XCTAssertThrowsError(try matchParameters(expected: expected, loaded: loaded, path: "w.safetensors",
                                                 configDescription: "tiny")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("\(missingCount) missing"), message)
            XCTAssertTrue(message.contains("… and \(missingCount - 20) more"), message)
            XCTAssertEqual(message.components(separatedBy: "\n    decoder.").count - 1, 20, message)
        }
    }
}
