import CTurboJPEG
import Foundation
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
import XCTest

/// Image loading, the decode-and-resize pipeline, PNG writing and grids, against the PIL-made fixtures in
/// Tests/Fixtures/images-64 and against small PNGs built byte by byte below (resizing itself: PILResizeTests).
final class ImageTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images-64")

    /// Fixture files whose PIL result we reproduce bit for bit (decode and resize).
    static let bitExact: Set<String> = [
        "astronaut_rgb8.png", "astronaut_rgba8.png", "camera_gray8.png", "coins_palette.png", "small_upscale.png",
        "camera_gray.jpg", "ihc_progressive.jpg", "retina_rgb.jpg",
    ]

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ImageTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func fixture(_ name: String) -> String { Self.fixtures.appendingPathComponent(name).path }

    func scratchFile(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = scratch.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture(name))))
    }

    // MARK: Fixtures against PIL

    struct Expected {
        let size: Int
        let files: [String]
        let tensors: SafeTensors
    }

    func expected() throws -> Expected {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json")))
        let object = try XCTUnwrap(json as? [String: Any])
        return Expected(size: try XCTUnwrap(object["size"] as? Int),
                        files: try XCTUnwrap(object["files"] as? [String]),
                        tensors: try SafeTensors.read(path: fixture("expected.safetensors")))
    }

    /// What every command does to an image file: decode, resize, batch.
    func pipeline(_ name: String, size: Int) throws -> [Float] {
        imageBatch([try loadResized(fixture(name), size: size)]).array
    }

    func testEveryFixtureMatchesPILWithinTolerance() throws {
        let e = try expected()
        XCTAssertEqual(e.files.count, 8)
        for name in e.files {
            let reference = try XCTUnwrap(e.tensors[name], name)
            XCTAssertEqual(reference.shape, [3, e.size, e.size], name)
            let ours = try pipeline(name, size: e.size)
            let diffs = zip(ours, reference.values).map { abs($0 - $1) }
            let maxDiff = diffs.max() ?? .infinity
            let meanDiff = diffs.reduce(0, +) / Float(diffs.count)
            print("\(name): max |diff| = \(maxDiff * 255)/255, mean |diff| = \(meanDiff * 255)/255")
            XCTAssertLessThanOrEqual(maxDiff, 2 / 255 + 1e-6, name)
            XCTAssertLessThanOrEqual(meanDiff, 0.5 / 255, name)
        }
    }

    func testBitExactFixtures() throws {
        let e = try expected()
        XCTAssertTrue(Self.bitExact.isSubset(of: e.files), "bit-exact list names files that are not fixtures")
        for name in e.files where Self.bitExact.contains(name) {
            let reference = try XCTUnwrap(e.tensors[name], name)
            let ours = try pipeline(name, size: e.size)
            let mismatches = zip(ours, reference.values).filter { $0 != $1 }.count
            XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) values differ from PIL")
        }
    }

    func testSixteenBitPNGEqualsEightBitPNG() throws {
        let eight = try loadImage(path: fixture("camera_gray8.png"))
        let sixteen = try loadImage(path: fixture("camera_gray16.png"))
        XCTAssertEqual(sixteen, eight)
        XCTAssertEqual(try pipeline("camera_gray16.png", size: 64), try pipeline("camera_gray8.png", size: 64))
    }

    func testGrayscaleSourcesAreReplicatedToRGB() throws {
        for name in ["camera_gray8.png", "camera_gray.jpg"] {
            let image = try loadImage(path: fixture(name))
            XCTAssertEqual(image.width, 240, name)
            XCTAssertEqual(image.height, 180, name)
            for i in stride(from: 0, to: image.pixels.count, by: 3) {
                guard image.pixels[i] == image.pixels[i + 1], image.pixels[i] == image.pixels[i + 2] else {
                    return XCTFail("\(name): pixel \(i / 3) is not gray")
                }
            }
        }
    }

    func testAlphaIsDroppedNotComposited() throws {
        let rgb = try loadImage(path: fixture("astronaut_rgb8.png"))
        let rgba = try loadImage(path: fixture("astronaut_rgba8.png"))
        XCTAssertEqual(rgba.width, 320)
        XCTAssertEqual(rgba.height, 250)
        XCTAssertEqual(rgba, rgb)
    }

    func testFormatComesFromTheSignatureNotTheName() throws {
        let png = try scratchFile("really-a-png.jpg", try fixtureBytes("small_upscale.png"))
        let jpeg = try scratchFile("really-a-jpeg.png", try fixtureBytes("retina_rgb.jpg"))
        XCTAssertEqual(try loadImage(path: png), try loadImage(path: fixture("small_upscale.png")))
        XCTAssertEqual(try loadImage(path: jpeg), try loadImage(path: fixture("retina_rgb.jpg")))
    }

    func testTensorBatchStacksTheImages() throws {
        let names = ["small_upscale.png", "retina_rgb.jpg"]
        let tensor = try StreamingImages(paths: names.map(fixture), size: 64).batch([0, 1], upcoming: [])
        XCTAssertEqual(tensor.shape, [2, 3, 64, 64])
        let values = tensor.array
        for (n, name) in names.enumerated() {
            XCTAssertEqual(Array(values[n * 3 * 64 * 64..<(n + 1) * 3 * 64 * 64]), try pipeline(name, size: 64), name)
        }
    }

    // MARK: PNG variants built byte by byte

    func load(png bytes: [UInt8], _ name: String = "variant.png") throws -> RGB8Image {
        try loadImage(path: try scratchFile(name, bytes))
    }

    func testLowBitDepthGrayIsScaledToEightBits() throws {
        let one = TestPNG.make(width: 8, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1011_0001]])
        XCTAssertEqual(try load(png: one).pixels, [255, 0, 255, 255, 0, 0, 0, 255].flatMap { [$0, $0, $0] })
        let two = TestPNG.make(width: 4, height: 1, bitDepth: 2, colorType: 0, rows: [[0b00_01_10_11]])
        XCTAssertEqual(try load(png: two).pixels, [0, 85, 170, 255].flatMap { [$0, $0, $0] })
        let four = TestPNG.make(width: 3, height: 1, bitDepth: 4, colorType: 0, rows: [[0x3C, 0xF0]])
        XCTAssertEqual(try load(png: four).pixels, [51, 204, 255].flatMap { [$0, $0, $0] })
    }

    func testPaletteWithTransparencyGivesThePaletteColours() throws {
        let palette: [UInt8] = [10, 20, 30, 200, 100, 50, 1, 2, 3]
        let png = TestPNG.make(width: 3, height: 2, bitDepth: 4, colorType: 3, rows: [[0x01, 0x20], [0x21, 0x00]],
                               before: [("PLTE", palette), ("tRNS", [0, 128])])
        let colours = [[10, 20, 30], [200, 100, 50], [1, 2, 3]].map { $0.map(UInt8.init) }
        XCTAssertEqual(try load(png: png).pixels, [0, 1, 2, 2, 1, 0].flatMap { colours[$0] })
    }

    func testGrayAlphaAndRGBTransparencyKeepTheColour() throws {
        let grayAlpha = TestPNG.make(width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [[90, 0, 200, 255]])
        XCTAssertEqual(try load(png: grayAlpha).pixels, [90, 90, 90, 200, 200, 200])
        let rgbKey = TestPNG.make(width: 2, height: 1, bitDepth: 8, colorType: 2, rows: [[1, 2, 3, 4, 5, 6]],
                                  before: [("tRNS", [0, 1, 0, 2, 0, 3])])
        XCTAssertEqual(try load(png: rgbKey).pixels, [1, 2, 3, 4, 5, 6])
    }

    func testSixteenBitSamplesAreRoundedNotTruncated() throws {
        // Pairs on both sides of the points where round(v·255/65535) steps up.
        let samples: [UInt16] = [0, 128, 129, 385, 386, 32767, 32896, 65406, 65407, 65535, 12345, 54321]
        let rgb = TestPNG.make(width: 4, height: 1, bitDepth: 16, colorType: 2, rows: [samples.flatMap(TestPNG.be16)])
        XCTAssertEqual(try load(png: rgb).pixels, [0, 0, 1, 1, 2, 127, 128, 254, 255, 255, 48, 211])
        let rgba = TestPNG.make(width: 1, height: 1, bitDepth: 16, colorType: 6, rows: [[386, 65406, 129, 0].flatMap(TestPNG.be16)])
        XCTAssertEqual(try load(png: rgba).pixels, [2, 254, 1])
    }

    func testGammaAndColourProfileChunksAreIgnoredLikePIL() throws {
        let row: [UInt8] = [0, 64, 128, 192, 255, 30]
        let tagged = TestPNG.make(width: 2, height: 1, bitDepth: 8, colorType: 2, rows: [row],
                                  before: [("gAMA", TestPNG.be32(100_000)), ("cHRM", [UInt8](repeating: 0, count: 32))])
        XCTAssertEqual(try load(png: tagged).pixels, row)
        let sixteen = TestPNG.make(width: 1, height: 1, bitDepth: 16, colorType: 0, rows: [[0x80, 0x80]],
                                   before: [("gAMA", TestPNG.be32(100_000))])
        XCTAssertEqual(try load(png: sixteen).pixels, [128, 128, 128])
    }

    func testInterlacedPNGMatchesTheSameImageNonInterlaced() throws {
        let (width, height) = (11, 9)
        let pixels = (0..<width * height * 3).map { (i: Int) -> UInt8 in UInt8((i * 37 + i / 7) & 0xFF) }
        let interlaced = TestPNG.makeInterlacedRGB(width: width, height: height, pixels: pixels)
        XCTAssertEqual(try load(png: interlaced), RGB8Image(width: width, height: height, pixels: pixels))
    }

    // MARK: Errors

    func assertLoadFails(_ path: String, mentioning reason: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try loadImage(path: path), file: file, line: line) { error in
            let message = String(describing: error)
            XCTAssertTrue(error is VAEDistError, "not an VAEDistError: \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(path), "the path is missing from: \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(reason), "'\(reason)' is missing from: \(message)", file: file, line: line)
        }
    }

    func testMissingFile() {
        assertLoadFails(scratch.appendingPathComponent("absent.png").path, mentioning: "No such file or directory")
    }

    func testDirectory() {
        assertLoadFails(scratch.path, mentioning: "Is a directory")
    }

    func testEmptyFile() throws {
        assertLoadFails(try scratchFile("empty.jpg", []), mentioning: "the file is empty")
    }

    func testTextFileNamedPNG() throws {
        assertLoadFails(try scratchFile("notes.png", Array("just some text\n".utf8)), mentioning: "not a PNG or JPEG file")
    }

    func testTruncatedPNG() throws {
        let bytes = try fixtureBytes("astronaut_rgb8.png")
        assertLoadFails(try scratchFile("cut.png", Array(bytes.prefix(bytes.count / 2))), mentioning: "invalid or truncated PNG data")
        assertLoadFails(try scratchFile("header.png", Array(bytes.prefix(20))), mentioning: "invalid PNG header")
    }

    func testCorruptPNGData() throws {
        let rows = [[UInt8](repeating: 7, count: 6), [UInt8](repeating: 9, count: 6)]
        let good = TestPNG.make(width: 2, height: 2, bitDepth: 8, colorType: 2, rows: rows)
        let idat = try XCTUnwrap(TestPNG.offset(of: "IDAT", in: good))
        let dataLength = good[idat..<idat + 4].reduce(0) { $0 << 8 | Int($1) }
        var badCRC = good
        badCRC[idat + 8 + dataLength] ^= 0xFF
        assertLoadFails(try scratchFile("crc.png", badCRC), mentioning: "CRC error")
        var badDeflate = good
        badDeflate[idat + 8 + 3] ^= 0xFF  // the stored block's length no longer matches its complement
        assertLoadFails(try scratchFile("deflate.png", TestPNG.withFixedCRCs(badDeflate)), mentioning: "invalid or truncated PNG data")
    }

    func testCMYKJPEGIsRejectedClearly() throws {
        let cmyk = try TestJPEG.cmyk(width: 16, height: 8)
        assertLoadFails(try scratchFile("print.jpg", cmyk), mentioning: "CMYK JPEGs are not supported")
    }

    func testTruncatedJPEG() throws {
        for name in ["retina_rgb.jpg", "ihc_progressive.jpg", "camera_gray.jpg"] {
            let bytes = try fixtureBytes(name)
            assertLoadFails(try scratchFile("cut-\(name)", Array(bytes.prefix(bytes.count * 2 / 3))),
                            mentioning: "truncated or corrupt JPEG data")
        }
    }

    func testJPEGWithGarbageAfterTheSignature() throws {
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02] + [UInt8](repeating: 0x55, count: 100)
        assertLoadFails(try scratchFile("garbage.jpg", bytes), mentioning: "invalid JPEG header")
    }

    // MARK: Writing

    func testWrittenPNGReadsBackIdentically() throws {
        let (width, height) = (13, 7)
        let image = RGB8Image(width: width, height: height, pixels: (0..<width * height * 3).map { UInt8(($0 * 97) % 256) })
        let path = scratch.appendingPathComponent("sub/dir/out.png").path
        try writePNG(image, to: path)
        XCTAssertEqual(try loadImage(path: path), image)
    }

    func testWritingIntoAFileFails() throws {
        let blocker = try scratchFile("blocker", [1])
        XCTAssertThrowsError(try writePNG(RGB8Image(width: 1, height: 1), to: blocker + "/x.png"))
    }

    func testCHWConversionRoundTripsAndClamps() throws {
        let image = try loadImage(path: fixture("small_upscale.png"))
        XCTAssertEqual(batchImages(imageBatch([image])), [image])
        // Planes R = (-2, 0, 1), G = (-1, NaN, 0.5), B = (1.5, 2, -0.999): clamping, NaN to 0,
        // 0 → 127.5 rounds up, 0.5 → 191.25 and -0.999 → 0.1275 round down.
        let values: [Float] = [-2, 0, 1, -1, .nan, 0.5, 1.5, 2, -0.999]
        XCTAssertEqual(batchImages(Tensor(shape: [1, 3, 1, 3], values: values)).map(\.pixels), [[0, 0, 255, 128, 0, 255, 255, 191, 0]])
    }

    func testNormalizationMatchesTheReferenceFormula() {
        let values = imageBatch([RGB8Image(width: 2, height: 1, pixels: [0, 127, 255, 1, 128, 254])]).array
        XCTAssertEqual(values, [0, 1, 127, 128, 255, 254].map { Float($0) / 255 * 2 - 1 })
        XCTAssertEqual(values[0], -1)
        XCTAssertEqual(values[4], 1)
    }

    func testGridGeometry() {
        let a = RGB8Image(width: 4, height: 3, pixels: [UInt8](repeating: 10, count: 36))
        let b = RGB8Image(width: 2, height: 1, pixels: [UInt8](repeating: 20, count: 6))
        let c = RGB8Image(width: 4, height: 3, pixels: [UInt8](repeating: 30, count: 36))
        let grid = composeGrid([[a, b], [c]], padding: 2, background: 255)
        XCTAssertEqual(grid.width, 2 + 2 * (4 + 2))
        XCTAssertEqual(grid.height, 2 + 2 * (3 + 2))
        func at(_ x: Int, _ y: Int) -> UInt8 { grid.pixels[(y * grid.width + x) * 3] }
        XCTAssertEqual(at(1, 1), 255)
        XCTAssertEqual(at(2, 2), 10)
        XCTAssertEqual(at(5, 4), 10)
        XCTAssertEqual(at(6, 2), 255)
        // b is centred in its 4x3 cell at (8, 2): columns 9-10, row 3.
        XCTAssertEqual(at(8, 3), 255)
        XCTAssertEqual(at(9, 3), 20)
        XCTAssertEqual(at(10, 3), 20)
        XCTAssertEqual(at(11, 3), 255)
        XCTAssertEqual(at(9, 2), 255)
        XCTAssertEqual(at(2, 7), 30)
        XCTAssertEqual(at(5, 9), 30)
        XCTAssertEqual(at(9, 8), 255, "the missing cell of the short row is background")
        XCTAssertEqual(grid.pixels.filter { $0 == 10 }.count, 36)
        XCTAssertEqual(grid.pixels.filter { $0 == 20 }.count, 6)
        XCTAssertEqual(grid.pixels.filter { $0 == 30 }.count, 36)
    }

    func testIsImageFile() {
        XCTAssertTrue(isImageFile("a/b.png"))
        XCTAssertTrue(isImageFile("B.JPG"))
        XCTAssertTrue(isImageFile("c.Jpeg"))
        XCTAssertFalse(isImageFile("d.gif"))
        XCTAssertFalse(isImageFile("png"))
        XCTAssertFalse(isImageFile("e.png.txt"))
    }
}

