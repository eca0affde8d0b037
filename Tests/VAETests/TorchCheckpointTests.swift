import Foundation
@testable import VAEFormats
import XCTest

/// The torch.save reader against checkpoints written by PyTorch (tools/make_torch_checkpoints.py) and against
/// hand-built and mutated hostile files.
final class TorchCheckpointTests: TemporaryDirectoryTestCase {
    static func fixture(_ name: String) -> String { Fixtures.path("torch-checkpoints/\(name)") }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = "\(dir!)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertFails(_ path: String, keep: (String) -> Bool = { _ in true }, mentioning parts: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TorchCheckpoint.read(path: path, keep: keep), file: file, line: line) { error in
            let message = "\(error)"
            for part in [path] + parts {
                XCTAssertTrue(message.contains(part), "'\(message)' should mention '\(part)'", file: file, line: line)
            }
        }
    }

    /// Same names, shapes and float bit patterns.
    func assertIdentical(_ tensors: [String: SafeTensors.Entry], _ reference: SafeTensors, renamed: (String) -> String = { $0 },
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(tensors.keys.map(renamed)), Set(reference.names), file: file, line: line)
        for (name, entry) in tensors {
            guard let expected = reference[renamed(name)] else { continue }
            XCTAssertEqual(entry.shape, expected.shape, name, file: file, line: line)
            XCTAssertEqual(entry.values.map(\.bitPattern), expected.values.map(\.bitPattern), name, file: file, line: line)
        }
    }

    var tinyWeights: SafeTensors { get throws { try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors")) } }

    // MARK: checkpoints written by PyTorch

    func testStableDiffusionStyleCheckpointGivesTheFixtureWeightsBitForBit() throws {
        let prefix = "first_stage_model."
        let dict = try TorchCheckpoint.read(path: Self.fixture("sd_style.ckpt")) { $0.hasPrefix(prefix) }
        XCTAssertEqual(dict.location, "state_dict")
        assertIdentical(dict.tensors, try tinyWeights) { String($0.dropFirst(prefix.count)) }
        XCTAssertEqual(dict.skipped, [
            "cond_stage_model.transformer.text_model.embeddings.position_ids", "model_ema.num_updates",
            "model.diffusion_model.input_blocks.0.0.weight", "extra.f64", "extra.f16", "extra.bf16", "extra.transposed",
            "extra.shared_whole", "extra.shared_part", "extra.bool", "extra.int64",
        ])
    }

    func testOriginalToolCheckpointGivesTheModelStateDictAndIgnoresTheOptimizer() throws {
        let dict = try TorchCheckpoint.read(path: Self.fixture("vae_epoch_2.pt")) { _ in true }
        XCTAssertEqual(dict.location, "model_state_dict")
        assertIdentical(dict.tensors, try tinyWeights)   // encoder.conv_in.weight was saved as an nn.Parameter
        XCTAssertEqual(dict.skipped, [])
    }

    func testTopLevelStateDict() throws {
        let dict = try TorchCheckpoint.read(path: Self.fixture("top_level.pt")) { $0 != "quant_conv.bias" }
        XCTAssertEqual(dict.location, "the top level")
        XCTAssertEqual(dict.skipped, ["quant_conv.bias"])
        let weights = try tinyWeights
        var expected = SafeTensors()
        for name in ["decoder.conv_out.bias", "decoder.conv_out.weight"] {
            expected.add(name, shape: weights[name]!.shape, values: weights[name]!.values)
        }
        assertIdentical(dict.tensors, expected)
    }

    func testOtherFloatDtypesStridedViewsAndSharedStoragesDecodeExactly() throws {
        let floats = ["extra.f64", "extra.f16", "extra.bf16", "extra.transposed", "extra.shared_whole", "extra.shared_part"]
        let dict = try TorchCheckpoint.read(path: Self.fixture("sd_style.ckpt")) { floats.contains($0) }
        let expected = try SafeTensors.read(path: Self.fixture("expected.safetensors"))
        assertIdentical(dict.tensors, expected)
        XCTAssertEqual(dict.tensors["extra.transposed"]?.shape, [5, 6])
        XCTAssertEqual(dict.tensors["extra.shared_part"]?.values, Array(dict.tensors["extra.shared_whole"]!.values[10..<22]))
    }

    /// Lightning checkpoints hold the callback class as a dict key and numpy values: data, read as opaque.
    func testLightningCallbackStateBesideTheWeightsIsIgnored() throws {
        let dict = try TorchCheckpoint.read(path: Self.fixture("lightning_style.ckpt")) { _ in true }
        XCTAssertEqual(dict.location, "state_dict")
        let weights = try tinyWeights
        XCTAssertEqual(dict.tensors.count, 2)
        for (name, entry) in dict.tensors {
            XCTAssertEqual(entry.values, weights[String(name.dropFirst("first_stage_model.".count))]?.values, name)
        }
    }

    func testBigEndianCheckpointInAZip64ArchiveWithAnotherFolderName() throws {
        let dict = try TorchCheckpoint.read(path: Self.fixture("big_endian.pt")) { _ in true }
        XCTAssertEqual(dict.location, "the top level")
        assertIdentical(dict.tensors, try SafeTensors.read(path: Self.fixture("big_endian.expected.safetensors")))
    }

    func testKeptIntegerAndBoolTensorsAreErrorsNamingThem() {
        for name in ["extra.int64", "extra.bool", "model_ema.num_updates"] {
            assertFails(Self.fixture("sd_style.ckpt"), keep: { $0 == name }, mentioning: ["'\(name)'", "dtype"])
        }
    }

    // MARK: files that must be refused

    func testPickleCallingAForbiddenGlobalIsRefusedByNameAndNeverRun() {
        let marker = "/tmp/vae-dist-malicious-pickle-ran"   // what the payload would create (see the tool)
        try? FileManager.default.removeItem(atPath: marker)
        assertFails(Self.fixture("malicious.pt"), mentioning: ["posix.system", "[\"payload\"]", "refused"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    func testLegacyFormatExplainsHowToResave() {
        XCTAssertFalse(TorchCheckpoint.isZipArchive(path: Self.fixture("legacy.pt")))
        XCTAssertTrue(TorchCheckpoint.isZipArchive(path: Self.fixture("sd_style.ckpt")))
        assertFails(Self.fixture("legacy.pt"), mentioning: ["legacy", "PyTorch ≥ 1.6", "torch.save(torch.load(\"old.ckpt\", weights_only=False), \"new.ckpt\")"])
    }

    func testCompressedEntriesAreRefused() {
        assertFails(Self.fixture("compressed.pt"), mentioning: ["top_level/data.pkl", "compressed"])
    }

    func testNonCheckpointsAreRefused() throws {
        assertFails(try write(Array("not a checkpoint".utf8), "text.pt"), mentioning: ["zip"])
        assertFails(try write([], "empty.pt"), mentioning: ["zip"])
        assertFails("\(dir!)/missing.pt", mentioning: ["cannot open"])
        XCTAssertFalse(TorchCheckpoint.isZipArchive(path: "\(dir!)/missing.pt"))
    }

    func testEveryTruncationIsAnError() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixture("top_level.pt"))))
        for length in stride(from: 0, to: bytes.count, by: 7) {
            let path = try write(Array(bytes[..<length]), "truncated.pt")
            XCTAssertThrowsError(try TorchCheckpoint.read(path: path) { _ in true }, "length \(length)")
        }
    }

    // MARK: hand-built pickles

    func testHostilePicklesGiveErrorsNotCrashes() throws {
        let storage = [UInt8](repeating: 0, count: 16)  // 4 floats
        let cases: [(String, [UInt8], [String])] = [
            ("deep", [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 200_000) + [0x2E], ["a tuple"]),
            ("long string", [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x41, 0x2E], ["ends early"]),
            ("memo", [0x80, 0x02, 0x6A, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E], ["memo entry"]),
            ("underflow", [0x80, 0x02, 0x73, 0x2E], ["underflows"]),
            ("opcode", [0x80, 0x02, 0x7D, 0x97, 0x2E], ["opcode 0x97"]),
            ("no stop", [0x80, 0x02, 0x7D], ["ends early"]),
            ("stack global", [0x80, 0x04, 0x8C, 0x02] + Array("os".utf8) + [0x8C, 0x06] + Array("system".utf8)
                + [0x93, 0x29, 0x52, 0x2E], ["os.system", "the top level"]),
            ("too long view", Self.statePickle(shape: [5], strides: [1]), ["reaches element 4", "'w'"]),
            ("view past the storage", Self.statePickle(shape: [2], strides: [1], offset: 3), ["reaches element 4"]),
            ("overflowing shape", Self.statePickle(shape: [Int(Int32.max), Int(Int32.max), 4], strides: [0, 0, 0]), ["impossible shape"]),
            ("expanded view", Self.statePickle(shape: [1000], strides: [0]), ["expanded view"]),
            ("huge storage", Self.statePickle(shape: [2], strides: [1], storageCount: Int(Int32.max)), ["storage data/0"]),
            ("negative stride", Self.statePickle(shape: [2], strides: [-1], offset: 2), ["negative"]),
        ]
        for (name, pickle, parts) in cases {
            let path = try write(StoredZip.torchArchive(pickle: pickle, storages: ["0": storage]), "\(name).pt")
            assertFails(path, mentioning: parts)
        }
        let good = try write(StoredZip.torchArchive(pickle: Self.statePickle(shape: [2, 2], strides: [1, 2]),
                                                    storages: ["0": [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64]]), "good.pt")
        XCTAssertEqual(try TorchCheckpoint.read(path: good) { _ in true }.tensors["w"]?.values, [1, 3, 2, 4])
        let badOrder = try write(StoredZip.torchArchive(pickle: Self.statePickle(shape: [1], strides: [1]), storages: ["0": storage],
                                                        byteorder: "middle"), "order.pt")
        assertFails(badOrder, mentioning: ["byteorder", "middle"])
        let missing = try write(StoredZip.torchArchive(pickle: Self.statePickle(shape: [1], strides: [1]), storages: [:]), "missing.pt")
        assertFails(missing, mentioning: ["data/0", "lacks"])
    }

    func testZip64DirectoryAndArchivesNotWrittenByTorch() throws {
        let floats: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64]   // 1, 2, 3, 4
        let pickle = Self.statePickle(shape: [4], strides: [1])
        let zip64 = try write(StoredZip.torchArchive(pickle: pickle, storages: ["0": floats], zip64: true), "zip64.pt")
        XCTAssertEqual(try TorchCheckpoint.read(path: zip64) { _ in true }.tensors["w"]?.values, [1, 2, 3, 4])
        let noPickle = try write(StoredZip.archive([("archive/data/0", floats)]), "nopickle.pt")
        assertFails(noPickle, mentioning: ["data.pkl", "not written by torch.save"])
        let twoPickles = try write(StoredZip.archive([("a/data.pkl", pickle), ("b/data.pkl", pickle)]), "two.pt")
        assertFails(twoPickles, mentioning: ["a/data.pkl, b/data.pkl"])
        var corrupt = StoredZip.torchArchive(pickle: pickle, storages: ["0": floats])
        corrupt[30 + "archive/data.pkl".utf8.count + 5] ^= 0xFF   // inside data.pkl: the CRC no longer matches
        assertFails(try write(corrupt, "crc.pt"), mentioning: ["archive/data.pkl", "CRC-32"])
    }

    /// A size-1 dimension may carry any stride (torch never steps along it): such views decode to their values
    /// instead of overflowing in the gather (once a SIGILL).
    func testSizeOneDimensionsWithHugeStridesDecode() throws {
        let floats: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64]   // 1, 2, 3, 4
        for (shape, strides, expected) in [([1, 2], [Int.max, 1], [Float(1), 2]), ([2, 1], [2, Int.max], [1, 3]),
                                           ([1, 2, 1], [Int.max, 2, Int.max / 2], [1, 3]), ([2, 1, 2], [2, Int.max, 1], [1, 2, 3, 4])] {
            let path = try write(StoredZip.torchArchive(pickle: Self.statePickle(shape: shape, strides: strides), storages: ["0": floats]),
                                 "stride.pt")
            let tensor = try XCTUnwrap(TorchCheckpoint.read(path: path) { _ in true }.tensors["w"])
            XCTAssertEqual(tensor.shape, shape)
            XCTAssertEqual(tensor.values, expected, "shape \(shape), strides \(strides)")
        }
        // A size-2 dimension with such a stride still reaches past the storage, and is refused.
        let far = try write(StoredZip.torchArchive(pickle: Self.statePickle(shape: [2, 2], strides: [Int.max, 1]), storages: ["0": floats]),
                            "far.pt")
        assertFails(far, mentioning: ["'w'", "impossible shape"])
        // An empty view whose other dimensions multiply past 2^63 is refused too: code multiplying its shape in another
        // order (its trailing dimensions, say) would trap.
        let empty = try write(StoredZip.torchArchive(pickle: Self.statePickle(shape: [0, 1 << 62, 2], strides: [0, 2, 1]),
                                                     storages: ["0": floats]), "empty.pt")
        assertFails(empty, mentioning: ["'w'", "impossible shape [0, 4611686018427387904, 2]"])
    }

    /// `_rebuild_from_type_v2` wrapped in itself thousands of times (once a stack overflow, SIGSEGV) is refused
    /// with its limit; the nesting torch writes (a Parameter subclass: one level) still reads.
    func testNestedRebuildFromTypeIsBounded() throws {
        let floats: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64]
        for depth in [1, TorchPickleRules.maxRebuildNesting, 5000] {
            let path = try write(StoredZip.torchArchive(pickle: Self.nestedRebuildPickle(depth: depth), storages: ["0": floats]), "nested.pt")
            if depth <= TorchPickleRules.maxRebuildNesting {
                XCTAssertEqual(try TorchCheckpoint.read(path: path) { _ in true }.tensors["w"]?.values, [1, 2, 3, 4], "depth \(depth)")
            } else {
                assertFails(path, mentioning: ["data.pkl", "_rebuild_from_type_v2", "nested too deeply (limit \(TorchPickleRules.maxRebuildNesting))"])
            }
        }
    }

    /// `{"w": _rebuild_from_type_v2(_rebuild_from_type_v2, None, (… (_rebuild_tensor_v2, None, (storage, 0, (4,), (1,),
    /// False, OrderedDict()), {}) …), {})}` with `depth` calls of `_rebuild_from_type_v2`.
    static func nestedRebuildPickle(depth: Int) -> [UInt8] {
        func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
        func string(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
        let rebuild = global("torch._tensor", "_rebuild_from_type_v2")
        var p: [UInt8] = [0x80, 0x02, 0x7D] + string("w") + rebuild
        // Arguments of the outermost call; each further level wraps (func, type, args, state) around the next.
        for _ in 1..<depth { p += [0x28] + rebuild + [0x4E] }
        p += [0x28] + global("torch._utils", "_rebuild_tensor_v2") + [0x4E]
        p += [0x28, 0x28] + string("storage") + global("torch", "FloatStorage") + string("0") + string("cpu") + [0x4B, 4, 0x74, 0x51]
        p += [0x4B, 0, 0x4B, 4, 0x85, 0x4B, 1, 0x85, 0x89] + global("collections", "OrderedDict") + [0x29, 0x52, 0x74]
        p += [0x7D, 0x74]
        for _ in 1..<depth { p += [0x7D, 0x74] }
        return p + [0x52, 0x73, 0x2E]
    }

    /// `{"w": _rebuild_tensor_v2(storage 0 (FloatStorage of storageCount), offset, shape, strides, False, OrderedDict())}`
    /// as protocol 2, with the integers as LONG1 so that any value can be written.
    static func statePickle(shape: [Int], strides: [Int], offset: Int = 0, storageCount: Int = 4) -> [UInt8] {
        func long(_ v: Int) -> [UInt8] { [0x8A, 8] + withUnsafeBytes(of: Int64(v).littleEndian, Array.init) }
        func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
        func string(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
        func tuple(_ items: [Int]) -> [UInt8] { [0x28] + items.flatMap(long) + [0x74] }
        var p: [UInt8] = [0x80, 0x02, 0x7D] + string("w") + global("torch._utils", "_rebuild_tensor_v2") + [0x28]
        p += [0x28] + string("storage") + global("torch", "FloatStorage") + string("0") + string("cpu") + long(storageCount) + [0x74, 0x51]
        p += long(offset) + tuple(shape) + tuple(strides) + [0x89] + global("collections", "OrderedDict") + [0x29, 0x52]
        return p + [0x74, 0x52, 0x73, 0x2E]
    }

    // MARK: fuzz

    func testMutatedCheckpointsAreAcceptedOrRefusedWithoutCrashing() throws {
        var mutator = FuzzMutator(seed: 8)
        var refused = 0, total = 0
        for fixture in ["top_level.pt", "big_endian.pt", "malicious.pt", "lightning_style.ckpt"] {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixture(fixture))))
            for _ in 0..<FuzzMutator.iterations(120) {
                let path = try write(mutator.mutate(bytes), "mutant.pt")
                total += 1
                do { _ = try TorchCheckpoint.read(path: path) { _ in true } } catch { refused += 1 }
            }
        }
        XCTAssertGreaterThan(refused, total / 4, "most mutants should be refused: the reader must check what it reads")
    }
}

