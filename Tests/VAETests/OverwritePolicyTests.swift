import Foundation
@testable import VAECore
@testable import VAEFormats
@testable import VAETraining
import XCTest

/// What `--overwrite` may replace (issue #21): only a previous output of the same kind, never a user's files,
/// devices, FIFOs, the working directory or a folder holding it; and the replacement appears whole.
final class OverwritePolicyTests: TemporaryDirectoryTestCase {
    private func fixtureModel(_ name: String = "vae-small-g32") throws -> AutoencoderKL {
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("\(name)/config.yaml")))
        try model.loadWeights(path: Fixtures.path("\(name)/weights.ldm.safetensors"))
        return model
    }

    private func message(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do { try body() } catch { return "\(error)" }
        XCTFail("expected an error", file: file, line: line)
        return ""
    }

    private func assertMentions(_ text: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        for part in parts { XCTAssertTrue(text.contains(part), "'\(text)' should mention '\(part)'", file: file, line: line) }
    }

    private func contents(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    // MARK: paths that are never an output

    func testEmptyDotDotDotRootAndFoldersHoldingTheWorkingDirectoryAreRefused() throws {
        let cwd = FileManager.default.currentDirectoryPath
        let parent = (cwd as NSString).deletingLastPathComponent
        for (path, parts) in [("", ["--output is empty"]), (".", ["'.'", "ends in '.'"]), ("..", ["'..'", "ends in '..'"]),
                              ("/", ["'/'", "the root folder"]), ("\(dir!)/x/..", ["ends in '..'"]), ("\(dir!)/.", ["ends in '.'"]),
                              (cwd, ["working directory"]), (cwd + "/", ["working directory"]), (parent, ["working directory"])] {
            assertMentions(message { _ = try checkReplaceableOutputPath(path, flag: "--output") }, parts)
        }
        // Only the path is checked here: nothing is created or removed.
        XCTAssertEqual(try checkReplaceableOutputPath("\(dir!)/out///", flag: "--output"), "\(dir!)/out")
        XCTAssertEqual(try checkReplaceableOutputPath("\(dir!)/new/vae", flag: "--output"), "\(dir!)/new/vae")
        XCTAssertEqual(try contents(dir), [])
        // The export checks the path before anything else, whatever the format.
        for format in ExportFormat.allCases {
            assertMentions(message { _ = try checkExportTarget("..", format: format, overwrite: true) }, ["ends in '..'"])
        }
    }

    // MARK: export

    func testOverwriteReplacesOnlyAPreviousExportOfTheSameFormat() throws {
        let model = try fixtureModel()
        // Devices, FIFOs and symbolic links are never replaced, in either format.
        let fifo = "\(dir!)/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let link = "\(dir!)/link.safetensors"
        try export(model, format: .ldm, to: "\(dir!)/target.safetensors")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "\(dir!)/target.safetensors")
        var targets = [(fifo, "a FIFO (named pipe)"), (link, "a symbolic link")]
        let device = "\(dir!)/null-device"
        if mknod(device, S_IFCHR | 0o644, dev_t(1 << 8 | 3)) == 0 { targets.append((device, "a character device")) }
        for (path, kind) in targets {
            for format in ExportFormat.allCases {
                assertMentions(message { try export(model, format: format, to: path, overwrite: true) },
                               ["--overwrite: \(path) is \(kind)", "previous export"])
            }
            XCTAssertNotEqual(fileModeIfPresent(path).map { $0 & S_IFMT }, S_IFREG, "\(path) was replaced by a file")
        }
        // A folder that holds anything but config.json and weights files, or whose config.json is not a VAE's.
        let folder = "\(dir!)/vae"
        try export(model, format: .diffusers, to: folder)
        try "mine".write(toFile: "\(folder)/README.md", atomically: true, encoding: .utf8)
        assertMentions(message { try export(model, format: .diffusers, to: folder, overwrite: true) }, [folder, "README.md"])
        XCTAssertEqual(try contents(folder), ["README.md", "config.json", "diffusion_pytorch_model.safetensors"])
        try FileManager.default.removeItem(atPath: "\(folder)/README.md")
        try FileManager.default.createDirectory(atPath: "\(folder)/diffusion_pytorch_model.bin", withIntermediateDirectories: false)
        assertMentions(message { try export(model, format: .diffusers, to: folder, overwrite: true) }, ["diffusion_pytorch_model.bin"])
        try FileManager.default.removeItem(atPath: "\(folder)/diffusion_pytorch_model.bin")
        let unet = #"{"_class_name": "UNet2DConditionModel", "block_out_channels": [320]}"#
        try unet.write(toFile: "\(folder)/config.json", atomically: true, encoding: .utf8)
        assertMentions(message { try export(model, format: .diffusers, to: folder, overwrite: true) },
                       ["config.json that is not a diffusers AutoencoderKL config"])
        XCTAssertEqual(try String(contentsOfFile: "\(folder)/config.json", encoding: .utf8), unet)
    }

    func testAReplacedDiffusersFolderAppearsWholeAndLeavesNothingBehind() throws {
        let folder = "\(dir!)/vae"
        try export(try fixtureModel(), format: .diffusers, to: folder)
        // Weights files of another variant belong to a previous export as well, and go with it.
        try FileManager.default.copyItem(atPath: "\(folder)/diffusion_pytorch_model.safetensors",
                                         toPath: "\(folder)/diffusion_pytorch_model.fp16.safetensors")
        var before = stat()
        XCTAssertEqual(stat(folder, &before), 0)
        try export(try fixtureModel("vae-tiny-g8"), format: .diffusers, to: folder, overwrite: true)
        XCTAssertEqual(try contents(folder), ["config.json", "diffusion_pytorch_model.safetensors"])
        XCTAssertEqual(try contents(dir), ["vae"], "no temporary or previous folder is left beside it")
        var after = stat()
        XCTAssertEqual(stat(folder, &after), 0)
        XCTAssertNotEqual(before.st_ino, after.st_ino, "the new folder is put in place, not the old one emptied and refilled")
        XCTAssertEqual(try ModelSource(checkpoint: folder, config: nil).config,
                       try VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")))
        // A refused replacement leaves the previous export exactly as it was.
        let weights = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/diffusion_pytorch_model.safetensors"))
        XCTAssertThrowsError(try export(try fixtureModel("vae-tiny-g8"), format: .ldm, to: folder, overwrite: true))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/diffusion_pytorch_model.safetensors")), weights)
    }

    func testAtomicWritesNeverReplaceADeviceOrAFIFO() throws {
        XCTAssertEqual(mkfifo("\(dir!)/history.json", 0o644), 0)
        assertMentions(message { try writeFileAtomically("{}", to: "\(dir!)/history.json") },
                       ["cannot write \(dir!)/history.json: it is a FIFO (named pipe)"])
        XCTAssertEqual(fileModeIfPresent("\(dir!)/history.json").map { $0 & S_IFMT }, S_IFIFO)
        assertMentions(message { try writeFileAtomically("{}", to: "") }, ["empty path"])
        // A stale temporary name of ours that is a symbolic link is replaced, never written through.
        try "victim".write(toFile: "\(dir!)/victim", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(dir!)/out.json.tmp-\(getpid())", withDestinationPath: "\(dir!)/victim")
        try writeFileAtomically("{}", to: "\(dir!)/out.json")
        XCTAssertEqual(try String(contentsOfFile: "\(dir!)/victim", encoding: .utf8), "victim")
        XCTAssertEqual(try String(contentsOfFile: "\(dir!)/out.json", encoding: .utf8), "{}")
        XCTAssertEqual(try contents(dir), ["history.json", "out.json", "victim"])
    }

    // MARK: train

    func testTrainOverwriteRemovesOnlyWhatARunWrote() throws {
        let out = "\(dir!)/out"
        for folder in ["checkpoints", "reconstructions"] {
            try FileManager.default.createDirectory(atPath: "\(out)/\(folder)", withIntermediateDirectories: true)
        }
        let model = try fixtureModel("vae-tiny-g8")
        let optimizer = Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4)
        for name in ["checkpoints/vae_epoch_1.safetensors", "checkpoints/vae_epoch_1_step_2.safetensors", "vae_final.safetensors"] {
            try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: TrainingPosition(),
                                        options: TrainingOptions(trainDir: "x"), runID: "earlier", to: "\(out)/\(name)")
        }
        let ours = ["reconstructions/recon_epoch_1.png", "training_history.json", "metrics.jsonl"]
        let users = ["checkpoints/pretrained.safetensors", "checkpoints/vae_epoch_final.safetensors",
                     "reconstructions/recon_epoch_1_annotated.png", "notes.txt", "vae_final.safetensors.bak"]
        for name in ours + users { XCTAssertTrue(FileManager.default.createFile(atPath: "\(out)/\(name)", contents: Data([1]))) }
        var lines: [String] = []
        _ = try RunDirectory.begin(out, start: .fresh(overwrite: true), replicas: SingleReplica(), log: { lines.append($0) })
        assertMentions(lines.joined(separator: "\n"), ["--overwrite: removed 6 file(s)"])
        for name in users { XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(name)"), name) }
        for name in ours { XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/\(name)"), name) }
        XCTAssertEqual(try contents("\(out)/checkpoints"), ["pretrained.safetensors", "vae_epoch_final.safetensors"])

        // One of a run's names held by a FIFO is the user's: refused, and nothing is removed.
        let second = "\(dir!)/second"
        try FileManager.default.createDirectory(atPath: "\(second)/checkpoints", withIntermediateDirectories: true)
        try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: TrainingPosition(),
                                    options: TrainingOptions(trainDir: "x"), runID: "earlier", to: "\(second)/vae_final.safetensors")
        XCTAssertEqual(mkfifo("\(second)/training_history.json", 0o644), 0)
        assertMentions(message { _ = try RunDirectory.begin(second, start: .fresh(overwrite: true), replicas: SingleReplica(), log: { _ in }) },
                       ["--overwrite: \(second)/training_history.json is a FIFO (named pipe)"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(second)/vae_final.safetensors"))
        XCTAssertTrue(RunDirectory.isRunFileName("vae_epoch_12_step_340.safetensors", in: "checkpoints"))
        for grid in ["recon_epoch_3.png", "recon_epoch_3.pdf", "val_recon_epoch_3.png", "val_recon_epoch_3.pdf"] {
            XCTAssertTrue(RunDirectory.isRunFileName(grid, in: "reconstructions"), grid)
        }
        for other in ["val_recon_epoch_.png", "val_val_recon_epoch_3.png", "recon_epoch_3.jpg", "recon_epoch_3_val.pdf"] {
            XCTAssertFalse(RunDirectory.isRunFileName(other, in: "reconstructions"), other)
        }
        XCTAssertTrue(RunDirectory.isRunFileName("training_curves.pdf", in: ""))
        XCTAssertFalse(RunDirectory.isRunFileName("vae_epoch_12_step_.safetensors", in: "checkpoints"))
        XCTAssertFalse(RunDirectory.isRunFileName("vae_epoch_١٢.safetensors", in: "checkpoints"))
    }

    func testTrainOverwriteNeverTouchesTheWorkingDirectoryOrAFolderHoldingIt() throws {
        // Run from a folder of this test's own, so that even a failing check could only touch the test's files.
        let previous = FileManager.default.currentDirectoryPath
        try FileManager.default.createDirectory(atPath: "\(dir!)/a/b", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath("\(dir!)/a/b"))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let cwd = FileManager.default.currentDirectoryPath
        for path in [".", cwd, (cwd as NSString).deletingLastPathComponent, "..", ""] {
            let text = message {
                _ = try RunDirectory.begin(path, start: .fresh(overwrite: true), replicas: SingleReplica(), log: { _ in })
            }
            XCTAssertTrue(text.contains("--output_dir"), text)
        }
        XCTAssertEqual(try contents("\(dir!)/a"), ["b"])
        XCTAssertEqual(try contents("\(dir!)/a/b"), [], "the working directory was neither locked nor written")
    }

    // MARK: messages

    func testAReadOnlyFileSystemIsNotCalledPermissionDenied() {
        XCTAssertEqual(errnoReason(EROFS), "read-only file system")
        XCTAssertEqual(errnoReason(EACCES), "permission denied")
        XCTAssertEqual(errnoReason(ENOSPC), "no space left on the device")
        XCTAssertEqual(fileErrorReason(NSError(domain: NSPOSIXErrorDomain, code: Int(EROFS))), "read-only file system")
    }
}
