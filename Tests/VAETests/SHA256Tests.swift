import Foundation
import VAEFormats
import XCTest

/// SHA-256 against FIPS 180-4's examples, and streamed from a file in pieces of any size.
final class SHA256Tests: XCTestCase {
    func testKnownDigests() {
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every padding case (55, 56, 63, 64 bytes in the last block) and pieces that split blocks anywhere.
    func testFilesInPiecesHashAsAWhole() throws {
        let path = NSTemporaryDirectory() + "vae-dist-sha256-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        for count in [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000] {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            var byByte = SHA256()
            for byte in bytes { byByte.update([byte]) }
            let whole = SHA256.hex(bytes)
            XCTAssertEqual(byByte.finalHex(), whole, "\(count) bytes one at a time")
            for piece in [1, 7, 64, 100, 1 << 20] {
                XCTAssertEqual(try SHA256.hex(file: path, pieceBytes: piece), whole, "\(count) bytes in pieces of \(piece)")
            }
        }
        XCTAssertEqual(SHA256.hex(Array(repeating: 0, count: 64)), "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b")
        XCTAssertThrowsError(try SHA256.hex(file: path + "-missing")) { XCTAssertTrue("\($0)".contains("-missing"), "\($0)") }
    }
}
