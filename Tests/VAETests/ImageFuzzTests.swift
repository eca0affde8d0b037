import Foundation
@testable import VAECore
@testable import VAEFormats
import XCTest

/// Seeded mutants of the PNG and JPEG fixtures through `loadImage(path:)`, the decoding training uses: each
/// must decode to a consistent image within the pixel cap or be refused with an error naming the file.
final class ImageFuzzTests: TemporaryDirectoryTestCase {
    func fixtureBytes(_ name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images-64/\(name)"))))
    }

    struct Tally { var decoded = 0, refused = 0 }

    func load(_ bytes: [UInt8], tally: inout Tally) throws {
        let path = "\(dir!)/mutant.img"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            let image = try loadImage(path: path)
            XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
            XCTAssertLessThanOrEqual(image.width * image.height, maxImagePixels)
            tally.decoded += 1
        } catch {
            XCTAssertTrue("\(error)".hasPrefix(path), "the message names the file: \(error)")
            tally.refused += 1
        }
    }

    /// The chunks of a valid PNG, after the signature.
    static func chunks(_ png: [UInt8]) -> [(type: String, data: [UInt8])] {
        var chunks = [(type: String, data: [UInt8])]()
        var offset = 8
        while offset + 12 <= png.count {
            let length = png[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            chunks.append((String(decoding: png[offset + 4..<offset + 8], as: UTF8.self), Array(png[offset + 8..<offset + 8 + length])))
            offset += 12 + length
        }
        return chunks
    }

    func testPNGMutantsDecodeOrAreRefused() throws {
        var mutator = FuzzMutator(seed: 0x9E6)
        var tally = Tally()
        for name in ["astronaut_rgba8.png", "camera_gray16.png", "coins_palette.png", "small_upscale.png"] {
            let valid = try fixtureBytes(name)
            let chunks = Self.chunks(valid)
            var pick = SplitMix64(seed: UInt64(valid.count))
            for i in 0..<FuzzMutator.iterations(250) {
                if i % 2 == 0 {
                    try load(mutator.mutate(valid), tally: &tally)
                } else {
                    // One chunk's content changed and its CRC recomputed, so that libpng decodes the damage
                    // instead of stopping at the checksum.
                    let target = Int(pick.next() % UInt64(chunks.count))
                    var png = Array(valid.prefix(8))
                    for (index, chunk) in chunks.enumerated() {
                        png += TestPNG.chunk(chunk.type, index == target ? mutator.mutate(chunk.data) : chunk.data)
                    }
                    try load(png, tally: &tally)
                }
            }
        }
        XCTAssertGreaterThan(tally.decoded, 20)
        XCTAssertGreaterThan(tally.refused, 200)
    }

    func testJPEGMutantsDecodeOrAreRefused() throws {
        var mutator = FuzzMutator(seed: 0x1D6)
        var tally = Tally()
        for name in ["camera_gray.jpg", "ihc_progressive.jpg", "retina_rgb.jpg"] {
            let valid = try fixtureBytes(name)
            for _ in 0..<FuzzMutator.iterations(300) { try load(mutator.mutate(valid), tally: &tally) }
        }
        XCTAssertGreaterThan(tally.decoded, 20)
        XCTAssertGreaterThan(tally.refused, 200)
    }

    /// A forged size must be refused from the header, before the pixel buffer (here 40 GB) is allocated.
    func testForgedHugeDimensionsAreRefusedBeforeDecoding() throws {
        let png = TestPNG.make(width: 100_000, height: 100_000, bitDepth: 8, colorType: 2, rows: [[0, 0, 0]])
        let pngPath = "\(dir!)/huge.png"
        try Data(png).write(to: URL(fileURLWithPath: pngPath))
        XCTAssertThrowsError(try loadImage(path: pngPath)) { error in
            XCTAssertTrue("\(error)".hasPrefix(pngPath))
            XCTAssertTrue("\(error)".contains("100000x100000 pixels, more than the \(maxImagePixels) accepted"), "\(error)")
        }
        // A JPEG's start-of-frame segment (FFC0 baseline, FFC2 progressive): length, precision, height, width.
        var jpeg = try fixtureBytes("retina_rgb.jpg")
        let sof = try XCTUnwrap((0..<jpeg.count - 9).first { jpeg[$0] == 0xFF && (jpeg[$0 + 1] == 0xC0 || jpeg[$0 + 1] == 0xC2) })
        jpeg.replaceSubrange(sof + 5..<sof + 9, with: [0xFD, 0xE8, 0xFD, 0xE8])  // 65000 × 65000
        let jpegPath = "\(dir!)/huge.jpg"
        try Data(jpeg).write(to: URL(fileURLWithPath: jpegPath))
        XCTAssertThrowsError(try loadImage(path: jpegPath)) { error in
            XCTAssertTrue("\(error)".contains("65000x65000 pixels, more than the \(maxImagePixels) accepted"), "\(error)")
        }
    }
}
