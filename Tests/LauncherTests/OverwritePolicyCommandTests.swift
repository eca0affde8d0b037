import Foundation
import VAECore
import VAEFormats
import XCTest

/// `--overwrite` as users meet it (issue #21): export and train replace only a previous output of the same kind;
/// everything else is refused with exit status 1 or 64 and a message naming it, and left as it was. Relative
/// paths run in a temporary working directory, so that no case can reach anything outside it.
final class OverwritePolicyCommandTests: XCTestCase {
    var dir: String!
    let g32 = ["--checkpoint", VAEDistBinary.fixture("vae-small-g32/weights.ldm.safetensors"),
               "--config", VAEDistBinary.fixture("vae-small-g32/config.yaml")]

    override func setUpWithError() throws { dir = try temporaryDirectory("overwrite") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func export(_ format: String, to output: String, overwrite: Bool = true, in directory: String? = nil) throws -> CommandResult {
        try VAEDistBinary.run(["export"] + g32 + ["--format", format, "--output", output] + (overwrite ? ["--overwrite"] : []),
                              in: directory ?? dir)
    }

    private func assertRefused(_ r: CommandResult, status: Int32, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "expected a refusal with status \(status), not a signal or success:\n\(r.output)", file: file, line: line)
        assertMentions(r.stderr, parts, file: file, line: line)
        XCTAssertFalse(r.stdout.contains("wrote "), "nothing may be written:\n\(r.output)", file: file, line: line)
    }

    private func contents(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    func testExportOverwriteKeepsAFolderOfTheUsersFiles() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/user", withIntermediateDirectories: true)
        try "mine".write(toFile: "\(dir!)/user/notes.txt", atomically: true, encoding: .utf8)
        assertRefused(try export("diffusers", to: "user"), status: 1, mentioning: ["--overwrite: user", "notes.txt", "--output"])
        XCTAssertEqual(try contents("\(dir!)/user"), ["notes.txt"])
        XCTAssertEqual(try String(contentsOfFile: "\(dir!)/user/notes.txt", encoding: .utf8), "mine")
    }

    func testExportOverwriteKeepsDevicesFIFOsAndSymbolicLinks() throws {
        XCTAssertEqual(mkfifo("\(dir!)/pipe", 0o644), 0)
        var targets = [("pipe", "a FIFO (named pipe)")]
        // Our own device node (the null device's numbers) in the temporary folder: creating one needs root.
        if mknod("\(dir!)/device", S_IFCHR | 0o644, dev_t(1 << 8 | 3)) == 0 { targets.append(("device", "a character device")) }
        XCTAssertEqual(try export("ldm", to: "real.safetensors", overwrite: false).status, 0)
        try FileManager.default.createSymbolicLink(atPath: "\(dir!)/link.safetensors", withDestinationPath: "real.safetensors")
        targets.append(("link.safetensors", "a symbolic link"))
        for (name, kind) in targets {
            for format in ["ldm", "sd", "diffusers"] {
                assertRefused(try export(format, to: name), status: 1, mentioning: ["--overwrite: \(name) is \(kind)"])
            }
            XCTAssertNotEqual(fileModeIfPresent("\(dir!)/\(name)").map { $0 & S_IFMT }, S_IFREG, "\(name) was replaced")
        }
        XCTAssertEqual(try contents(dir), (targets.map(\.0) + ["real.safetensors"]).sorted())
    }

    func testExportRefusesPathsThatNameNoOutputOfTheirOwn() throws {
        let work = "\(dir!)/a/b"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try "mine".write(toFile: "\(work)/notes.txt", atomically: true, encoding: .utf8)
        for (output, parts) in [("", ["--output is empty"]), (".", ["--output '.' ends in '.'"]), ("..", ["--output '..' ends in '..'"]),
                                ("sub/..", ["ends in '..'"]), (work, ["working directory"]), ("\(dir!)/a", ["working directory"])] {
            for format in ["diffusers", "ldm"] {
                assertRefused(try export(format, to: output, in: work), status: 64, mentioning: parts)
            }
        }
        // Before, `--output .` trapped in Foundation and `--output ''` said "cannot rename .tmp-PID to :".
        XCTAssertEqual(try contents(work), ["notes.txt"])
        XCTAssertEqual(try contents("\(dir!)/a"), ["b"])
        // A path inside a file: the file is named.
        try "x".write(toFile: "\(dir!)/plain", atomically: true, encoding: .utf8)
        assertRefused(try export("ldm", to: "plain/vae.safetensors"), status: 1, mentioning: ["plain is a file, not a folder"])
    }