extension TorchCheckpointTests {
    /// Mutations of the pickle alone, re-zipped with a valid CRC, so that they reach the unpickler instead of
    /// stopping at the checksum.
    func testMutatedPicklesAreAcceptedOrRefusedWithoutCrashing() throws {
        var mutator = FuzzMutator(seed: 9)
        var refused = 0, total = 0
        for fixture in ["lightning_style.ckpt", "top_level.pt", "malicious.pt"] {
            let archive = try ZipArchive(file: RandomAccessFile(path: Self.fixture(fixture)))
            var files = try archive.entries.values.sorted { $0.name < $1.name }.map { ($0.name, try archive.read($0)) }
            let pickleAt = try XCTUnwrap(files.firstIndex { $0.0.hasSuffix("/data.pkl") })
            let pickle = files[pickleAt].1
            for _ in 0..<FuzzMutator.iterations(150) {
                files[pickleAt].1 = mutator.mutate(pickle)
                let path = try write(StoredZip.archive(files), "mutant.pt")
                total += 1
                do { _ = try TorchCheckpoint.read(path: path) { _ in true } } catch { refused += 1 }
            }
        }
        XCTAssertGreaterThan(refused, total / 4, "most mutated pickles should be refused")
    }
}

/// A minimal writer of stored zip archives laid out like torch.save's, for hand-built hostile checkpoints.
enum StoredZip {
    static func torchArchive(pickle: [UInt8], storages: [String: [UInt8]], byteorder: String = "little",
                             zip64: Bool = false) -> [UInt8] {
        archive(torchFiles(pickle: pickle, storages: storages, byteorder: byteorder), zip64: zip64)
    }

