import Foundation
import VAECore
import VAEFormats
import VAETools
import XCTest

/// Inputs that once ended the binary with a signal (SIGILL, SIGSEGV, SIGABRT "failed to allocate …") now end it
/// with a message naming what to change and exit status 1 (a failed job) or 64 (a refused flag).
final class HostileInputTests: XCTestCase {
    let weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")
    let image = VAEDistBinary.fixture("images-64/astronaut_rgb8.png")

    /// The tiny fixture's config with `line` replacing its `key:` line.
    private func config(replacing key: String, with line: String, in dir: String) throws -> String {
        let text = try String(contentsOfFile: VAEDistBinary.fixture("vae-tiny-g8/config.yaml"), encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        guard let index = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(key + ":") }) else {
            throw VAEDistError("the fixture config has no \(key)")
        }
        let indent = lines[index].prefix { $0 == " " }
        lines[index] = indent + line
        // A block list's items follow its key: drop them with it.
        while index + 1 < lines.count && lines[index + 1].trimmingCharacters(in: .whitespaces).hasPrefix("- ") {
            lines.remove(at: index + 1)
        }
        let path = "\(dir)/\(key).yaml"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func assertRefused(_ r: CommandResult, status: Int32 = 1, mentioning parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "expected a clean refusal, not a signal or success:\n\(r.output)", file: file, line: line)
        assertMentions(r.stderr, parts, file: file, line: line)
    }

    private func reconstruct(config: String, imgSize: Int = 32, out: String) throws -> CommandResult {
        try VAEDistBinary.run(["reconstruct", "--checkpoint", weights, "--config", config, "--img_size", "\(imgSize)",
                               "--output", out, image])
    }

    func testReconstructRefusesSixtyFiveLevels() throws {
        let out = try temporaryDirectory("hostile-levels")
        let path = try config(replacing: "ch_mult",
                              with: "ch_mult: [" + Array(repeating: "1", count: 65).joined(separator: ", ") + "]", in: out)
        assertRefused(try reconstruct(config: path, out: out),
                      mentioning: [path, "ddconfig.ch_mult has 65 entries", "10 accepted"])
    }

    func testReconstructRefusesAHugeChannelCount() throws {
        let out = try temporaryDirectory("hostile-ch")
        for value in ["4611686018427387904", "100000"] {
            let path = try config(replacing: "ch", with: "ch: \(value)", in: out)
            assertRefused(try reconstruct(config: path, out: out), mentioning: [path, "ddconfig.ch is \(value)"])
        }
    }

    func testReconstructRefusesHugeResBlockCount() throws {
        let out = try temporaryDirectory("hostile-blocks")
        let path = try config(replacing: "num_res_blocks", with: "num_res_blocks: 100000", in: out)
        assertRefused(try reconstruct(config: path, out: out), mentioning: [path, "ddconfig.num_res_blocks is 100000"])
    }

    func testHugeImageSizeIsRefusedBeforeAnyWork() throws {
        let out = try temporaryDirectory("hostile-size")
        let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
        assertRefused(try reconstruct(config: config, imgSize: 100000, out: out), status: 64,
                      mentioning: ["--img_size 100000", "32768"])
        let train = try VAEDistBinary.run(["train", "--train_dir", out, "--config", config, "--img_size", "100000",
                                           "--output_dir", out])
        assertRefused(train, status: 64, mentioning: ["--img_size 100000", "32768"])
        let bench = try VAEDistBinary.run(["bench", "--config", config, "--img_size", "100000"])
        assertRefused(bench, status: 64, mentioning: ["--img_size 100000", "32768"])
    }

    /// An image size within bounds whose activations cannot fit: refused with the estimate and what is available.
    func testImageSizeThatCannotFitIsRefusedWithTheEstimate() throws {
        // Linux reports available memory (/proc/meminfo); elsewhere nothing is refused.
        guard MemoryEstimate.availableBytes() != nil else { return XCTAssertNil(MemoryEstimate.availableBytes()) }
        let out = try temporaryDirectory("hostile-memory")
        let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
        let r = try reconstruct(config: config, imgSize: 32768, out: out)
        assertRefused(r, mentioning: ["img_size 32768", "encoding and decoding needs about", "activations",
                                      "available", "--img_size"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/astronaut_rgb8_recon.png"))
    }

    /// A vae-dist checkpoint whose stored config is hostile: analyze reads that config and names the file.
    func testAnalyzeRefusesAHostileStoredConfig() throws {
        let out = try temporaryDirectory("hostile-stored")
        let path = "\(out)/hostile.safetensors"
        var file = SafeTensors()
        file.add("x", shape: [1], values: [0])
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(VAEConfig.sdV1)) as? [String: Any] ?? [:]
        json["ch_mult"] = Array(repeating: 1, count: 65)
        file.metadata = ["format": "vae-dist-checkpoint-1",
                         "config": String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)]
        try file.write(path: path)
        let r = try VAEDistBinary.run(["analyze", "--img1", image, "--img2", image, "--checkpoint", path,
                                       "--img_size", "64", "--output", out])
        assertRefused(r, mentioning: [path, "metadata 'config'", "ddconfig.ch_mult has 65 entries"])
    }

    /// Integer flags far out of range once overflowed (SIGILL), --epochs 2^61 after making and locking the output
    /// directory; each is now refused by name with its bound (exit 64) before anything is made.
    func testIntegerFlagsBeyondTheirBoundsAreRefusedByName() throws {
        let out = try temporaryDirectory("hostile-flags")
        let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
        let train = ["train", "--train_dir", out, "--config", config, "--img_size", "16", "--output_dir", "\(out)/run"]
        let huge = "9223372036854775807"
        let cases: [([String], [String])] = [
            (train + ["--batch_size", huge], ["--batch_size", "at most 65536", huge]),
            (train + ["--grad_accum", "4611686018427387904"], ["--grad_accum", "at most 65536"]),
            (train + ["--epochs", "2305843009213693952"], ["--epochs", "at most 1000000"]),
            (train + ["--save_interval", huge], ["--save_interval", "at most 1000000"]),
            (train + ["--num_recon", huge], ["--num_recon", "at most 64"]),
            (train + ["--warmup_steps", huge], ["--warmup_steps", "at most 1000000000"]),
            (train + ["--lr_step_size", huge], ["--lr_step_size", "at most 1000000"]),
            (train + ["--val_interval", huge], ["--val_interval", "at most 1000000"]),
            (train + ["--log_every", huge], ["--log_every", "at most 1000000000"]),
            (train + ["--threads", "100000"], ["--threads", "at most 1024"]),
            (["bench", "--config", config, "--img_size", "16", "--grad_accum", "4611686018427387904"], ["--grad_accum", "at most 65536"]),
            (["bench", "--config", config, "--img_size", "16", "--steps", huge], ["--steps", "at most 1000000"]),
            (["make-pairs", "--images", out, "--output", "\(out)/pairs", "--dilate", huge], ["--dilate", "at most 4096"]),
            (["make-pairs", "--images", out, "--output", "\(out)/pairs", "--patch", huge], ["--patch", "at most 1024"]),
            (["analyze-folder", "--folder", out, "--checkpoint", weights, "--output", "\(out)/analysis", "--bootstrap", huge],
             ["--bootstrap", "at most 1000000"]),
        ]
        for (args, parts) in cases {
            assertRefused(try VAEDistBinary.run(args), status: 64, mentioning: parts)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out), [], "nothing was made")
    }

    /// The library refuses what synth-data's flags refuse, for callers other than the command.
    func testPhantomWriterRefusesOutOfRangeOptions() throws {
        let out = try temporaryDirectory("hostile-phantoms")
        for options in [PhantomOptions(outputDirectory: out, trainingCount: 1, pairCount: 0, imageSize: 8),
                        PhantomOptions(outputDirectory: out, trainingCount: Int.max, pairCount: 0, imageSize: 32)] {
            XCTAssertThrowsError(try writePhantoms(options)) { error in
                XCTAssertTrue("\(error)".contains("invalid phantom options"), "\(error)")
            }
        }
        let r = try VAEDistBinary.run(["synth-data", "--output", out, "--count", "9223372036854775807"])
        assertRefused(r, status: 64, mentioning: ["--count", "at most 1000000"])
    }
}