    func testExportOverwriteReplacesItsOwnPreviousOutputWhole() throws {
        XCTAssertEqual(try export("diffusers", to: "vae", overwrite: false).status, 0)
        let again = try export("diffusers", to: "vae", overwrite: false)
        assertRefused(again, status: 1, mentioning: ["vae already exists", "--overwrite"])
        let tiny = ["--checkpoint", VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors"),
                    "--config", VAEDistBinary.fixture("vae-tiny-g8/config.yaml")]
        let replaced = try VAEDistBinary.run(["export"] + tiny + ["--format", "diffusers", "--output", "vae/", "--overwrite"], in: dir)
        XCTAssertEqual(replaced.status, 0, replaced.output)
        XCTAssertEqual(try contents("\(dir!)/vae"), ["config.json", "diffusion_pytorch_model.safetensors"])
        XCTAssertEqual(try contents(dir), ["vae"], "no temporary or previous folder is left")
        XCTAssertEqual(try ModelSource(checkpoint: "\(dir!)/vae", config: nil).config.normNumGroups, 8)
    }

    func testTrainRefusesAnEmptyOutputDirAndOverwriteOfTheWorkingDirectory() throws {
        let work = "\(dir!)/a/b"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 3)
        for i in 0..<2 {
            try writePNG(RGB8Image(width: 16, height: 16, pixels: (0..<16 * 16 * 3).map { _ in UInt8(rng.next() % 256) }),
                         to: "\(work)/images/img\(i).png")
        }
        try "mine".write(toFile: "\(work)/vae_final.safetensors", atomically: true, encoding: .utf8)
        func train(_ extra: [String]) throws -> CommandResult {
            try VAEDistBinary.run(["train", "--train_dir", "images", "--config_path", VAEDistBinary.fixture("vae-tiny-g8/config.yaml"),
                                   "--img_size", "16", "--batch_size", "2", "--epochs", "1", "--threads", "1"] + extra, in: work)
        }
        // The empty path is checked first: were it not, --save_interval 0 would be refused instead, before any write.
        assertRefused(try train(["--output_dir", "", "--save_interval", "0"]), status: 64, mentioning: ["--output_dir is empty"])
        for output in [".", "..", work, "\(dir!)/a"] {
            assertRefused(try train(["--output_dir", output, "--overwrite", "--save_interval", "0"]), status: 64,
                          mentioning: ["--overwrite", "--output_dir '\(output)'"])
        }
        XCTAssertEqual(try contents(work), ["images", "vae_final.safetensors"])
        XCTAssertEqual(try String(contentsOfFile: "\(work)/vae_final.safetensors", encoding: .utf8), "mine")
        // An output directory that is a FIFO is named as one.
        XCTAssertEqual(mkfifo("\(work)/pipe", 0o644), 0)
        assertRefused(try train(["--output_dir", "pipe"]), status: 1,
                      mentioning: ["cannot create output directory pipe: a FIFO (named pipe) of that name exists"])
    }

    func testEveryOutputFlagRefusesAnEmptyPath() throws {
        let image = VAEDistBinary.fixture("images-64/astronaut_rgb8.png")
        // synth-data and make-pairs get a second invalid flag checked after the output: without the check, that
        // one is refused instead, still before anything is written ("" + "/train" would be a folder at the root).
        let cases: [[String]] = [
            ["synth-data", "--output", "", "--img_size", "5"],
            // Weights that do not exist: without the check these end before writing anything.
            ["reconstruct", "--checkpoint", "missing.safetensors", "--output", "", image],
            ["analyze", "--img1", image, "--img2", image, "--checkpoint", "missing.safetensors", "--output", ""],
            ["make-pairs", "--images", dir, "--output", "", "--patch", "1"],
        ]
        for args in cases {
            let r = try VAEDistBinary.run(args, in: dir)
            XCTAssertEqual(r.status, 64, r.output)
            assertMentions(r.stderr, ["--output is empty"])
        }
        XCTAssertEqual(try contents(dir), [])
    }

    /// A read-only file system is reported as one, not as "permission denied". Needs a mount namespace (root with
    /// unshare), where a read-only tmpfs is mounted over a folder of this test; skipped elsewhere.
    func testAReadOnlyFileSystemIsSaidInWords() throws {
        let mountPoint = "\(dir!)/ro"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o ro tmpfs \"$0\"", mountPoint]
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        try XCTSkipUnless(probe.terminationStatus == 0, "no mount namespace here (unshare -m as root): no read-only file system to write to")
        let script = "mount -t tmpfs -o ro tmpfs \"$0\" && exec \"$1\" train --train_dir \"$0\" --output_dir \"$0/out\" --epochs 1"
        let r = try VAEDistBinary.runScriptInline(script, [mountPoint, VAEDistBinary.path])
        XCTAssertEqual(r.status, 1, r.output)
        assertMentions(r.stderr, ["cannot create output directory \(mountPoint)/out", "read-only file system"])
        XCTAssertFalse(r.stderr.contains("permission denied"), r.stderr)
    }
}

extension VAEDistBinary {
    /// Runs `sh -c script args…` in a new mount namespace (`unshare -m`), for cases that need a mount of their own.
    static func runScriptInline(_ script: String, _ args: [String]) throws -> CommandResult {
        try launch("/usr/bin/env", ["unshare", "-m", "sh", "-c", script] + args, environment: [:]).finish()
    }
}
