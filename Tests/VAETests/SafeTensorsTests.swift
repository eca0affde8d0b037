import Foundation
import XCTest
import VAE

final class SafeTensorsTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "safetensors-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A file with a hand-written header, so that malformed cases can be built byte by byte.
    func file(header: String, data: [UInt8], name: String) throws -> String {
        var bytes = [UInt8]()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { bytes += $0 }
        bytes += Array(header.utf8) + data
        let path = "\(dir!)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertFails(_ path: String, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.read(path: path), file: file, line: line) { error in
            let message = "\(error)"
            for part in [path] + parts {
                XCTAssertTrue(message.contains(part), "'\(message)' should mention '\(part)'", file: file, line: line)
            }
        }
    }

    func testRoundTripKeepsValuesShapesAndMetadata() throws {
        var st = SafeTensors()
        st.add("a.weight", shape: [2, 3], values: [1, -2, 3.5, 0, .pi, -1e-30])
        st.add("b", shape: [0], values: [])
        st.metadata = ["epoch": "3", "note": "ünïcode"]
        let path = "\(dir!)/x.safetensors"
        try st.write(path: path)
        let back = try SafeTensors.read(path: path)
        XCTAssertEqual(back.names, ["a.weight", "b"])
        XCTAssertEqual(back["a.weight"]?.shape, [2, 3])
        XCTAssertEqual(back["a.weight"]?.values, st["a.weight"]?.values)
        XCTAssertEqual(back.metadata, st.metadata)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"), "no temporary file left behind")
    }

    func testReadsF16AndBF16() throws {
        // 1.5 and -2 in F16: 0x3E00, 0xC000; in BF16: 0x3FC0, 0xC000
        let f16 = try file(header: #"{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: [0x00, 0x3E, 0x00, 0xC0], name: "h.st")
        XCTAssertEqual(try SafeTensors.read(path: f16)["t"]?.values, [1.5, -2])
        let bf16 = try file(header: #"{"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, data: [0xC0, 0x3F, 0x00, 0xC0], name: "b.st")
        XCTAssertEqual(try SafeTensors.read(path: bf16)["t"]?.values, [1.5, -2])
    }

    func testF16FixtureEqualsF32WithinHalfPrecision() throws {
        let f32 = try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors"))
        let f16 = try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.ldm-f16.safetensors"))
        XCTAssertEqual(f32.names, f16.names)
        for name in f32.names {
            for (a, b) in zip(f32[name]!.values, f16[name]!.values) {
                XCTAssertEqual(a, b, accuracy: max(abs(a) * 1e-3, 1e-7), name)
            }
        }
    }

    func testMalformedFilesGetClearMessages() throws {
        let missing = "\(dir!)/missing.safetensors"
        assertFails(missing, mentioning: ["cannot read"])
        let tiny = "\(dir!)/short.safetensors"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: tiny))
        assertFails(tiny, mentioning: ["shorter than"])
        let png = "\(dir!)/image.safetensors"
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: png))
        assertFails(png, mentioning: ["not a valid safetensors", "exceeds the file size"])
        assertFails(try file(header: "not json!", data: [], name: "nojson.st"), mentioning: ["not JSON"])
        assertFails(try file(header: #"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0], name: "trunc.st"),
                    mentioning: ["'t'", "outside", "truncated"])
        assertFails(try file(header: #"{"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8), name: "i64.st"),
                    mentioning: ["'t'", "I64", "F32, F16 and BF16"])
        assertFails(try file(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8), name: "size.st"),
                    mentioning: ["'t'", "8 bytes for shape [3]"])
        assertFails(try file(header: #"{"t":{"dtype":"F32"}}"#, data: [], name: "noshape.st"), mentioning: ["'t'", "lacks"])
        // A real fixture cut in half: header intact, data missing.
        let whole = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors")))
        let half = "\(dir!)/half.safetensors"
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: half))
        assertFails(half, mentioning: ["outside", "truncated"])
    }
}