    /// The entries of a torch.save archive: the pickle, the byte order and the storages.
    static func torchFiles(pickle: [UInt8], storages: [String: [UInt8]], byteorder: String = "little") -> [(String, [UInt8])] {
        [("archive/data.pkl", pickle), ("archive/byteorder", Array(byteorder.utf8))]
            + storages.sorted { $0.key < $1.key }.map { ("archive/data/\($0.key)", $0.value) }
    }

    /// With `zip64`, every size and offset of the central directory moves to zip64 extra fields and the end
    /// record to a zip64 one, as writers do for files past 4 GiB.
    static func archive(_ files: [(String, [UInt8])], zip64: Bool = false) -> [UInt8] {
        func le(_ v: Int, _ width: Int) -> [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        let big = 0xFFFF_FFFF
        var out: [UInt8] = [], directory: [UInt8] = []
        for (name, data) in files {
            let crc = Int(crc32(data)), offset = out.count, nameBytes = Array(name.utf8)
            let head = le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4)
            out += le(0x0403_4b50, 4) + le(20, 2) + head + le(data.count, 4) + le(data.count, 4) + le(nameBytes.count, 2) + le(0, 2)
                + nameBytes + data
            let extra = zip64 ? le(1, 2) + le(24, 2) + le(data.count, 8) + le(data.count, 8) + le(offset, 8) : []
            directory += le(0x0201_4b50, 4) + le(45, 2) + le(45, 2) + head + le(zip64 ? big : data.count, 4)
                + le(zip64 ? big : data.count, 4) + le(nameBytes.count, 2) + le(extra.count, 2) + le(0, 2) + le(0, 2) + le(0, 2)
                + le(0, 4) + le(zip64 ? big : offset, 4) + nameBytes + extra
        }
        let directoryOffset = out.count
        out += directory
        if zip64 {
            let endOffset = out.count
            out += le(0x0606_4b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(files.count, 8)
                + le(files.count, 8) + le(directory.count, 8) + le(directoryOffset, 8)
            out += le(0x0706_4b50, 4) + le(0, 4) + le(endOffset, 8) + le(1, 4)
            return out + le(0x0605_4b50, 4) + le(0, 4) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(big, 4) + le(big, 4) + le(0, 2)
        }
        return out + le(0x0605_4b50, 4) + le(0, 4) + le(files.count, 2) + le(files.count, 2) + le(directory.count, 4)
            + le(directoryOffset, 4) + le(0, 2)
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
