import Foundation
import VAECore
import VAEFormats
import VAETraining
import XCTest

/// Seeded mutations of a real checkpoint's metadata (its JSON fields as text, and the header's bytes), through
/// everything that reads a checkpoint before training: the directory scan of `--resume auto`, `TrainingCheckpoint.read`
/// with its validation, and the resume checks against the options and data. Every mutant must be accepted or
/// refused with a thrown error; a crash or a hang fails the run.
final class CheckpointFuzzTests: XCTestCase {
    var dir: String!
    /// The metadata of a real checkpoint of the tiny model, mid-epoch (epoch 1 of 5 images at batch 2, step 1).
    var metadata: [String: String] = [:]

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "checkpoint-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(dir!)/checkpoints", withIntermediateDirectories: true)
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")))
        var options = TrainingOptions(trainDir: dir)
        options.batchSize = 2
        options.imgSize = 16
        options.dataset = "5 images, names and sizes hash 1f"
        var position = TrainingPosition()
        (position.epoch, position.step, position.samples, position.totalSum) = (1, 1, 2, 0.5)
        position.history = [try JSONDecoder().decode(EpochRecord.self, from: Data("""
            {"epoch": 1, "total_loss": 1, "recon_loss": 0.9, "kl_loss": 0.1, "lr": 1e-4, "seconds": 2,
             "images_per_second": 2.5, "comm_share": 0.1}
            """.utf8))]
        let optimizer = Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4)
        try optimizer.restore(step: 4, saved: optimizer.state)
        let real = "\(dir!)/real.safetensors"
        try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: position, options: options, runID: "fuzz-run", to: real)
        metadata = try SafeTensors.readMetadata(path: real)
        // The unmutated metadata passes every check: the mutants start from a valid checkpoint.
        XCTAssertEqual(try exercise(small(metadata)), true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// The bytes of a checkpoint file with this metadata and one small tensor, made in memory (the checks read only
    /// the metadata; small files written without fsync keep thousands of mutants fast).
    func small(_ metadata: [String: String]) throws -> [UInt8] {
        let header: [String: Any] = ["__metadata__": metadata,
                                     "decoder.conv_out.bias": ["dtype": "F32", "shape": [3], "data_offsets": [0, 12]]]
        let json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        let length = (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) }
        let data = [Float(0.1), 0.2, 0.3].flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
        return length + json + data
    }

    /// Runs the mutant through the scan, the read and the resume checks; true if it was accepted throughout.
    @discardableResult
    func exercise(_ bytes: [UInt8]) throws -> Bool {
        let path = "\(dir!)/checkpoints/vae_epoch_1_step_1.safetensors"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        _ = TrainingCheckpoint.candidates(in: dir)
        do {
            let contents = try TrainingCheckpoint.read(path: path)
            var given = contents.options
            given.epochs = max(given.epochs, contents.position.epoch)
            _ = try TrainingCheckpointValidation.checkResume(contents, path: path, given: given, imageCount: 5)
            return true
        } catch is VAEDistError {
            return false
        }
    }

    func testMutatedMetadataFieldsAreAcceptedOrRefusedWithAnError() throws {
        var mutator = FuzzMutator(seed: 90)
        let vocabulary = ["-1", "-5", "0", "1e308", "-1e308", "NaN", "null", "[]", "{}", "\"\"", "9223372036854775807",
                          "-9223372036854775808", "18446744073709551616", "\"step\":-1,", "\"epoch\":-5,", "\"adamStep\":99,",
                          "\"history\":[],", "\"history\":[{\"epoch\":0}],", "\"batch_size\":0,", "\"img_size\":-16,", "true", ","]
        let keys = metadata.keys.sorted()
        var accepted = 0
        let iterations = FuzzMutator.iterations(1000)
        for i in 0..<iterations {
            var mutant = metadata
            let key = keys[i % keys.count]
            mutant[key] = mutator.mutate(mutant[key]!, vocabulary: vocabulary)
            if try exercise(small(mutant)) { accepted += 1 }
        }
        // Most mutants break the JSON or a bound; some (a changed loss sum, a renamed run) are still valid.
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThan(accepted, iterations)
    }

    func testMutatedHeaderBytesAreAcceptedOrRefusedWithAnError() throws {
        var mutator = FuzzMutator(seed: 91)
        let original = try small(metadata)
        for _ in 0..<FuzzMutator.iterations(1000) {
            try exercise(mutator.mutate(original))
        }
    }
}
