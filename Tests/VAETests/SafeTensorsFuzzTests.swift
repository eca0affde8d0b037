import Foundation
import VAEFormats
import XCTest

/// Seeded mutants of valid safetensors files through every reading entry point: each must be read or refused
/// with an error naming the file, never crash. Mutating the header text (then fixing the length prefix)
/// reaches the validation rules; mutating raw bytes reaches the length and data handling.
final class SafeTensorsFuzzTests: TemporaryDirectoryTestCase {
    /// Tokens that change the meaning of a safetensors header.
    static let vocabulary = [
        #""dtype""#, #""shape""#, #""data_offsets""#, #""__metadata__""#, #""F32""#, #""F16""#, #""BF16""#, #""F64""#,
        #""I64""#, #""F4""#, #""X""#, "[]", "[0]", "[0,0]", "[4,0]", "{}", "null", "-1", "0", "32.9", "1e3",
        "18446744073709551615", "18446744073709551616", "4611686018427387904", "1180591620717411303424",
        #""\ud800""#, #""\u00e9""#, ",", ":", "{", "}", "[", "]", "\"", "[[[[[[[[[[[[", #""t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#,
    ]

    /// A checkpoint-like file: float and integer dtypes, an empty tensor, a scalar and metadata.
    static func checkpointLike() throws -> [UInt8] {
        var st = SafeTensors()
        st.add("decoder.conv_out.weight", shape: [3, 2, 1, 1], values: [1, -2, 3.5, 0, .pi, -1e-30])
        st.add("decoder.conv_out.bias", shape: [3], values: [0.5, 0.25, -0.125])
        st.add("optimizer.exp_avg.decoder.conv_out.bias", shape: [3], values: [1e-8, 0, 2])
        st.add("loss.logvar", shape: [], values: [0])
        st.add("empty", shape: [0, 4], values: [])
        st.metadata = ["epoch": "3", "config": #"{"embed_dim": 4}"#, "note": "ünïcode"]
        return try st.serialized()
    }

    /// Splits a file into its header text and data.
    static func parts(_ bytes: [UInt8]) -> (header: String, data: [UInt8]) {
        let length = Int(bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return (String(decoding: bytes[8..<8 + length], as: UTF8.self), Array(bytes[(8 + length)...]))
    }

    static func assemble(header: String, data: [UInt8]) -> [UInt8] {
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        return bytes + Array(header.utf8) + data
    }

    struct Tally { var accepted = 0, refused = 0 }

    /// Every refusal must name the file.
    func check(_ read: () throws -> Void, path: String, tally: inout Tally) {
        do {
            try read()
            tally.accepted += 1
        } catch {
            XCTAssertTrue("\(error)".hasPrefix(path), "the message names the file: \(error)")
            tally.refused += 1
        }
    }

    /// An accepted file must hold consistent tensors.
    func assertConsistent(_ file: SafeTensors) {
        for name in file.names {
            let entry = file[name]!
            XCTAssertEqual(entry.values.count, entry.shape.reduce(1, *), "\(name) of an accepted mutant")
        }
    }

    func fuzz(_ valid: [UInt8], seed: UInt64, iterations base: Int, fileEvery: Int) throws -> Tally {
        var mutator = FuzzMutator(seed: seed)
        let (header, data) = Self.parts(valid)
        let path = "\(dir!)/mutant.safetensors"
        var tally = Tally()
        for i in 0..<FuzzMutator.iterations(base) {
            let mutant: [UInt8]
            switch i % 3 {
            case 0: mutant = mutator.mutate(valid)
            case 1: mutant = Self.assemble(header: mutator.mutate(header, vocabulary: Self.vocabulary), data: data)
            default: mutant = Self.assemble(header: header, data: mutator.mutate(data))
            }
            check({ assertConsistent(try SafeTensors.parse(mutant, path: path)) }, path: path, tally: &tally)
            if i % fileEvery == 0 {
                // The file entry points share the validation but read through their own code.
                try Data(mutant).write(to: URL(fileURLWithPath: path))
                check({ assertConsistent(try SafeTensors.read(path: path)) }, path: path, tally: &tally)
                check({ assertConsistent(try SafeTensors.read(path: path, keep: { $0.hasPrefix("decoder.") })) }, path: path, tally: &tally)
                check({ _ = try SafeTensors.readMetadata(path: path) }, path: path, tally: &tally)
            }
        }
        return tally
    }

    func testMutantsOfACheckpointLikeFileAreReadOrRefused() throws {
        let tally = try fuzz(try Self.checkpointLike(), seed: 0x5AFE, iterations: 6000, fileEvery: 7)
        // Both outcomes occur, so the mutants exercise the parser rather than failing at the first byte.
        XCTAssertGreaterThan(tally.accepted, 100)
        XCTAssertGreaterThan(tally.refused, 1000)
    }

    func testMutantsOfTheTinyFixtureWeightsAreReadOrRefused() throws {
        let weights = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vae-tiny-g8/weights.ldm-f16.safetensors"))))
        let tally = try fuzz(weights, seed: 0xF16, iterations: 600, fileEvery: 20)
        XCTAssertGreaterThan(tally.accepted, 10)
        XCTAssertGreaterThan(tally.refused, 100)
    }
}
