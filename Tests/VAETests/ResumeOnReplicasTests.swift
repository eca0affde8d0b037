import Foundation
import VAECore
import VAEFormats
@testable import VAEJobs
@testable import VAETraining
import XCTest

/// Resuming with several replicas (`RunDirectory.begin`): rank 0 reads the checkpoint from its file and sends the
/// other ranks its run state alone; they receive the weights and optimizer state with rank 0's model (the trainer
/// broadcasts them at every start), so no rank holds a second copy of the file.
final class ResumeOnReplicasTests: TemporaryDirectoryTestCase {
    let config = { try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")) }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeNoiseImages(count: 5, side: 16, seed: 4, into: "\(dir!)/images")
    }

    func options(_ output: String, epochs: Int, format: SaveFormat = .safetensors) -> TrainingOptions {
        smallRunOptions(in: dir, output: output, epochs: epochs, format: format)
    }

    /// One epoch in-process on one replica, as the train command runs it; the checkpoint's path.
    func checkpoint(_ output: String, format: SaveFormat) throws -> String {
        let o = options(output, epochs: 1, format: format)
        let replicas = SingleReplica()
        let run = try RunDirectory.begin(o.outputDir, start: .fresh(overwrite: false), replicas: replicas, log: { _ in })
        let model = AutoencoderKL(config)
        model.initialize(seed: o.seed)
        let trainer = try Trainer(model: model, options: o, data: try TrainingData.prepare(o, replicas: replicas, log: { _ in }),
                                  replicas: replicas, runID: run.runID)
        _ = try withExtendedLifetime(run) { try trainer.run() }
        return "\(o.outputDir)/checkpoints/vae_epoch_1.\(format == .pt ? "pt" : "safetensors")"
    }

    func testRankZeroHoldsTheCheckpointAndTheOthersItsRunState() throws {
        for format in [SaveFormat.safetensors, .pt] {
            let path = try checkpoint("first-\(format.rawValue)", format: format)
            let direct = try TrainingCheckpoint.read(path: path)
            let tensorBytes = direct.file.names.reduce(0) { $0 + direct.file[$1]!.values.count * 4 }
            let logged = LogLines()
            let output = "\(dir!)/resumed-\(format.rawValue)"
            let results = ThreadReplica.run(size: 3) { replica -> (tensors: Int, position: TrainingPosition, options: TrainingOptions, runID: String?, taken: Bool) in
                let run = try RunDirectory.begin(output, start: .resume(path: path),
                                                 replicas: replica, log: { logged.append($0) })
                let (contents, resumedPath) = try XCTUnwrap(run.takeResumePoint())
                XCTAssertEqual(resumedPath, path)
                return (contents.file.names.count, contents.position, contents.options, contents.runID, run.resumeFrom == nil)
            }
            for (rank, result) in results.enumerated() {
                let r = try result.get()
                XCTAssertEqual(r.tensors, rank == 0 ? direct.file.names.count : 0, "\(format) rank \(rank): tensors")
                XCTAssertEqual(r.position, direct.position, "\(format) rank \(rank)")
                XCTAssertEqual(r.options, direct.options, "\(format) rank \(rank)")
                XCTAssertEqual(r.runID, direct.runID, "\(format) rank \(rank)")
                XCTAssertTrue(r.taken, "taking the resume point lets the run directory's copy go")
            }
            // What was sent: no tensor data (the run state is smaller than the file without its tensors).
            let line = try XCTUnwrap(logged.lines.first { $0.hasPrefix("checkpoint \(path) (run state") }, "\(logged.lines)")
            let sent = try XCTUnwrap(line.split(separator: " ").firstIndex(of: "bytes").map { Int(line.split(separator: " ")[$0 - 1])! })
            let fileSize = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            XCTAssertLessThanOrEqual(sent, fileSize - tensorBytes, "\(format): \(line)")
            XCTAssertTrue(line.contains("sent to 2 ranks (XXH64 "), line)
        }
    }

    /// A checkpoint whose tensors rank 0 cannot restore (an optimizer state missing) stops every rank with rank 0's
    /// message: the others, which hold no tensors, do not wait for a broadcast that never comes.
    func testRankZerosRestoreFailureIsEveryRanks() throws {
        let path = try checkpoint("first", format: .safetensors)
        let full = try SafeTensors.read(path: path)
        let dropped = try XCTUnwrap(full.names.first { $0.hasPrefix("optimizer.exp_avg.") })
        var damaged = SafeTensors()
        damaged.metadata = full.metadata
        for name in full.names where name != dropped { damaged.add(name, shape: full[name]!.shape, values: full[name]!.values) }
        let damagedPath = "\(dir!)/damaged.safetensors"
        try damaged.write(path: damagedPath)
        let o = options("resumed", epochs: 2)
        let config = self.config
        let results = ThreadReplica.run(size: 2) { replica in
            let run = try RunDirectory.begin(o.outputDir, start: .resume(path: damagedPath), replicas: replica, log: { _ in })
            let data = try TrainingData.prepare(o, replicas: replica, log: { _ in })
            _ = try Trainer(model: AutoencoderKL(config), options: o, data: data, replicas: replica,
                            resumeFrom: run.takeResumePoint().map { ($0.contents, $0.path) }, runID: run.runID)
        }
        for (rank, result) in results.enumerated() {
            XCTAssertThrowsError(try result.get(), "rank \(rank)") { error in
                XCTAssertTrue(error is FailureOnEveryReplica, "rank \(rank): \(error)")
                XCTAssertTrue("\(error)".contains("optimizer state '\(dropped)' is missing"), "rank \(rank): \(error)")
            }
        }
    }
}
