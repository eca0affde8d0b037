import Foundation
import VAEAnalysis
import VAECore
import VAEFormats
import VAETraining
import XCTest

/// What keeps a run safe from odd inputs and other runs: image files by type and size, checkpoint metadata,
/// output directories owned by one run, resume rules, output names.
final class RunSafetyTests: TemporaryDirectoryTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeNoiseImages(count: 5, side: 16, seed: 4, into: "\(dir!)/images")
    }

    func options(_ output: String = "out", epochs: Int = 2) -> TrainingOptions {
        var o = TrainingOptions(trainDir: "\(dir!)/images")
        o.outputDir = "\(dir!)/\(output)"
        o.batchSize = 2   // 5 images: 3 steps per epoch
        o.epochs = epochs
        o.lr = 1e-3
        o.klWeight = 0.01
        o.imgSize = 16
        o.saveInterval = 1
        o.numRecon = 2
        return o
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        XCTFail("expected an error")
        return ""
    }

    func assertMentions(_ text: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        for part in parts { XCTAssertTrue(text.contains(part), "'\(text)' should mention '\(part)'", file: file, line: line) }
    }

    /// Trains in-process through a RunDirectory, as the train command does; returns the directory's run id.
    @discardableResult
    func train(_ o: TrainingOptions, start: RunStart = .fresh(overwrite: false), arithmetic: ConvolutionArithmetic = .exact,
               log: @escaping (String) -> Void = { _ in }) throws -> String {
        let replicas = SingleReplica()
        let run = try RunDirectory.begin(o.outputDir, start: start, replicas: replicas, log: log)
        let data = try TrainingData.prepare(o, replicas: replicas, log: { _ in })
        let model = AutoencoderKL(config)
        model.arithmetic = arithmetic
        model.initialize(seed: o.seed)
        let trainer = try Trainer(model: model, options: o, data: data, replicas: replicas,
                                  resumeFrom: run.resumeFrom.map { ($0.contents, $0.path) }, runID: run.runID, log: log)
        _ = try withExtendedLifetime(run) { try trainer.run() }
        return run.runID
    }

    // MARK: image files

    func testFIFOsAndDevicesAreRefusedByTypeWithoutOpening() throws {
        XCTAssertEqual(mkfifo("\(dir!)/images/pipe.png", 0o644), 0)
        try FileManager.default.createSymbolicLink(atPath: "\(dir!)/images/zero.png", withDestinationPath: "/dev/zero")
        let started = Date()
        assertMentions(message { _ = try loadImage(path: "\(dir!)/images/pipe.png") }, ["pipe.png", "not a regular file", "FIFO"])
        assertMentions(message { _ = try loadImage(path: "\(dir!)/images/zero.png") }, ["zero.png", "character device"])
        var o = options()
        assertMentions(message { _ = try TrainingData.prepare(o, replicas: SingleReplica(), log: { _ in }) },
                       ["2 of 7 images", "pipe.png", "zero.png", "--skip_bad_images"])
        o.skipBadImages = true
        XCTAssertEqual(try TrainingData.prepare(o, replicas: SingleReplica(), log: { _ in }).train.count, 5)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "refused at once, not read")
    }

    /// A FIFO named as a run's metrics.jsonl was read to keep its records, waiting for a writer forever.
    func testAFIFONamedAsARunsFileIsRefusedWithoutWaiting() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/out", withIntermediateDirectories: true)
        let fifo = "\(dir!)/out/metrics.jsonl"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        // Should the read wait after all, a writer comes after 8 s and closes at once: the test then fails on time.
        Thread.detachNewThread {
            sleep(8)
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let started = Date()
        assertMentions(message { try train(options(epochs: 1)) }, ["cannot write \(fifo): it is a FIFO (named pipe)"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "refused at once, not waited on")
    }

    func testAnImageFileAboveTheSizeCapIsRefusedByItsSize() throws {
        let path = "\(dir!)/images/huge.png"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([0x89, 0x50, 0x4E, 0x47])))
        XCTAssertEqual(truncate(path, 600 << 20), 0)  // sparse: no disk space used
        assertMentions(message { _ = try loadImage(path: path) }, ["huge.png", "512 MB"])
    }

    func testAnUnreadableImageIsNamedOnceInTheFailureList() throws {
        try "not a png".write(toFile: "\(dir!)/images/broken.png", atomically: true, encoding: .utf8)
        let text = message { _ = try TrainingData.prepare(options(), replicas: SingleReplica(), log: { _ in }) }
        XCTAssertEqual(text.components(separatedBy: "broken.png").count - 1, 1, text)
        assertMentions(text, ["not a PNG or JPEG"])
    }

    // MARK: checkpoint metadata

    /// Rewrites one field of a checkpoint's metadata `position` JSON.
    func editPosition(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
        var file = try SafeTensors.read(path: path)
        var position = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(file.metadata["position"]!.utf8)) as? [String: Any])
        edit(&position)
        file.metadata["position"] = String(decoding: try JSONSerialization.data(withJSONObject: position), as: UTF8.self)
        try file.write(path: path)
    }

    func testDamagedPositionsAreRefusedNamingTheFileAndTheField() throws {
        try train(options(epochs: 1))
        let source = "\(dir!)/out/checkpoints/vae_epoch_1.safetensors"
        let cases: [(String, (inout [String: Any]) -> Void, [String])] = [
            ("step", { $0["step"] = -1 }, ["position.step", "-1"]),
            ("epoch", { $0["epoch"] = -5 }, ["position.epoch", "-5"]),
            ("adam", { $0["adamStep"] = -3 }, ["position.adamStep"]),
            ("history", { $0["history"] = [] }, ["position.history", "0 epochs", "1 are complete"]),
            ("record", { p in
                var records = p["history"] as! [[String: Any]]
                records[0]["epoch"] = 7
                p["history"] = records
            }, ["position.history[0].epoch", "7"]),
            ("sum", { $0["totalSum"] = "x" }, ["'position' is unreadable: the field 'totalSum' is not of type Double"]),
            ("missing", { $0["samples"] = nil }, ["'position' is unreadable: the field 'samples' is missing"]),
        ]
        for (name, edit, parts) in cases {
            let path = "\(dir!)/\(name).safetensors"
            try FileManager.default.copyItem(atPath: source, toPath: path)
            try editPosition(path, edit)
            assertMentions(message { _ = try TrainingCheckpoint.read(path: path) }, [path] + parts)
        }
    }

    func testAPositionBeyondTheDataIsRefusedOnResume() throws {
        try train(options(epochs: 1))
        let path = "\(dir!)/out/checkpoints/vae_epoch_1.safetensors"
        try editPosition(path) { $0["step"] = 3; $0["samples"] = 6 }
        let contents = try TrainingCheckpoint.read(path: path)
        assertMentions(message { _ = try TrainingCheckpointValidation.checkResume(contents, path: path, given: contents.options, imageCount: 5) },
                       [path, "position.step", "beyond the 3 steps"])
        try editPosition(path) { $0["step"] = 1; $0["samples"] = 2; $0["adamStep"] = 99 }
        let skewed = try TrainingCheckpoint.read(path: path)
        assertMentions(message { _ = try TrainingCheckpointValidation.checkResume(skewed, path: path, given: skewed.options, imageCount: 5) },
                       ["position.adamStep", "99", "makes 4"])
    }

    // MARK: resume rules

    func testResumeRefusesTrajectoryChangesWithBothValuesAndLogsTheOthers() throws {
        try train(options(epochs: 1))
        let path = "\(dir!)/out/checkpoints/vae_epoch_1.safetensors"
        let contents = try TrainingCheckpoint.read(path: path)
        XCTAssertNotNil(contents.options.dataset)
        var given = contents.options
        given.imgSize = 32
        given.batchSize = 3
        given.seed = 9
        given.dataset = "6 images, names and sizes hash 0"
        assertMentions(message { _ = try contents.options.resumeChanges(given: given, checkpoint: path) },
                       [path, "--img_size: checkpoint 16, now 32", "--batch_size: checkpoint 2, now 3", "--seed: checkpoint 0, now 9",
                        "the data set", "5 images", "6 images"])
        given = contents.options
        given.epochs = 4
        given.lr = 5e-4
        given.cacheImages = false
        let accepted = try contents.options.resumeChanges(given: given, checkpoint: path)
        assertMentions(accepted.joined(separator: "\n"), ["--epochs: checkpoint 1, now 4", "warning", "--lr: checkpoint 0.001, now 0.0005",
                                                          "--cache_images"])
    }

    /// --fast_conv changes a run's results by rounding: checkpoints record the arithmetic, and a resume that changes
    /// it goes on with a warning naming both (a checkpoint from before the field existed is not compared).
    func testCheckpointsRecordTheArithmeticAndAResumeThatChangesItWarns() throws {
        try train(options(epochs: 1))
        let path = "\(dir!)/out/checkpoints/vae_epoch_1.safetensors"
        XCTAssertEqual(try TrainingCheckpoint.read(path: path).options.convolution, "winograd F(2x2, 3x3)")
        var lines: [String] = []
        try train(options(epochs: 2), start: .resumeLatest, arithmetic: .fast, log: { lines.append($0) })
        assertMentions(lines.joined(separator: "\n"), ["warning: resume changes the convolution arithmetic (--fast_conv, --exact_conv)",
                                                        "checkpoint winograd F(2x2, 3x3), now winograd F(4x4, 3x3) (--fast_conv)"])
        XCTAssertEqual(try TrainingCheckpoint.read(path: "\(dir!)/out/vae_final.safetensors").options.convolution,
                       "winograd F(4x4, 3x3) (--fast_conv)")
        var older = try TrainingCheckpoint.read(path: path).options
        older.convolution = nil
        var given = older
        given.convolution = ConvolutionArithmetic.fast.description
        XCTAssertEqual(try older.resumeChanges(given: given, checkpoint: path), [])
    }

    func testTheTrainerRefusesAResumeOnAnotherDataSet() throws {
        try train(options(epochs: 1))
        try writePNG(RGB8Image(width: 16, height: 16), to: "\(dir!)/images/extra.png")
        let text = message { try train(options(epochs: 2), start: .resumeLatest) }
        assertMentions(text, ["the data set", "checkpoint 5 images", "now 6 images"])
    }

    // MARK: output directories

    func testASecondRunIntoALockedDirectoryIsRefusedNamingTheHolder() throws {
        do {
            let first = try RunDirectory.begin("\(dir!)/locked", start: .fresh(overwrite: false), replicas: SingleReplica(), log: { _ in })
            assertMentions(message { _ = try RunDirectory.begin("\(dir!)/locked", start: .fresh(overwrite: false), replicas: SingleReplica(), log: { _ in }) },
                           ["another vae-dist train (pid \(getpid()) on host \(ProcessInfo.processInfo.hostName)", "started", "\(dir!)/locked"])
            withExtendedLifetime(first) {}
        }
        // Released with its holder: the directory is free again.
        XCTAssertNoThrow(try RunDirectory.begin("\(dir!)/locked", start: .resumeLatest, replicas: SingleReplica(), log: { _ in }))
    }

    func testAFreshRunIntoAnotherRunsDirectoryRefusesUnlessOverwrite() throws {
        let o = options(epochs: 1)
        let firstRun = try train(o)
        assertMentions(message { try train(o) }, ["\(dir!)/out", "--resume auto", "--overwrite"])
        var lines: [String] = []
        let secondRun = try train(o, start: .fresh(overwrite: true), log: { lines.append($0) })
        XCTAssertNotEqual(firstRun, secondRun)
        assertMentions(lines.joined(separator: "\n"), ["--overwrite: removed"])
        XCTAssertEqual(try TrainingCheckpoint.read(path: "\(dir!)/out/vae_final.safetensors").runID, secondRun)
        XCTAssertEqual(TrainingCheckpoint.candidates(in: "\(dir!)/out").found.map(\.runID), [secondRun, secondRun])
    }

    /// Outputs only some runs write (averaged and best weights, the held-out list) go with the run they came from.
    func testOverwriteRemovesTheOptionalOutputsOfTheEarlierRun() throws {
        var first = options(epochs: 1)
        first.emaDecay = 0.9
        (first.validation.fraction, first.validation.keepBest) = (0.3, true)
        try train(first)
        let optional = ["vae_final_ema.safetensors", "vae_best.safetensors", "validation_images.txt"]
        for name in optional { XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/out/\(name)"), name) }
        try train(options(epochs: 1), start: .fresh(overwrite: true))
        for name in optional { XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/\(name)"), name) }
        let steps = try String(contentsOfFile: "\(dir!)/out/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(steps.count, 3, "only the new run's steps (5 images, batches of 2)")
    }

    func testResumeAutoFallsBackPastACorruptNewestCheckpointAndKeepsTheRunID() throws {
        let runID = try train(options(epochs: 2))
        // The final weights lose their header; epoch 2 keeps its header (it is still listed) but loses its tensors.
        XCTAssertEqual(truncate("\(dir!)/out/vae_final.safetensors", 1000), 0)
        let epoch2 = "\(dir!)/out/checkpoints/vae_epoch_2.safetensors"
        let headerEnd = try Data(contentsOf: URL(fileURLWithPath: epoch2)).prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) } + 8
        XCTAssertEqual(truncate(epoch2, off_t(headerEnd + 100)), 0)
        var lines: [String] = []
        let run = try RunDirectory.begin("\(dir!)/out", start: .resumeLatest, replicas: SingleReplica(), log: { lines.append($0) })
        XCTAssertEqual(run.resumeFrom?.path, "\(dir!)/out/checkpoints/vae_epoch_1.safetensors")
        XCTAssertEqual(run.runID, runID)
        // Both are found unreadable by the strict header check of the directory scan, each named with its reason.
        assertMentions(lines.joined(separator: "\n"), ["skipping \(dir!)/out/vae_final.safetensors", "header length",
                                                       "skipping \(epoch2)", "outside the 100 data bytes"])
    }

    func testResumeAutoContinuesOnlyTheDirectorysOwnRun() throws {
        try train(options("other", epochs: 2))
        let own = try train(options(epochs: 1))
        // Another run's checkpoint copied in (the old way of mixing runs) is further along, but not ours.
        try FileManager.default.copyItem(atPath: "\(dir!)/other/checkpoints/vae_epoch_2.safetensors",
                                         toPath: "\(dir!)/out/checkpoints/vae_epoch_2.safetensors")
        var lines: [String] = []
        let run = try RunDirectory.begin("\(dir!)/out", start: .resumeLatest, replicas: SingleReplica(), log: { lines.append($0) })
        XCTAssertEqual(run.runID, own)
        XCTAssertEqual(try XCTUnwrap(run.resumeFrom).contents.runID, own)
        XCTAssertNotEqual(run.resumeFrom?.path, "\(dir!)/out/checkpoints/vae_epoch_2.safetensors")
        assertMentions(lines.joined(separator: "\n"), ["written by another run"])
    }

    func testTheLockFileGoesWithTheRunAndAStaleOneIsHarmless() throws {
        let runID = try train(options(epochs: 1))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/.vae-dist.lock"))
        XCTAssertEqual(try String(contentsOfFile: "\(dir!)/out/.vae-dist-run", encoding: .utf8), #"{"run_id":"\#(runID)"}"#)
        // What a crash leaves: a lock file nobody holds, naming a dead process.
        try #"{"run_id":"x","pid":999999,"host":"gone","started":"then"}"#.write(toFile: "\(dir!)/out/.vae-dist.lock", atomically: true, encoding: .utf8)
        XCTAssertEqual(try train(options(epochs: 2), start: .resumeLatest), runID)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/.vae-dist.lock"))
        // Held while the run lives, and refused to a second one meanwhile.
        do {
            let held = try RunDirectory.begin("\(dir!)/out", start: .resumeLatest, replicas: SingleReplica(), log: { _ in })
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/out/.vae-dist.lock"))
            assertMentions(message { _ = try RunDirectory.begin("\(dir!)/out", start: .resumeLatest, replicas: SingleReplica(), log: { _ in }) },
                           ["another vae-dist train (pid \(getpid())"])
            withExtendedLifetime(held) {}
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/.vae-dist.lock"))
    }

    func testAFailedStartRemovesOnlyWhatItCreated() throws {
        var lines: [String] = []
        let run = try RunDirectory.begin("\(dir!)/a/b/out", start: .fresh(overwrite: false), replicas: SingleReplica(), log: { lines.append($0) })
        try FileManager.default.createDirectory(atPath: "\(dir!)/a/b/out/checkpoints", withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: "\(dir!)/a/b/out/metrics.jsonl"))
        run.discardFailedStart(log: { lines.append($0) })
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/a"))
        assertMentions(lines.joined(separator: "\n"), ["removed \(dir!)/a, which this failed start had created"])
        // Anything else found there meanwhile stays, and so does the folder holding it.
        let second = try RunDirectory.begin("\(dir!)/c/out", start: .fresh(overwrite: false), replicas: SingleReplica(), log: { _ in })
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir!)/c/out/notes.txt"))
        second.discardFailedStart(log: { lines.append($0) })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir!)/c/out"), ["notes.txt"])
        // A failure inside begin (a checkpoint that cannot be read) discards the start too.
        assertMentions(message { _ = try RunDirectory.begin("\(dir!)/d", start: .resume(path: "\(dir!)/none.safetensors"),
                                                             replicas: SingleReplica(), log: { _ in }) }, ["none.safetensors"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/d"))
    }

    /// A resume that changes --epochs under a cosine or step schedule says how the rate goes on.
    func testResumingWithAnotherLengthSaysHowTheScheduleContinues() throws {
        var o = options(epochs: 2)
        o.schedule.shape = .cosine
        o.schedule.minLR = 1e-5
        try train(o)
        let path = "\(dir!)/out/checkpoints/vae_epoch_2.safetensors"
        let contents = try TrainingCheckpoint.read(path: path)
        var given = contents.options
        given.epochs = 4
        let lines = try TrainingCheckpointValidation.checkResume(contents, path: path, given: given, imageCount: 5)
        // 3 steps per epoch: the next step is 6 of 12 (cosine over steps 0…11), where the 2-epoch run had ended.
        let next = 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(Double.pi * 6 / 11))
        assertMentions(lines.joined(separator: "\n"), ["resume changes --epochs: checkpoint 2, now 4",
                                                        "warning: --epochs changes from 2 to 4 under --lr_schedule cosine",
                                                        "at step 12 (epoch 4) instead of step 6 (epoch 2)",
                                                        "continues at \(String(format: "%.6g", next)) at the next step (1e-05 as planned)"])
        given.epochs = 2
        XCTAssertFalse(try TrainingCheckpointValidation.checkResume(contents, path: path, given: given, imageCount: 5)
            .contains { $0.contains("warning: --epochs") })
    }

    func testLeftoverTemporaryFilesOfKilledWritesAreRemovedAtStart() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/out/checkpoints", withIntermediateDirectories: true)
        let ours = ["\(dir!)/out/checkpoints/vae_epoch_3.safetensors.tmp-4242", "\(dir!)/out/training_history.json.tmp-17"]
        let notOurs = ["\(dir!)/out/notes.tmp-draft", "\(dir!)/out/data.tmp"]
        for path in ours + notOurs { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1]))) }
        var lines: [String] = []
        _ = try RunDirectory.begin("\(dir!)/out", start: .fresh(overwrite: false), replicas: SingleReplica(), log: { lines.append($0) })
        for path in ours { XCTAssertFalse(FileManager.default.fileExists(atPath: path), path) }
        for path in notOurs { XCTAssertTrue(FileManager.default.fileExists(atPath: path), path) }
        assertMentions(lines.joined(separator: "\n"), ["removed 2 temporary file(s)"])
    }

    func testOutputDirectoryProblemsAreSaidInWords() throws {
        try "x".write(toFile: "\(dir!)/taken", atomically: true, encoding: .utf8)
        let direct = message { _ = try RunDirectory.begin("\(dir!)/taken", start: .fresh(overwrite: false), replicas: SingleReplica(), log: { _ in }) }
        assertMentions(direct, ["cannot create output directory \(dir!)/taken: a file of that name exists"])
        let nested = message { try writeFileAtomically("{}", to: "\(dir!)/taken/sub/history.json") }
        assertMentions(nested, ["cannot create output directory \(dir!)/taken/sub", "\(dir!)/taken is a file, not a directory"])
        for text in [direct, nested] { XCTAssertFalse(text.contains("NSCocoaErrorDomain") || text.contains("UserInfo"), text) }
        let cocoa = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteNoPermission.rawValue,
                            userInfo: [NSFilePathErrorKey: "/x"])
        XCTAssertEqual(fileErrorReason(cocoa), "permission denied")
    }

    // MARK: output names

    func testPairAndImageNamesNeverLeaveTheOutputFolder() throws {
        XCTAssertEqual(outputStem(of: "case_1.png"), "case_1")
        XCTAssertEqual(outputStem(of: "...png"), "...png")
        XCTAssertEqual(outputStem(of: "..png"), "..png")
        XCTAssertEqual(outputStem(of: "dir/.png"), ".png")
        for side in ["positive", "negative"] {
            try FileManager.default.createDirectory(atPath: "\(dir!)/pairs/\(side)", withIntermediateDirectories: true)
            for name in ["...png", "..png", "a.png"] {
                try FileManager.default.copyItem(atPath: "\(dir!)/images/img0.png", toPath: "\(dir!)/pairs/\(side)/\(name)")
            }
        }
        XCTAssertEqual(try PairFolder.scan("\(dir!)/pairs").pairs.map(\.name), ["...png", "..png", "a"])
        XCTAssertEqual(try ReconstructionJob.stems(of: ["/x/...png", "/x/b.jpg"]), ["...png", "b"])
    }

    func testReconstructionWithABadImageWritesNothing() throws {
        try "junk".write(toFile: "\(dir!)/images/junk.png", atomically: true, encoding: .utf8)
        let job = ReconstructionJob(model: AutoencoderKL(config), imageSize: 16, outputDirectory: "\(dir!)/recon")
        assertMentions(message { try job.run(images: ["\(dir!)/images/img0.png", "\(dir!)/images/junk.png"]) },
                       ["junk.png", "nothing was written"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/recon"))
        // An unusable output directory is reported before any image is read (the junk image would fail too).
        try "x".write(toFile: "\(dir!)/file", atomically: true, encoding: .utf8)
        let blocked = ReconstructionJob(model: AutoencoderKL(config), imageSize: 16, outputDirectory: "\(dir!)/file/recon")
        assertMentions(message { try blocked.run(images: ["\(dir!)/images/junk.png"]) },
                       ["cannot create output directory \(dir!)/file/recon: \(dir!)/file is a file, not a directory"])
    }
}
