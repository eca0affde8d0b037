import Foundation
@testable import VAEFormats
import VAECore
import XCTest

/// The torch.save writer, read back by our own reader (torch itself reads it in scripts/check-seed-checkpoints.sh):
/// values, tensors bit for bit, torch's records and its 64-byte storage alignment, zip64 past the 32-bit limits.
final class TorchSaveTests: TemporaryDirectoryTestCase {
    /// Floats whose bits a careless conversion would change: signed zero, subnormal, extremes, NaN payload.
    static let awkward: [Float] = [0, -0.0, 1, -1.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity,
                                   Float(bitPattern: 0x7FC0_1234), 1e-8, 3.1415927, -2.5e-38, 65504]

    static func sample() -> (TorchSaveValue, weights: [(String, [Int], [Float])]) {
        var rng = SplitMix64(seed: 3)
        let weights: [(String, [Int], [Float])] = [
            ("encoder.conv_in.weight", [4, 3, 3, 3], (0..<108).map { _ in Float(rng.nextUniform() * 2 - 1) }),
            ("encoder.conv_in.bias", [4], Array(Self.awkward[0..<4])),
            ("quant_conv.weight", [2, 3, 1, 1], Array(Self.awkward[4..<10])),
            ("empty", [0, 5], []),
        ]
        let state: TorchSaveValue = .orderedDict(weights.map { ($0.0, .tensor(TorchSaveTensor(shape: $0.1, values: $0.2))) })
        let value: TorchSaveValue = .dict([
            ("epoch", .int(50)),
            ("model_state_dict", state),
            ("optimizer_state_dict", .dict([
                ("state", .dict([(key: .int(0), value: .dict([("step", .tensor(.scalar(2))),
                                                               ("exp_avg", .tensor(TorchSaveTensor(shape: [2, 2], values: [1, 2, 3, 4])))]))])),
                ("param_groups", .list([.dict([("lr", .float(1e-4)), ("betas", .tuple([.float(0.9), .float(0.999)])),
                                               ("weight_decay", .int(0)), ("foreach", .none), ("amsgrad", .bool(false)),
                                               ("fused", .bool(true)), ("params", .list((0..<1500).map { .int($0) }))])])),
            ])),
            ("loss", .float(0.123456789012345)),
            ("ints", .list([-1, 255, 256, 65535, 65536, -2_147_483_648, 2_147_483_647, 2_147_483_648, -2_147_483_649,
                            Int.max, Int.min, 1 << 40].map { .int($0) })),
            ("long_tuple", .tuple([.int(1), .string("two"), .float(3), .none, .bool(true)])),
            ("text", .string("ünïcødé ✓ \u{1F600}")),
            ("empty", .dict([(key: TorchSaveValue, value: TorchSaveValue)]())),
        ])
        return (value, weights)
    }

