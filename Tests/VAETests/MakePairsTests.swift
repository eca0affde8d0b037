import Foundation
@testable import VAEAnalysis
@testable import VAECore
@testable import VAEFormats
@testable import VAETools
import XCTest

/// make-pairs on phantoms whose lesion-free originals are known (`vae-dist synth-data` writes both): the filled
/// region must look like the true background in brightness and in speckle texture.
final class MakePairsTests: TemporaryDirectoryTestCase {
    /// Mean and speckle contrast (std of pixel − its 3×3 mean) of the grey values at `pixels`.
    func statistics(_ image: RGB8Image, at pixels: [Int]) -> (mean: Double, texture: Double) {
        let w = image.width
        let grey = { (i: Int) in Double(image.pixels[3 * i]) }
        let mean = pixels.reduce(0) { $0 + grey($1) } / Double(pixels.count)
        let residuals = pixels.map { i -> Double in
            let (x, y) = (i % w, i / w)
            var sum = 0.0, n = 0.0
            for v in max(0, y - 1)...min(image.height - 1, y + 1) {
                for u in max(0, x - 1)...min(w - 1, x + 1) { sum += grey(v * w + u); n += 1 }
            }
            return grey(i) - sum / n
        }
        let rm = residuals.reduce(0, +) / Double(residuals.count)
        return (mean, (residuals.reduce(0) { $0 + ($1 - rm) * ($1 - rm) } / Double(residuals.count)).squareRoot())
    }

    /// Inside each lesion, against the true background: the fill's mean within 25 grey levels (15 on average
    /// over the pairs; the tissue under a lesion cannot be known exactly from around it: measured 5 to 22, 13 on
    /// average), and its speckle contrast (std of pixel − 3×3 mean) within 0.75…1.35 times the truth's (measured
    /// 0.92 to 1.21). A flat fill at the true mean would pass the first but fails the second (below 0.6), which
    /// is what the texture measure is for.
    func testFilledLesionsMatchTheTrueBackgroundInMeanAndTexture() throws {
        let phantoms = "\(dir!)/phantoms"
        let summary = try writePhantoms(PhantomOptions(outputDirectory: phantoms, trainingCount: 1, pairCount: 6, imageSize: 128, seed: 2))
        let made = try makePairs(MakePairsOptions(images: summary.positiveDirectory, masks: summary.maskDirectory,
                                                  output: "\(dir!)/pairs"))
        XCTAssertEqual(made.pairs, summary.pairNames.map { ($0 as NSString).deletingPathExtension })
        var meanErrors: [Double] = []
        for name in summary.pairNames {
            let truth = try loadImage(path: "\(summary.negativeDirectory)/\(name)")
            let filled = try loadImage(path: "\(dir!)/pairs/negative/\(name)")
            let original = try loadImage(path: "\(summary.positiveDirectory)/\(name)")
            XCTAssertEqual(try loadImage(path: "\(dir!)/pairs/positive/\(name)"), original)
            let mask = try loadImage(path: "\(dir!)/pairs/masks/\(name)")
            let lesion = (0..<mask.width * mask.height).filter { mask.pixels[3 * $0] == 255 }
            XCTAssertFalse(lesion.isEmpty, name)
            let dilated = LesionInpainting.dilated((0..<mask.width * mask.height).map { mask.pixels[3 * $0] == 255 },
                                                   width: mask.width, height: mask.height, radius: 5)
            for i in 0..<mask.width * mask.height where !dilated[i] {
                XCTAssertEqual(filled.pixels[3 * i], original.pixels[3 * i], "\(name): pixel \(i) outside the region changed")
            }
            let expected = statistics(truth, at: lesion), got = statistics(filled, at: lesion)
            XCTAssertEqual(got.mean, expected.mean, accuracy: 25, "\(name) mean")
            meanErrors.append(abs(got.mean - expected.mean))
            XCTAssertGreaterThan(got.texture / expected.texture, 0.75, "\(name) texture")
            XCTAssertLessThan(got.texture / expected.texture, 1.35, "\(name) texture")
            var flat = truth
            for i in lesion { for c in 0..<3 { flat.pixels[3 * i + c] = UInt8(expected.mean.rounded()) } }
            XCTAssertLessThan(statistics(flat, at: lesion).texture / expected.texture, 0.6, "a flat fill fails the texture test")
        }
        XCTAssertLessThanOrEqual(meanErrors.reduce(0, +) / Double(meanErrors.count), 15, "\(meanErrors)")
    }

    func testBUSILayoutMergesMasksAndSkipsNormalCases() throws {
        let busi = "\(dir!)/busi"
        try FileManager.default.createDirectory(atPath: busi, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 1)
        let speckle = { RGB8Image(width: 40, height: 40, pixels: (0..<1600).flatMap { _ -> [UInt8] in let g = UInt8(60 + rng.next() % 80); return [g, g, g] }) }
        let square = { (x0: Int, y0: Int) in
            RGB8Image(width: 40, height: 40, pixels: (0..<1600).flatMap { i -> [UInt8] in
                let inside = (x0..<x0 + 6).contains(i % 40) && (y0..<y0 + 6).contains(i / 40)
                return [UInt8](repeating: inside ? 255 : 0, count: 3)
            })
        }
        try writePNG(speckle(), to: "\(busi)/benign (1).png")
        try writePNG(square(8, 8), to: "\(busi)/benign (1)_mask.png")
        try writePNG(square(24, 20), to: "\(busi)/benign (1)_mask_1.png")
        try writePNG(speckle(), to: "\(busi)/normal (1).png")
        try writePNG(square(100, 100), to: "\(busi)/normal (1)_mask.png")
        let made = try makePairs(MakePairsOptions(images: busi, output: "\(dir!)/out", inpainting: LesionInpainting(dilate: 2)))
        XCTAssertEqual(made.pairs, ["benign (1)"])
        XCTAssertEqual(made.skipped, ["normal (1).png: empty mask (no lesion)"])
        let mask = try loadImage(path: "\(dir!)/out/masks/benign (1).png")
        XCTAssertEqual(mask.pixels.filter { $0 == 255 }.count, 2 * 36 * 3, "both masks merged")
        let folder = try PairFolder.scan("\(dir!)/out")
        XCTAssertEqual(folder.pairs.map(\.name), ["benign (1)"])
        XCTAssertEqual(folder.pairs[0].masks.count, 1)
        XCTAssertThrowsError(try makePairs(MakePairsOptions(images: "\(dir!)/nowhere", output: "\(dir!)/o2"))) {
            XCTAssertTrue("\($0)".contains("--images"), "\($0)")
        }
    }
}
