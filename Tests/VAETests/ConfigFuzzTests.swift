import Foundation
@testable import VAECore
import XCTest

/// Seeded mutations of every shipped config through the yaml reader, its validation and the memory estimate:
/// each mutant is accepted or refused with a thrown error; a signal or a hang fails the run.
final class ConfigFuzzTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    private static var seeds: [String] {
        let configs = root.appendingPathComponent("configs")
        let shipped = ((try? FileManager.default.contentsOfDirectory(atPath: configs.path)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted().map { configs.appendingPathComponent($0).path }
        let fixtures = ["vae-tiny-g8", "vae-small-g32"].map {
            root.appendingPathComponent("Tests/Fixtures/\($0)/config.yaml").path
        }
        return shipped + fixtures
    }

    /// What breaks yaml readers and the sizes derived from a config: the keys, huge and negative numbers,
    /// lists, anchors and aliases, tabs and flow syntax.
    private static let vocabulary = [
        "ch: 4611686018427387904", "ch: 100000", "ch_mult: [1, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]", "num_res_blocks: 100000",
        "z_channels: 9223372036854775807", "embed_dim: -4", "norm_num_groups: 3", "norm_num_groups: 0",
        "attn_resolutions: [64, 32, 16, 8]", "resolution: -9223372036854775808", "in_channels: 1", "out_ch: 1024",
        "double_z: false", "dropout: .nan", "ddconfig:", "params:", "model:", "first_stage_config:",
        "target: ldm.models.autoencoder.AutoencoderKL", "- 99999999999999999999", "- -1", "- 0", "- 64", "1e308",
        "-0", "0x7fffffffffffffff", ".inf", "~", "null", "true", "[1, [2, [3]]]", "{ch: 8}", "&a [1, 2]", "*a",
        "<<: *a", "&b", "*b", "\t", "\t- 4", "  ", "[", "]", "{", "}", ": ", "- ", "? ", "!!binary", "!!int 12",
        "|", ">", "---", "...", "#", "'", "\"", "%YAML 1.2",
    ]

    func testMutatedConfigsAreAcceptedOrRefusedWithAnError() throws {
        let seeds = try Self.seeds.map { path -> String in
            let text = try String(contentsOfFile: path, encoding: .utf8)
            XCTAssertNoThrow(try VAEConfig.parse(yaml: text, source: path), path)
            return text
        }
        XCTAssertGreaterThanOrEqual(seeds.count, 4)
        var mutator = FuzzMutator(seed: 0xC0_4F16)
        var accepted = 0, refused = 0
        for i in 0..<FuzzMutator.iterations(3000) {
            let yaml = mutator.mutate(seeds[i % seeds.count], vocabulary: Self.vocabulary)
            do {
                let config = try VAEConfig.parse(yaml: yaml, source: "mutant-\(i).yaml")
                try config.validate()
                // A config that parses must survive everything a job does before allocating.
                for (size, batch) in [(1, 1), (256, 8), (MemoryEstimate.maxImageSize, 1_000_000)] {
                    for work in [MemoryEstimate.Work.training, .inference] {
                        let estimate = MemoryEstimate(config: config, imageSize: size, batch: batch, work: work)
                        XCTAssertTrue(estimate.totalBytes.isFinite && estimate.totalBytes > 0, yaml)
                        _ = try? estimate.check(available: 1e9)
                    }
                }
                XCTAssertLessThanOrEqual(config.parameterCount, VAEConfig.maxParameters, yaml)
                accepted += 1
            } catch {
                XCTAssertFalse("\(error)".isEmpty)
                refused += 1
            }
        }
        // Both outcomes occur: the mutations neither leave every config intact nor break them all.
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertGreaterThan(refused, 0)
    }
}