    func testRoundTripThroughOurReaderGivesEveryValueAndTensorBitForBit() throws {
        let (value, weights) = Self.sample()
        let path = "\(dir!)/vae_epoch_50.pt"
        try TorchSave.write(value, to: path)

        let state = try TorchCheckpoint.read(path: path) { _ in true }
        XCTAssertEqual(state.location, "model_state_dict")
        for (name, shape, values) in weights {
            XCTAssertEqual(state.tensors[name]?.shape, shape, name)
            XCTAssertEqual(state.tensors[name]?.values.map(\.bitPattern), values.map(\.bitPattern), name)
        }

        let root = try TorchDocument(path: path).root
        XCTAssertEqual(root.items?.map { $0.key.string }, ["epoch", "model_state_dict", "optimizer_state_dict", "loss", "ints",
                                                           "long_tuple", "text", "empty"])
        XCTAssertEqual(root["model_state_dict"]?.items?.compactMap(\.key.string), weights.map(\.0), "insertion order kept")
        XCTAssertEqual(root["epoch"]?.int, 50)
        XCTAssertEqual(root["loss"]?.number?.bitPattern, 0.123456789012345.bitPattern)
        XCTAssertEqual(root["ints"]?.elements?.map(\.int), [-1, 255, 256, 65535, 65536, -2_147_483_648, 2_147_483_647,
                                                            2_147_483_648, -2_147_483_649, Int.max, Int.min, 1 << 40])
        let tuple = try XCTUnwrap(root["long_tuple"]?.elements)
        XCTAssertEqual(tuple.count, 5)
        XCTAssertEqual(tuple[1].string, "two")
        XCTAssertEqual(tuple[2].number, 3)
        XCTAssertTrue(tuple[3].isNone)
        XCTAssertEqual(tuple[4].bool, true)
        XCTAssertEqual(root["text"]?.string, "ünïcødé ✓ \u{1F600}")
        XCTAssertEqual(root["empty"]?.items?.count, 0)

        let optimizer = try XCTUnwrap(root["optimizer_state_dict"])
        let first = try XCTUnwrap(optimizer["state"]?.items?.first)
        XCTAssertEqual(first.key.int, 0)
        let step = try XCTUnwrap(first.value["step"]).tensor(name: "step")
        XCTAssertEqual(step.shape, [])
        XCTAssertEqual(step.values, [2])
        XCTAssertEqual(try first.value["exp_avg"]?.tensor(name: "exp_avg").values, [1, 2, 3, 4])
        let group = try XCTUnwrap(optimizer["param_groups"]?.elements?.first)
        XCTAssertEqual(group["lr"]?.number, 1e-4)
        XCTAssertEqual(group["betas"]?.elements?.map(\.number), [0.9, 0.999])
        XCTAssertEqual(group["weight_decay"]?.int, 0)
        XCTAssertTrue(group["foreach"]?.isNone ?? false)
        XCTAssertEqual(group["amsgrad"]?.bool, false)
        XCTAssertEqual(group["fused"]?.bool, true)
        XCTAssertEqual(group["params"]?.elements?.map(\.int), (0..<1500).map { $0 }, "more items than one pickle batch")
    }

