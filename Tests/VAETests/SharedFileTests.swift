import Foundation
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
@testable import VAETraining
import XCTest

/// Rank 0 reads the files that define a run and every rank receives its bytes (`Replicas/SharedFile.swift`):
/// exactly rank 0's bytes, in pieces, checked; the other ranks never open the file.
final class SharedFileReplicasTests: TemporaryDirectoryTestCase {
    /// Reference values of the xxHash library (python-xxhash 3.x) for bytes (31·i + 7) mod 256, which cross every
    /// branch: under 4, 4–7, 8–31 and 32+ bytes, with tails of each kind.
    func testXXH64MatchesTheReferenceLibrary() {
        let expected: [(Int, UInt64)] = [(0, 0xef46db3751d8e999), (1, 0xa96c7f0ce858bbb7), (3, 0x56e6957632a487f9),
                                         (4, 0xc60d15b1e3ff8f04), (7, 0xafbefc3d6c6f9a8e), (8, 0x3da5c7aa269683e0),
                                         (31, 0x4a74f3a1a39ad4a1), (32, 0x8d57d6a4671cc43d), (33, 0x62c9fd21ed857664),
                                         (63, 0x5c320a0d2707057f), (64, 0x7bbabbc45729d17e), (100, 0xefa0ad2d3e70c151),
                                         (1000, 0x99594f4828043d35)]
        for (count, value) in expected {
            let bytes = (0..<count).map { UInt8(($0 * 31 + 7) % 256) }
            XCTAssertEqual(XXH64.hex(XXH64.hash(bytes)), XXH64.hex(value), "\(count) bytes")
        }
        XCTAssertEqual(XXH64.hash(Array("abc".utf8)), 0x44bc2cf5ad770999)
    }

