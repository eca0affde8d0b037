import Foundation
import VAECore
@testable import VAEFormats
import XCTest

/// Structure-aware fuzzing of the safetensors header and of the config readers: files generated from the formats'
/// grammars (`SafeTensorsHeaderGenerator`, `NestedTextGenerator`) are read or refused with a `VAEDistError` naming
/// the file; a crash, a signal or a hang fails the run. VAE_DIST_FUZZ_SCALE=100 runs 100 times as many cases.
final class FormatStructureFuzzTests: TemporaryDirectoryTestCase {
    struct Tally {
        var accepted = 0, refused = 0
        var reasons: [String: Int] = [:]
    }

    func check(_ path: String, _ tally: inout Tally, _ body: () throws -> Void) {
        do {
            try body()
            tally.accepted += 1
        } catch let error as VAEDistError {
            XCTAssertTrue(error.description.hasPrefix(path), "the message names the file: \(error)")
            XCTAssertLessThan(error.description.count, 2000, "a short message: \(error.description.prefix(300))")
            let reason = error.description.dropFirst(path.count).prefix(48).filter { !$0.isNumber }
            tally.reasons[String(reason), default: 0] += 1
            tally.refused += 1
        } catch {
            XCTFail("not a VAEDistError: \(error)")
        }
    }

    func testGeneratedSafeTensorsHeadersAreReadOrRefused() throws {
        var generator = SafeTensorsHeaderGenerator(seed: 0x5AFE_4EAD)
        let path = "\(dir!)/case.safetensors"
        var tally = Tally()
        var tensors = 0
        let cases = FuzzMutator.iterations(1200)
        for i in 0..<cases {
            FuzzMutator.progress("safetensors headers", i, of: cases)
            let bytes = generator.next()
            check(path, &tally) {
                let file = try SafeTensors.parse(bytes, path: path)
                for name in file.names {
                    XCTAssertEqual(file[name]!.values.count, file[name]!.shape.reduce(1, *), name)
                    tensors += 1
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            check(path, &tally) {
                let header = try SafeTensors.readHeader(path: path)
                for tensor in header.tensors {
                    XCTAssertLessThanOrEqual(tensor.dataOffsets.upperBound, header.dataStart + bytes.count)
                }
            }
            check(path, &tally) { _ = try SafeTensors.read(path: path, keep: { _ in true }) }
            check(path, &tally) { _ = try CheckpointMetadata.storedConfig(path: path) }
            check(path, &tally) { _ = try CheckpointMetadata.storedTrainingImageSize(path: path) }
            check(path, &tally) { _ = try CheckpointMetadata.storedLatentSpace(path: path) }
        }
        print("fuzz safetensors headers: \(cases) cases, \(tally.accepted) reads accepted, \(tally.refused) refused, \(tensors) tensors decoded; "
              + "most frequent refusals: \(top(tally))")
        XCTAssertGreaterThan(tally.accepted, cases / 2)
        XCTAssertGreaterThan(tally.refused, cases / 2)
        XCTAssertGreaterThan(tensors, cases / 10)
    }

    func testGeneratedYAMLConfigsAreReadOrRefused() throws {
        var generator = NestedTextGenerator(seed: 0x7A31)
        let path = "\(dir!)/case.yaml"
        var tally = Tally()
        let cases = FuzzMutator.iterations(300)
        for i in 0..<cases {
            FuzzMutator.progress("nested yaml", i, of: cases)
            let text = generator.yaml()
            check(path, &tally) { _ = try VAEConfig.parse(yaml: text, source: path) }
        }
        print("fuzz nested yaml: \(cases) cases, \(tally.accepted) accepted, \(tally.refused) refused; most frequent refusals: \(top(tally))")
        XCTAssertGreaterThan(tally.refused, cases / 2)
    }

    func testGeneratedJSONConfigsAreReadOrRefused() throws {
        var generator = NestedTextGenerator(seed: 0x15_0)
        let path = "\(dir!)/config.json"
        var tally = Tally()
        let cases = FuzzMutator.iterations(600)
        for i in 0..<cases {
            FuzzMutator.progress("nested json", i, of: cases)
            let text = generator.json()
            check(path, &tally) { _ = try DiffusersConfig.parse(json: text, source: path) }
            _ = DiffusersConfig.isAutoencoderKLConfig(text)
            if i % 10 == 0 {
                // The path every command takes: the file is told apart from yaml, then read.
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                check(path, &tally) { _ = try ModelSource.loadConfig(path: path) }
            }
        }
        print("fuzz nested json: \(cases) cases, \(tally.accepted) accepted, \(tally.refused) refused; most frequent refusals: \(top(tally))")
        XCTAssertGreaterThan(tally.refused, cases / 2)
    }

    private func top(_ tally: Tally) -> String {
        tally.reasons.sorted { $0.value > $1.value }.prefix(6).map { "\($0.value)×\($0.key)" }.joined(separator: " | ")
    }
}