    func testTorchsRecordsAndSixtyFourByteAlignedStorages() throws {
        let path = "\(dir!)/x.pt"
        try TorchSave.write(Self.sample().0, to: path)
        let archive = try ZipArchive(file: RandomAccessFile(path: path))
        let storages = (0..<6).map { "archive/data/\($0)" }
        XCTAssertEqual(Set(archive.entries.keys), Set(["archive/data.pkl", "archive/.format_version", "archive/.storage_alignment",
                                                       "archive/byteorder", "archive/version", "archive/.data/serialization_id"]
                                                      + storages))
        func text(_ name: String) throws -> String { String(decoding: try archive.read(archive.entry("archive/" + name)!), as: UTF8.self) }
        XCTAssertEqual(try text("byteorder"), "little")
        XCTAssertEqual(try text("version"), "3\n")
        XCTAssertEqual(try text(".format_version"), "1")
        XCTAssertEqual(try text(".storage_alignment"), "64")
        XCTAssertEqual(try text(".data/serialization_id").count, 40)
        XCTAssertTrue(try text(".data/serialization_id").allSatisfy(\.isNumber))
        for name in storages + ["archive/data.pkl"] {
            let entry = try XCTUnwrap(archive.entry(name))
            XCTAssertEqual(try archive.dataRange(of: entry).lowerBound % 64, 0, name)
            _ = try archive.read(entry)   // its CRC-32 checks
        }
        // The storages in the order of the tensors in the pickle, float32 little-endian.
        let bias = try archive.read(archive.entry("archive/data/1")!)
        XCTAssertEqual(bias, Self.awkward[0..<4].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        XCTAssertEqual(try archive.read(archive.entry("archive/data/3")!).count, 0, "an empty tensor has an empty storage")
        // The same value gives the same file.
        try TorchSave.write(Self.sample().0, to: "\(dir!)/y.pt")
        XCTAssertEqual(FileManager.default.contents(atPath: path), FileManager.default.contents(atPath: "\(dir!)/y.pt"))
    }

    func testZip64FieldsPastTheLimitReadBack() throws {
        let (value, weights) = Self.sample()
        let path = "\(dir!)/zip64.pt"
        // Every offset past 300 bytes and every entry of 300 bytes or more takes zip64 fields, as past 4 GiB.
        try TorchSave.write(value, to: path, zip64Limit: 300)
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        XCTAssertNotNil(bytes.range(of: Data([0x50, 0x4B, 0x06, 0x06])), "a zip64 end record")
        let state = try TorchCheckpoint.read(path: path) { _ in true }
        for (name, _, values) in weights {
            XCTAssertEqual(state.tensors[name]?.values.map(\.bitPattern), values.map(\.bitPattern), name)
        }
        let archive = try ZipArchive(file: RandomAccessFile(path: path))
        for entry in archive.entries.values where entry.name.contains("/data/") {
            XCTAssertEqual(try archive.dataRange(of: entry).lowerBound % 64, 0, entry.name)
        }
        XCTAssertEqual(try TorchDocument(path: path).root["epoch"]?.int, 50)
    }

    func testATensorOfAModelIsWrittenAsItIsThenAndAFIFOIsRefused() throws {
        let tensor = Tensor(shape: [3], values: [1, 2, 3])
        let value: TorchSaveValue = .orderedDict([("w", .tensor(TorchSaveTensor(tensor)))])
        tensor[1] = 7
        try TorchSave.write(value, to: "\(dir!)/t.pt")
        XCTAssertEqual(try TorchCheckpoint.read(path: "\(dir!)/t.pt") { _ in true }.tensors["w"]?.values, [1, 7, 3])
        XCTAssertEqual(mkfifo("\(dir!)/fifo.pt", 0o644), 0)
        XCTAssertThrowsError(try TorchSave.write(value, to: "\(dir!)/fifo.pt")) { error in
            XCTAssertTrue("\(error)".contains("fifo.pt"), "\(error)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    // MARK: fuzz

    /// The original tool's layout, small: three parameters, Adam after two steps, vae-dist's run state beside.
    static func trainingCheckpoint(at path: String) throws {
        let shapes = [[2, 3], [3], [1, 1, 2, 2]]
        var rng = SplitMix64(seed: 5)
        func tensor(_ shape: [Int]) -> TorchSaveTensor {
            TorchSaveTensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float(rng.nextNormal()) })
        }
        let weights = shapes.enumerated().map { (name: "p\($0.offset)", tensor: tensor($0.element)) }
        var group = TorchParamGroup(kind: .adam, lr: 1e-4)
        group.weightDecay = 0.01
        let state = TorchOptimizerState(group: group, step: 2, tensors: ["exp_avg": shapes.map(tensor), "exp_avg_sq": shapes.map(tensor)],
                                        parameterCount: shapes.count)
        try TorchTrainingCheckpoint.write(epoch: 3, weights: weights, optimizer: state, loss: 0.5,
                                          metadata: ["format": "vae-dist-checkpoint-1", "epoch": "3"], to: path)
    }

    func testMutatedTrainingCheckpointsAreReadOrRefusedWithoutCrashing() throws {
        let path = "\(dir!)/original.pt"
        try Self.trainingCheckpoint(at: path)
        let read = try TorchTrainingCheckpoint.read(path: path)
        XCTAssertEqual(read.weights.map(\.name), ["p0", "p1", "p2"])
        XCTAssertEqual(read.step, 2)
        XCTAssertEqual(read.group.weightDecay, 0.01)
        XCTAssertEqual(read.metadata?["epoch"], "3")

        var mutator = FuzzMutator(seed: 21)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let archive = try ZipArchive(file: RandomAccessFile(path: path))
        var files = try archive.entries.values.sorted { $0.localHeaderOffset < $1.localHeaderOffset }.map { ($0.name, try archive.read($0)) }
        let pickleAt = try XCTUnwrap(files.firstIndex { $0.0.hasSuffix("/data.pkl") })
        let pickle = files[pickleAt].1
        var refused = 0, total = 0
        for round in 0..<FuzzMutator.iterations(300) {
            // Half whole-file mutations (most stop at the zip or the CRC), half of the pickle re-zipped with a valid
            // CRC, which reach the unpickler and the layout's checks.
            let mutant: [UInt8]
            if round % 2 == 0 {
                mutant = mutator.mutate(bytes)
            } else {
                files[pickleAt].1 = mutator.mutate(pickle)
                mutant = StoredZip.archive(files)
            }
            let file = "\(dir!)/mutant.pt"
            try Data(mutant).write(to: URL(fileURLWithPath: file))
            total += 1
            _ = try? TorchTrainingCheckpoint.readMetadata(path: file)
            do { _ = try TorchTrainingCheckpoint.read(path: file) } catch { refused += 1 }
        }
        XCTAssertGreaterThan(refused, total / 4, "most mutants should be refused: the reader must check what it reads")
    }
}