    /// Pieces of 7 bytes for a 1000-byte file, and an empty file: every rank gets rank 0's bytes; only rank 0 reads.
    func testEveryRankReceivesRankZerosBytesInPiecesAndOnlyRankZeroReads() throws {
        for count in [1000, 0, 7] {
            let content = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }
            let logged = LogLines()
            let results = ThreadReplica.run(size: 3) { replica in
                try replica.fromRoot("f.bin", chunkBytes: 7, log: { logged.append($0) }) {
                    XCTAssertEqual(replica.rank, 0, "only rank 0 produces the bytes")
                    return content
                }
            }
            for result in results { XCTAssertEqual(try result.get(), content, "\(count) bytes") }
            XCTAssertEqual(logged.lines, ["f.bin: \(count) bytes read on rank 0, sent to 2 ranks (XXH64 \(XXH64.hex(XXH64.hash(content))) verified)"])
        }
        let path = "\(dir!)/weights.bin"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        let results = ThreadReplica.run(size: 2) { replica in
            try replica.rootFile(path, what: "--init_weights \(path)", log: { _ in }) { file in
                guard replica.rank == 0 else { throw VAEDistError("rank \(replica.rank) opened \(file)") }
                return try readRegularFile(file)
            }
        }
        for result in results { XCTAssertEqual(try result.get(), [1, 2, 3]) }
        XCTAssertEqual(try SingleReplica().rootFile(path, what: "w", log: { _ in XCTFail("nothing is sent at one rank") }), [1, 2, 3])
    }

    /// Rank 0 cannot read the file: every rank fails with its message, which names the file.
    func testRankZerosReadFailureIsEveryRanks() {
        let missing = "\(dir!)/checkpoints/vae_epoch_1.safetensors"
        let results = ThreadReplica.run(size: 3) { replica in
            try replica.rootFile(missing, what: "checkpoint", log: { _ in })
        }
        for result in results {
            XCTAssertThrowsError(try result.get()) { error in
                XCTAssertTrue(error is FailureOnEveryReplica, "\(error)")
                XCTAssertTrue("\(error)".contains("\(missing): cannot read the file"), "\(error)")
            }
        }
    }

    /// A copy damaged on the way to rank 2 is caught by its checksum, and every rank stops naming rank 2.
    func testADamagedCopyStopsEveryRank() {
        let content = (0..<300).map { UInt8($0 % 251) }
        let results = ThreadReplica.run(size: 3) { replica in
            try DamagingReplica(replica, damagedRank: 2).fromRoot("w", chunkBytes: 100, log: { _ in }) { content }
        }
        for result in results {
            XCTAssertThrowsError(try result.get()) { error in
                XCTAssertTrue(error is FailureOnEveryReplica, "\(error)")
                XCTAssertTrue("\(error)".contains("the copy that rank(s) 2 received from rank 0 does not match its checksum"), "\(error)")
            }
        }
    }

    /// The model rank 0 decides (config, naming, where the config came from) and the weights it reads arrive on every
    /// rank: safetensors with --config, a PyTorch checkpoint, a vae-dist checkpoint with its stored config.
    func testTheModelRankZeroReadsLoadsAlikeOnEveryRank() throws {
        let tinyYAML = Fixtures.path("vae-tiny-g8/config.yaml")
        let checkpointPath = "\(dir!)/stored.safetensors"
        let stored = AutoencoderKL(try ModelSource.loadConfig(path: tinyYAML))
        stored.initialize(seed: 3)
        try CheckpointMetadata.saveWeights(stored.weightsFile(), config: stored.config, to: checkpointPath)
        let cases: [(checkpoint: String?, config: String?)] = [
            (Fixtures.path("vae-tiny-g8/weights.ldm.safetensors"), tinyYAML),
            (Fixtures.path("torch-checkpoints/sd_style.ckpt"), tinyYAML),
            (checkpointPath, nil),
            (nil, tinyYAML),
        ]
        for (checkpoint, config) in cases {
            let direct = try ModelSource(checkpoint: checkpoint, config: config)
            let model = AutoencoderKL(direct.config)
            let line = direct.weights == nil ? nil : try direct.loadWeights(into: model)
            let expected = model.namedParameters.map { $0.parameter.value.array.map(\.bitPattern) }
            let results = ThreadReplica.run(size: 3) { replica -> (String?, String, String, [[UInt32]]) in
                let shared = try replica.modelSource(checkpoint: checkpoint, option: "--checkpoint", config: config, log: { _ in })
                let model = AutoencoderKL(shared.source.config)
                let line = try shared.loadWeights(into: model)
                return (line, shared.source.configOrigin.description, shared.source.config.yamlDescription,
                        shared.weights == nil ? [] : model.namedParameters.map { $0.parameter.value.array.map(\.bitPattern) })
            }
            for result in results {
                let (sharedLine, origin, description, parameters) = try result.get()
                XCTAssertEqual(sharedLine, line, "\(checkpoint ?? "no weights")")
                XCTAssertEqual(origin, direct.configOrigin.description)
                XCTAssertEqual(description, direct.config.yamlDescription)
                if line != nil { XCTAssertEqual(parameters, expected, "\(checkpoint ?? "")") }
            }
        }
    }

    /// A training checkpoint parsed from the bytes rank 0 sent is the one read from the file, in both formats
    /// (.safetensors, and the original tool's .pt layout with vae-dist's run state).
    func testATrainingCheckpointReadFromBytesEqualsTheFile() throws {
        let model = AutoencoderKL(try ModelSource.loadConfig(path: Fixtures.path("vae-tiny-g8/config.yaml")))
        model.initialize(seed: 1)
        let optimizer = Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-3, settings: OptimizerSettings())
        var position = TrainingPosition()
        position.step = 1
        for suffix in ["safetensors", "pt"] {
            let path = "\(dir!)/vae_epoch_1.\(suffix)"
            try TrainingCheckpoint.save(model: model, optimizer: optimizer, position: position, options: TrainingOptions(trainDir: "t"),
                                        runID: "run-1", to: path)
            let fromFile = try TrainingCheckpoint.read(path: path)
            let fromBytes = try TrainingCheckpoint.read(bytes: try readRegularFile(path), path: path)
            XCTAssertEqual(fromBytes.runID, "run-1", suffix)
            XCTAssertEqual(fromBytes.position, fromFile.position, suffix)
            XCTAssertEqual(fromBytes.options, fromFile.options, suffix)
            XCTAssertEqual(fromBytes.config, fromFile.config, suffix)
            XCTAssertEqual(fromBytes.file.names, fromFile.file.names, suffix)
            for name in fromFile.file.names { XCTAssertEqual(fromBytes.file[name]?.values, fromFile.file[name]?.values, name) }
            XCTAssertThrowsError(try TrainingCheckpoint.read(bytes: Array(try readRegularFile(path).dropLast()), path: path)) { error in
                XCTAssertTrue("\(error)".contains(path), "\(error)")
            }
        }
    }

    /// The original tool's checkpoint parsed from the bytes rank 0 sent is the one read from the file.
    func testAnOriginalToolCheckpointReadFromBytesEqualsTheFile() throws {
        let path = "\(dir!)/vae_epoch_3.pt"
        let model = AutoencoderKL(try ModelSource.loadConfig(path: Fixtures.path("vae-tiny-g8/config.yaml")))
        model.initialize(seed: 2)
        let parameters = model.namedParameters
        try TorchTrainingCheckpoint.write(epoch: 3, weights: parameters.map { ($0.name, TorchSaveTensor($0.parameter.value)) },
                                          optimizer: TorchTrainingState.fresh(parameterCount: parameters.count).optimizer,
                                          loss: 0.5, to: path)
        let fromFile = try OriginalRun.read(path: path).checkpoint
        let fromBytes = try OriginalRun.read(bytes: try readRegularFile(path), path: path).checkpoint
        XCTAssertEqual(fromBytes.epoch, 3)
        XCTAssertEqual(fromBytes.weights.map(\.name), fromFile.weights.map(\.name))
        for (a, b) in zip(fromBytes.weights, fromFile.weights) { XCTAssertEqual(a.entry.values, b.entry.values, a.name) }
        XCTAssertNil(fromBytes.metadata)
    }

    /// Streamed images are read by every rank: a file none can read is listed per rank with its host.
    func testEveryRankSaysWhichFilesItCannotRead() throws {
        let present = "\(dir!)/a.png", missing = "\(dir!)/missing.png"
        try Data([0]).write(to: URL(fileURLWithPath: present))
        let results = ThreadReplica.run(size: 3) { replica in
            try replica.requireEveryRankReads([present, missing], what: "the images", remedy: "Copy them.")
        }
        for result in results {
            XCTAssertThrowsError(try result.get()) { error in
                let text = "\(error)"
                for part in ["the images: every rank reads them where it runs", "rank 1 (host \(localHostName)): 1 of 2 files",
                             "rank 2 (host", "\(missing): cannot read the file", "Copy them."] {
                    XCTAssertTrue(text.contains(part), "'\(part)' in:\n\(text)")
                }
                XCTAssertFalse(text.contains("\(present):"), text)
            }
        }
        let fine = ThreadReplica.run(size: 2) { replica in try replica.requireEveryRankReads([present], what: "x", remedy: "y") }
        for result in fine { XCTAssertNoThrow(try result.get()) }
    }
}

/// Log lines from several replica threads.
private final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

/// A replica whose received broadcasts of bytes arrive with one byte changed on `damagedRank` (a corrupting link).
private final class DamagingReplica: ReplicaGroup {
    let inner: ThreadReplica
    let damagedRank: Int
    init(_ inner: ThreadReplica, damagedRank: Int) { (self.inner, self.damagedRank) = (inner, damagedRank) }
    var rank: Int { inner.rank }
    var size: Int { inner.size }
    func sum(_ values: inout [Double]) { inner.sum(&values) }
    func any(_ flag: Bool) -> Bool { inner.any(flag) }
    func broadcast(_ bytes: inout [UInt8], from root: Int) {
        inner.broadcast(&bytes, from: root)
        if rank == damagedRank && bytes.count == 100 { bytes[50] ^= 0x10 }
    }
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) { inner.broadcast(values, from: root) }
    func gather(_ bytes: [UInt8], to root: Int) -> [[UInt8]]? { inner.gather(bytes, to: root) }
    func bucketSums(_ buckets: [UnsafeMutableBufferPointer<Float>]) -> BucketSums { inner.bucketSums(buckets) }
}
