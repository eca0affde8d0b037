import Foundation
@testable import VAEFormats
@testable import VAEJobs
import XCTest

/// `resizeBilinearPIL` against Pillow's `Image.resize(size, Image.BILINEAR)` on hashed-noise images of many
/// shapes (Tests/Fixtures/resize, made by tools/make_resize_fixtures.py), directly and through the paths that
/// training and analysis use to turn an image file into a tensor.
final class PILResizeTests: XCTestCase {
    struct Case: Decodable, CustomStringConvertible {
        let width, height, targetWidth, targetHeight, channels, seed, offset, length: Int
        var description: String {
            "\(width)x\(height) → \(targetWidth)x\(targetHeight) \(channels == 1 ? "grey" : "RGB")"
        }
    }

    struct Index: Decodable {
        let pillow: String
        let cases: [Case]
    }

    static func fixtures() throws -> (index: Index, expected: [UInt8]) {
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("resize/index.json"))))
        let expected = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("resize/expected.bin"))))
        return (index, expected)
    }

    /// The fixture script's noise: a 32-bit hash of (seed, sample index).
    static func noise(seed: Int, count: Int) -> [UInt8] {
        (0..<count).map { i in
            var h = UInt32(truncatingIfNeeded: i) &* 0x9E37_79B1 &+ UInt32(truncatingIfNeeded: seed) &* 0x85EB_CA77
            h ^= h >> 15
            h = h &* 0x2C1B_3C6D
            h ^= h >> 12
            h = h &* 0x297A_2D39
            h ^= h >> 15
            return UInt8(h >> 24)
        }
    }

    /// The case's input as RGB; grey samples are replicated, as `convert('RGB')` does.
    static func input(_ c: Case) -> RGB8Image {
        let samples = noise(seed: c.seed, count: c.width * c.height * c.channels)
        let pixels = c.channels == 3 ? samples : samples.flatMap { [$0, $0, $0] }
        return RGB8Image(width: c.width, height: c.height, pixels: pixels)
    }

    /// Pillow's output for the case as RGB.
    static func expected(_ c: Case, in blob: [UInt8]) -> RGB8Image {
        let samples = Array(blob[c.offset..<c.offset + c.length])
        let pixels = c.channels == 3 ? samples : samples.flatMap { [$0, $0, $0] }
        return RGB8Image(width: c.targetWidth, height: c.targetHeight, pixels: pixels)
    }

    func assertSamePixels(_ ours: RGB8Image, _ pil: RGB8Image, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.width, pil.width, what, file: file, line: line)
        XCTAssertEqual(ours.height, pil.height, what, file: file, line: line)
        let mismatches = zip(ours.pixels, pil.pixels).enumerated().filter { $0.element.0 != $0.element.1 }
        guard let first = mismatches.first else { return }
        let worst = mismatches.map { abs(Int($0.element.0) - Int($0.element.1)) }.max()!
        XCTFail("\(what): \(mismatches.count) of \(pil.pixels.count) samples differ from Pillow (worst by \(worst)/255); "
                + "first at sample \(first.offset): \(first.element.0) instead of \(first.element.1)", file: file, line: line)
    }

    // MARK: Against Pillow

    func testFixturesCoverTheReportedShapes() throws {
        let shapes = Set(try Self.fixtures().index.cases.map { [$0.width, $0.height, $0.targetWidth, $0.targetHeight, $0.channels] })
        let required: [[Int]] = [
            [150, 200, 128], [130, 170, 128], [300, 500, 128], [100, 200, 64], [128, 200, 64], [96, 160, 64],
            [20, 30, 64], [17, 64, 64], [1000, 20, 64], [1, 1, 8], [64, 64, 64], [257, 255, 128],
        ].map { [$0[0], $0[1], $0[2], $0[2], 3] }
        for shape in required { XCTAssertTrue(shapes.contains(shape), "no fixture for \(shape)") }
        XCTAssertTrue(shapes.contains { $0[4] == 1 }, "no grey fixture")
    }

    func testEveryFixtureShapeIsBitExact() throws {
        let (index, blob) = try Self.fixtures()
        XCTAssertGreaterThanOrEqual(index.cases.count, 30)
        for c in index.cases {
            let ours = resizeBilinearPIL(Self.input(c), width: c.targetWidth, height: c.targetHeight)
            assertSamePixels(ours, Self.expected(c, in: blob), "\(c) (Pillow \(index.pillow))")
        }
    }

    /// Every command turns an image file into model input with `loadResized` and `imageBatch` (training's cached
    /// and streaming sources too); this checks them end to end from PNG files of shapes that resize in either order.
    func testTrainingPathFromPNGFilesMatchesPillow() throws {
        let (index, blob) = try Self.fixtures()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("PILResizeTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for shape in [[150, 200, 128], [33, 47, 64]] {
            let c = try XCTUnwrap(index.cases.first { [$0.width, $0.height, $0.targetWidth] == shape && $0.channels == 3 })
            let path = scratch.appendingPathComponent("\(c.width)x\(c.height).png").path
            try writePNG(Self.input(c), to: path)
            let size = c.targetWidth
            let pil = Self.expected(c, in: blob)
            assertSamePixels(try loadResized(path, size: size), pil, "loadResized \(c)")

            let want = imageBatch([pil])
            let decoded = CachedImages.decode([path], size: size)
            XCTAssertEqual(decoded.failures, [], "\(c)")
            let tensors = [
                "cached": try CachedImages(size: size, count: 1, bytes: decoded.bytes).batch([0], upcoming: []),
                "streaming": try StreamingImages(paths: [path], size: size).batch([0], upcoming: []),
            ]
            for (name, got) in tensors {
                XCTAssertEqual(got.shape, want.shape, "\(name) \(c)")
                let differing = (0..<want.count).filter { got[$0] != want[$0] }.count
                XCTAssertEqual(differing, 0, "\(name) \(c): \(differing) values differ from Pillow's")
            }
            // The normalisation itself: v/255·2−1 in Float, as the PIL + numpy reference computes it.
            XCTAssertEqual(want[0], Float(pil.pixels[0]) / 255 * 2 - 1)
        }
    }

    // MARK: Properties

    func testResizeToTheSameSizeIsTheIdentity() throws {
        let image = try loadImage(path: Fixtures.path("images-64/small_upscale.png"))
        XCTAssertEqual(resizeBilinearPIL(image, width: image.width, height: image.height), image)
    }

    func testShrinkWidensTheTriangleFilter() {
        // 4 → 2 columns: scale 2, so each output averages three inputs with weights 3/7, 3/7, 1/7
        // (a two-tap bilinear interpolation would give 35 and 175).
        let row: [UInt8] = [0, 70, 140, 210].flatMap { [$0, $0 / 2, 255 - $0] }
        let out = resizeBilinearPIL(RGB8Image(width: 4, height: 1, pixels: row), width: 2, height: 1)
        XCTAssertEqual(out.pixels, [50, 25, 205, 160, 80, 95])
    }

    func testConstantImagesStayConstant() {
        let image = RGB8Image(width: 37, height: 23, pixels: (0..<37 * 23).flatMap { _ in [255, 0, 77] as [UInt8] })
        for (w, h) in [(5, 7), (64, 64), (100, 3), (37, 90), (64, 5)] {
            let out = resizeBilinearPIL(image, width: w, height: h)
            XCTAssertEqual(out, RGB8Image(width: w, height: h, pixels: (0..<w * h).flatMap { _ in [255, 0, 77] as [UInt8] }), "\(w)x\(h)")
        }
    }
}
