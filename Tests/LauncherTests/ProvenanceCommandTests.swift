import Foundation
import VAEFormats
import VAEJobs
import XCTest

/// `vae-dist --version` and the `provenance` record of every JSON kind vae-dist writes (issue #24 item 6).
final class ProvenanceCommandTests: XCTestCase {
    var dir: String!
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
    let weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")
    var checkout: String { VAEDistBinary.fixtures.deletingLastPathComponent().deletingLastPathComponent().path }

    override func setUpWithError() throws {
        dir = try temporaryDirectory("provenance")
        for index in 0..<4 {
            try writePNG(pattern(seed: index, blob: true), to: "\(dir!)/pairs/positive/case \(index).png")
            try writePNG(pattern(seed: index, blob: false), to: "\(dir!)/pairs/negative/case \(index).png")
            try writePNG(pattern(seed: index + 4, blob: index % 2 == 0), to: "\(dir!)/train/img\(index).png")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func pattern(seed: Int, blob: Bool) -> RGB8Image {
        let size = 32
        let pixels = (0..<size * size).flatMap { p -> [UInt8] in
            let (x, y) = (Double(p % size), Double(p / size))
            var v = 128 + 70 * sin(x / Double(5 + seed)) * cos(y / 7)
            if blob && hypot(x - 12, y - 16) < 6 { v = 20 }
            let g = UInt8(max(0, min(255, v)))
            return [g, g, UInt8(max(0, min(255, v * 0.8)))]
        }
        return RGB8Image(width: size, height: size, pixels: pixels)
    }

    /// `command` run in the checkout (git, sha256sum), its stdout trimmed; nil when it fails.
    func tool(_ command: [String], in directory: String? = nil) throws -> String? {
        let r = try VAEDistBinary.launch("/usr/bin/env", command, environment: [:], in: directory ?? checkout).finish()
        return r.status == 0 ? r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// The record of a JSON document's `provenance`, checked for what every record holds.
    @discardableResult
    func record(_ json: Data, _ what: String, ranks: Int = 1, weights expected: String?, line: UInt = #line) throws -> Provenance {
        struct Document: Decodable { let provenance: Provenance }
        let p = try JSONDecoder().decode(Document.self, from: json).provenance
        XCTAssertEqual(p.version, try versionParts().version, what, line: line)
        XCTAssertEqual(p.commit, try versionParts().commit, what, line: line)
        XCTAssertEqual(p.ranks, ranks, what, line: line)
        XCTAssertGreaterThanOrEqual(p.threadsPerRank, 1, what, line: line)
        XCTAssertTrue(p.commandLine.first?.hasSuffix("vae-dist") == true, "\(what): \(p.commandLine)", line: line)
        XCTAssertFalse(p.cpu.isEmpty, what, line: line)
        XCTAssertTrue(["avx2", "avx512"].contains(p.kernels), "\(what): \(p.kernels)", line: line)
        XCTAssertFalse(p.blasCore.isEmpty, what, line: line)
        let iso = try NSRegularExpression(pattern: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#)
        for time in [p.started, p.ended ?? ""] {
            XCTAssertNotNil(iso.firstMatch(in: time, range: NSRange(time.startIndex..., in: time)), "\(what): \(time)", line: line)
        }
        XCTAssertLessThanOrEqual(p.started, p.ended ?? "", what, line: line)
        if let expected {
            XCTAssertEqual(p.weights, expected, what, line: line)
            // Checked against coreutils where it exists, else against the fixture-tested SHA256.
            let sum = try tool(["sha256sum", expected]).map { String($0.prefix(64)) } ?? SHA256.hex(Array(try Data(contentsOf: URL(fileURLWithPath: expected))))
            XCTAssertEqual(p.weightsSHA256, sum, what, line: line)
        } else {
            XCTAssertNil(p.weights, what, line: line)
        }
        return p
    }

    func versionParts() throws -> (version: String, commit: String) {
        let r = try VAEDistBinary.run(["--version"])
        let pattern = try NSRegularExpression(pattern: #"^vae-dist (\d+\.\d+\.\d+) \(commit ([0-9a-f]{40}(?:-modified)?|unknown)\)\n$"#)
        let match = try XCTUnwrap(pattern.firstMatch(in: r.stdout, range: NSRange(r.stdout.startIndex..., in: r.stdout)), r.output)
        let part = { (i: Int) in String(r.stdout[Range(match.range(at: i), in: r.stdout)!]) }
        return (part(1), part(2))
    }

    func read(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func testVersionNamesTheVersionAndTheCommitItWasBuiltFrom() throws {
        let commit = try versionParts().commit
        // Built from this checkout: a commit of its history (HEAD at build time; the tests may run a build made
        // before the last commit, so not necessarily HEAD now; the script's test checks HEAD itself).
        if try tool(["git", "rev-parse", "HEAD"]) != nil {
            XCTAssertNotEqual(commit, "unknown")
            XCTAssertNotNil(try tool(["git", "merge-base", "--is-ancestor", String(commit.prefix(40)), "HEAD"]), commit)
        }
    }

    func testBuildInfoScriptNamesHeadMarksChangesAndSaysUnknownOutsideACheckout() throws {
        let script = "\(checkout)/scripts/build-info.sh"
        func commit(_ package: String) throws -> String {
            let out = "\(dir!)/out/BuildCommit.swift"
            let r = try VAEDistBinary.launch("/bin/sh", [script, package, out], environment: [:]).finish()
            XCTAssertEqual(r.status, 0, r.output)
            let text = try String(contentsOfFile: out, encoding: .utf8)
            return try XCTUnwrap(text.split(separator: "\"").dropFirst().first.map(String.init), text)
        }
        let plain = "\(dir!)/plain"
        try FileManager.default.createDirectory(atPath: "\(plain)/Sources", withIntermediateDirectories: true)
        XCTAssertEqual(try commit(plain), "unknown")
        guard try tool(["git", "--version"]) != nil else { throw XCTSkip("git is not installed") }
        let repo = "\(dir!)/repo"
        try FileManager.default.createDirectory(atPath: "\(repo)/Sources", withIntermediateDirectories: true)
        try "let a = 1\n".write(toFile: "\(repo)/Sources/a.swift", atomically: true, encoding: .utf8)
        for command in [["git", "init", "-q"], ["git", "add", "."],
                        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"]] {
            XCTAssertNotNil(try tool(command, in: repo), command.joined(separator: " "))
        }
        let head = try XCTUnwrap(try tool(["git", "rev-parse", "HEAD"], in: repo))
        XCTAssertEqual(try commit(repo), head)
        let written = try FileManager.default.attributesOfItem(atPath: "\(dir!)/out/BuildCommit.swift")[.modificationDate] as? Date
        Thread.sleep(forTimeInterval: 1.1)
        XCTAssertEqual(try commit(repo), head)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: "\(dir!)/out/BuildCommit.swift")[.modificationDate] as? Date, written,
                       "unchanged: not rewritten, so nothing recompiles")
        try "let a = 2\n".write(toFile: "\(repo)/Sources/a.swift", atomically: true, encoding: .utf8)
        XCTAssertEqual(try commit(repo), head + "-modified")
        // A package inside another repository is not that repository's commit.
        XCTAssertEqual(try commit("\(repo)/Sources"), "unknown")
    }

    func testAnalysisJSONAndReportCarryTheRecord() throws {
        let single = try VAEDistBinary.run(["analyze", "--img1", "\(dir!)/pairs/positive/case 0.png", "--img2", "\(dir!)/pairs/negative/case 0.png",
                                            "--config", config, "--checkpoint", weights, "--img_size", "32", "--output", "\(dir!)/one"])
        XCTAssertEqual(single.status, 0, single.output)
        let p = try record(try read("\(dir!)/one/single/summary.json"), "summary.json", weights: weights)
        XCTAssertEqual(p.configSource, config)
        XCTAssertTrue(p.commandLine.contains("\(dir!)/pairs/positive/case 0.png"), "\(p.commandLine)")

        let folder = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/pairs", "--config", config, "--checkpoint", weights,
                                            "--img_size", "32", "--output", "\(dir!)/many", "--bootstrap", "50"], ranks: 2)
        XCTAssertEqual(folder.status, 0, folder.output)
        try record(try read("\(dir!)/many/batch/aggregated_results.json"), "aggregated_results.json", ranks: 2, weights: weights)
        try record(try read("\(dir!)/many/batch/case 3/summary.json"), "a pair's summary.json", ranks: 2, weights: weights)
        let page = try String(contentsOfFile: "\(dir!)/many/batch/report.html", encoding: .utf8)
        assertMentions(page, ["<footer class=\"provenance\">", "SHA-256 <code>\(p.weightsSHA256!)</code>", "2 rank(s)",
                              "--folder \(dir!)/pairs", "vae-dist \(p.version) (commit <code>\(p.commit)</code>)"])
    }

    func testTrainingHistoryCheckpointsAndBenchCarryTheRecord() throws {
        let out = "\(dir!)/run"
        let base = ["train", "--train_dir", "\(dir!)/train", "--config_path", config, "--output_dir", out, "--batch_size", "2",
                    "--img_size", "16", "--num_recon", "1", "--save_interval", "1", "--threads", "1"]
        let r = try VAEDistBinary.run(base + ["--epochs", "1", "--init_weights", weights, "--save_format", "both"])
        XCTAssertEqual(r.status, 0, r.output)
        try record(try read("\(out)/training_history.json"), "training_history.json", weights: weights)
        for file in ["vae_final.safetensors", "vae_final.pt", "checkpoints/vae_epoch_1.safetensors"] {
            let text = try XCTUnwrap(try CheckpointMetadata.metadata(path: "\(out)/\(file)")["provenance"], file)
            try record(Data("{\"provenance\": \(text)}".utf8), file, weights: weights)
        }
        // A resumed run started from its checkpoint: that file and its hash.
        let checkpoint = "\(out)/checkpoints/vae_epoch_1.safetensors"
        let resumed = try VAEDistBinary.run(base + ["--epochs", "2", "--resume", checkpoint])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        let p = try record(try read("\(out)/training_history.json"), "resumed training_history.json", weights: checkpoint)
        XCTAssertEqual(p.configSource, "stored in \(checkpoint)")

        let bench = try VAEDistBinary.run(["bench", "--config", config, "--img_size", "16", "--steps", "1", "--threads", "1", "--json"])
        XCTAssertEqual(bench.status, 0, bench.output)
        XCTAssertEqual(try record(Data(bench.stdout.utf8), "bench --json", weights: nil).configSource, config)
    }
}
