import Foundation
import VAECore
@testable import VAEFormats
import VAETraining
import XCTest

/// Structure-aware fuzzing of the torch.save reader: random pickle programs (`PickleProgramGenerator`) in valid
/// archives, and valid pickles in random zip directories (`ZipDirectoryGenerator`), through every entry point that
/// reads a `.pt`/`.ckpt`: the state dict reader, the document walked value by value, the training-checkpoint
/// reader and the original-run probe. Each case is read or refused with a `VAEDistError` naming the file; a crash,
/// a signal or a hang fails the run. VAE_DIST_FUZZ_SCALE=100 runs 100 times as many cases.
final class TorchStructureFuzzTests: TemporaryDirectoryTestCase {
    struct Tally {
        var accepted = 0, refused = 0, tensors = 0
        var reasons: [String: Int] = [:]
    }

    /// Every entry point on one file; refusals must be `VAEDistError`s that name it.
    func exercise(_ archive: [UInt8], tally: inout Tally) throws {
        let path = "\(dir!)/case.pt"
        try Data(archive).write(to: URL(fileURLWithPath: path))
        func check(_ body: () throws -> Void) {
            do {
                try body()
                tally.accepted += 1
            } catch let error as VAEDistError {
                XCTAssertTrue(error.description.hasPrefix(path), "the message names the file: \(error)")
                // The message's kind, without the numbers, for the summary.
                let reason = error.description.dropFirst(path.count).prefix(48).filter { !$0.isNumber }
                tally.reasons[String(reason), default: 0] += 1
                tally.refused += 1
            } catch {
                XCTFail("not a VAEDistError: \(error)")
            }
        }
        check {
            let state = try TorchCheckpoint.read(path: path, keep: { _ in true })
            for (name, entry) in state.tensors {
                XCTAssertEqual(entry.values.count, entry.shape.reduce(1, *), name)
                tally.tensors += 1
            }
        }
        check { try walk(try TorchDocument(bytes: archive, path: path).root, tally: &tally) }
        check { _ = try TorchTrainingCheckpoint.read(bytes: archive, path: path) }
        _ = OriginalRun.isOriginalCheckpoint(path: path)
    }

    /// Visits every value reachable from `root` (each container once: memo sharing makes a graph), decoding tensors.
    func walk(_ root: TorchObject, tally: inout Tally) throws {
        var pending = [root]
        var visited = 0
        while let object = pending.popLast(), visited < 100_000 {
            visited += 1
            if object.isTensor {
                let entry = try object.tensor(name: "t")
                XCTAssertEqual(entry.values.count, entry.shape.reduce(1, *))
                tally.tensors += 1
            }
            _ = (object.kind, object.int, object.number, object.string, object.bool, object.isNone, object.tensorShape)
            if let items = object.items, visited < 10_000 { pending += items.flatMap { [$0.key, $0.value] } }
            if let elements = object.elements, visited < 10_000 { pending += elements }
        }
    }

    func testRandomPickleProgramsAreReadOrRefused() throws {
        var generator = PickleProgramGenerator(seed: 0x91C_CE1)
        var tally = Tally()
        let cases = FuzzMutator.iterations(600)
        for i in 0..<cases {
            FuzzMutator.progress("pickle programs", i, of: cases)
            let (pickle, storages) = generator.next()
            try exercise(StoredZip.torchArchive(pickle: pickle, storages: storages), tally: &tally)
        }
        report("pickle programs", cases: cases, tally)
        // Both outcomes occur, and tensors are decoded: the programs reach the tensor reader, not only the opcodes.
        XCTAssertGreaterThan(tally.accepted, cases / 10)
        XCTAssertGreaterThan(tally.refused, cases / 10)
        XCTAssertGreaterThan(tally.tensors, cases / 10)
    }

    func testRandomZipDirectoriesAreReadOrRefused() throws {
        var st = SafeTensors()
        st.add("encoder.conv_in.weight", shape: [2, 1, 1, 1], values: [1, 2])
        st.add("decoder.conv_out.bias", shape: [3], values: [0.5, -0.25, 8])
        let crafted = CraftedPickle(.dict([("state_dict", CraftedPickle.stateDict(st)), ("epoch", .int(3))]))
        let files = crafted.files()
        var generator = ZipDirectoryGenerator(seed: 0x21F)
        var tally = Tally()
        let cases = FuzzMutator.iterations(1000)
        for i in 0..<cases {
            FuzzMutator.progress("zip directories", i, of: cases)
            try exercise(generator.archive(files), tally: &tally)
        }
        report("zip directories", cases: cases, tally)
        XCTAssertGreaterThan(tally.accepted, cases / 10)
        XCTAssertGreaterThan(tally.refused, cases / 10)
    }

    /// One line per target for the log (the counts the closing note asks for).
    func report(_ target: String, cases: Int, _ tally: Tally) {
        let top = tally.reasons.sorted { $0.value > $1.value }.prefix(6).map { "\($0.value)×\($0.key)" }.joined(separator: " | ")
        print("fuzz \(target): \(cases) cases, \(tally.accepted) reads accepted, \(tally.refused) refused, \(tally.tensors) tensors decoded; most frequent refusals: \(top)")
    }
}