/// A minimal PNG writer (zlib "stored" blocks, no filtering) for inputs libpng's simplified writer cannot
/// produce: low bit depths, palettes with tRNS, gamma chunks, interlacing, deliberate damage.
enum TestPNG {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }

    static func crc(_ bytes: [UInt8]) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { crcTable[Int(($0 ^ UInt32($1)) & 0xFF)] ^ ($0 >> 8) }
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc(body))
    }

    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let final: UInt8 = start + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[start..<start + n]
            start += n
        } while start < data.count
        var (a, b): (UInt32, UInt32) = (1, 0)
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + be32(b << 16 | a)
    }

    /// `rows` are packed scanlines without the filter byte.
    static func make(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
                     before: [(String, [UInt8])] = [], interlace: UInt8 = 0) -> [UInt8] {
        let header = be32(UInt32(width)) + be32(UInt32(height)) + [bitDepth, colorType, 0, 0, interlace]
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
        for (type, data) in before { file += chunk(type, data) }
        file += chunk("IDAT", zlibStored(rows.flatMap { [0] + $0 }))
        return file + chunk("IEND", [])
    }

    /// 8-bit RGB in Adam7 order: seven sub-images, each row with its own filter byte, empty passes omitted.
    static func makeInterlacedRGB(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        var rows = [[UInt8]]()
        for (x0, y0, dx, dy) in passes where x0 < width && y0 < height {
            for y in stride(from: y0, to: height, by: dy) {
                rows.append(stride(from: x0, to: width, by: dx).flatMap { x in pixels[(y * width + x) * 3..<(y * width + x) * 3 + 3] })
            }
        }
        return make(width: width, height: height, bitDepth: 8, colorType: 2, rows: rows, interlace: 1)
    }

    /// Recomputes every chunk's CRC, so that damage is found by the decoder rather than by the checksum.
    static func withFixedCRCs(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var offset = 8
        while offset + 12 <= out.count {
            let length = out[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            out.replaceSubrange(offset + 8 + length..<offset + 12 + length, with: be32(crc(Array(out[offset + 4..<offset + 8 + length]))))
            offset += 12 + length
        }
        return out
    }

    /// Byte offset of the first chunk of that type (its length field).
    static func offset(of type: String, in bytes: [UInt8]) -> Int? {
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            if String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self) == type { return offset }
            offset += 12 + length
        }
        return nil
    }
}

/// CMYK JPEGs made with TurboJPEG's encoder (it writes them as YCCK, as Photoshop does).
enum TestJPEG {
    static func cmyk(width: Int, height: Int) throws -> [UInt8] {
        let handle = try XCTUnwrap(tjInitCompress())
        defer { tjDestroy(handle) }
        let pixels = (0..<width * height * 4).map { UInt8(truncatingIfNeeded: $0 * 13) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = tjCompress2(handle, pixels, Int32(width), 0, Int32(height), Int32(TJPF_CMYK.rawValue),
                                 &buffer, &size, Int32(TJSAMP_444.rawValue), 90, 0)
        defer { tjFree(buffer) }
        XCTAssertEqual(status, 0, String(cString: tjGetErrorStr2(handle)))
        return Array(UnsafeBufferPointer(start: try XCTUnwrap(buffer), count: Int(size)))
    }
}
