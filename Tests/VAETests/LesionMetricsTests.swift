import Foundation
@testable import VAEAnalysis
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
@testable import VAETools
import XCTest

/// The lesion metrics: the mask at each layer's resolution, where the difference energy lies, mask discovery,
/// and on phantoms with known lesions that the difference concentrates in them.
final class LesionMetricsTests: TemporaryDirectoryTestCase {
    func testAreaAveragingKeepsTheAreaFractionAtAnyResolution() {
        // A 6×6 mask with a 2×3 block inside: 6 of 36 pixels.
        var coverage = [Double](repeating: 0, count: 36)
        for y in 1..<3 { for x in 2..<5 { coverage[y * 6 + x] = 1 } }
        let mask = LesionMask(width: 6, height: 6, coverage: coverage)
        XCTAssertEqual(mask.areaFraction, 6.0 / 36)
        // 3×3: each output is a 2×2 block's mean.
        XCTAssertEqual(mask.resampled(width: 3, height: 3), [0, 0.5, 0.25, 0, 0.5, 0.25, 0, 0, 0])
        for (w, h) in [(3, 3), (4, 4), (5, 2), (1, 1), (12, 12), (7, 5)] {
            let resampled = mask.resampled(width: w, height: h)
            XCTAssertEqual(resampled.reduce(0, +) / Double(w * h), 6.0 / 36, accuracy: 1e-12, "\(w)×\(h)")
            XCTAssertTrue(resampled.allSatisfy { (0...1.0000000001).contains($0) }, "\(w)×\(h)")
        }
        // The contour: the block's pixels all touch the outside.
        XCTAssertEqual(mask.contour.filter { $0 }.count, 6)
    }

    func testEnergyInsideAndOutsideOnAHandMadePair() {
        // One channel, 2×2: a − b = [3, 0, 0, 1]; the mask covers the top-left pixel fully, the top-right half.
        let output = Tensor(shape: [2, 1, 2, 2], values: [3, 5, 1, 1] + [0, 5, 1, 0])
        let mask = LesionMask(width: 2, height: 2, coverage: [1, 0.5, 0, 0])
        let layer = compareBatchItems(output.batchItems, layer: "x", mask: mask).difference
        let lesion = try! XCTUnwrap(layer.lesion)
        XCTAssertEqual(lesion.inside, 9)
        XCTAssertEqual(lesion.areaFraction, 0.375)
        XCTAssertEqual(layer.value(of: .lesionEnergyFraction)!, 0.9, accuracy: 1e-15)
        XCTAssertEqual(layer.value(of: .lesionAreaFraction), 0.375)
        XCTAssertEqual(layer.value(of: .lesionEnrichment)!, 0.9 / 0.375, accuracy: 1e-15)
        XCTAssertEqual(layer.value(of: .energyPerAreaInside)!, 9 / 1.5, accuracy: 1e-15)
        XCTAssertEqual(layer.value(of: .energyPerAreaOutside)!, 1 / 2.5, accuracy: 1e-15)
        // Without a mask the lesion metrics are undefined and not reported.
        let plain = compareBatchItems(output.batchItems, layer: "x").difference
        XCTAssertNil(plain.lesion)
        XCTAssertNil(plain.value(of: .lesionEnrichment))
        XCTAssertEqual(plain.undefinedReason(of: .lesionEnrichment), .noMask)
        XCTAssertEqual(DifferenceMetric.reported(.l2, layers: [plain]), [.l2Value, .l2PerElement])
        XCTAssertEqual(DifferenceMetric.reported(.l2, layers: [layer]), [.l2Value, .l2PerElement] + DifferenceMetric.lesionMetrics)
    }

    func writeMask(_ inside: (Int, Int) -> Bool, size: Int, to path: String) throws {
        let pixels = (0..<size * size).flatMap { p -> [UInt8] in
            let v: UInt8 = inside(p % size, p / size) ? 255 : 0
            return [v, v, v]
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try writePNG(RGB8Image(width: size, height: size, pixels: pixels), to: path)
    }

    func testMasksAreFoundInBUSILayoutMergedAndRefusedWhenEmptyOrMissing() throws {
        let busi = "\(dir!)/busi"
        for name in ["benign (1)", "benign (2)"] {
            try writeMask({ _, _ in true }, size: 8, to: "\(busi)/positive/\(name).png")
            try writeMask({ _, _ in true }, size: 8, to: "\(busi)/negative/\(name).png")
        }
        try writeMask({ x, _ in x < 2 }, size: 8, to: "\(busi)/positive/benign (1)_mask.png")
        try writeMask({ x, _ in x >= 6 }, size: 8, to: "\(busi)/positive/benign (1)_mask_1.png")
        try writeMask({ _, y in y < 4 }, size: 8, to: "\(busi)/positive/benign (2)_mask.png")
        let found = try PairFolder.scan(busi)
        XCTAssertEqual(found.pairs.map(\.name), ["benign (1)", "benign (2)"], "masks are not taken for images")
        XCTAssertTrue(found.unpaired.isEmpty, "\(found.unpaired)")
        XCTAssertEqual(found.pairs[0].masks.map { ($0 as NSString).lastPathComponent }, ["benign (1)_mask.png", "benign (1)_mask_1.png"])
        XCTAssertEqual(found.pairs[1].masks.map { ($0 as NSString).lastPathComponent }, ["benign (2)_mask.png"])
        // Two masks of one image are merged: 2 + 2 of 8 columns.
        XCTAssertEqual(try LesionMask.load(found.pairs[0].masks, size: 8).areaFraction, 0.5)

        // A pair without its mask, once masks are in use, is named.
        try FileManager.default.removeItem(atPath: "\(busi)/positive/benign (2)_mask.png")
        XCTAssertThrowsError(try PairFolder.scan(busi)) { XCTAssertTrue("\($0)".contains("benign (2)"), "\($0)") }

        // --masks DIR by stem with another extension; an empty mask is refused with its name.
        let masks = "\(dir!)/masks"
        try writeMask({ _, _ in false }, size: 8, to: "\(masks)/benign (1).png")
        try writeMask({ x, y in x == y }, size: 8, to: "\(masks)/benign (2).png")
        let byFolder = try PairFolder.scan(busi, masks: masks)
        XCTAssertEqual(byFolder.pairs.map { ($0.masks.first! as NSString).lastPathComponent }, ["benign (1).png", "benign (2).png"])
        XCTAssertThrowsError(try LesionMask.load(byFolder.pairs[0].masks, size: 8)) {
            XCTAssertTrue("\($0)".contains("benign (1).png") && "\($0)".contains("no lesion pixel"), "\($0)")
        }
        XCTAssertThrowsError(try PairFolder.scan(busi, masks: "\(dir!)/nowhere")) { XCTAssertTrue("\($0)".contains("--masks"), "\($0)") }
    }

    /// Phantoms with known lesions (vae-dist synth-data's pairs and masks/) and a random-weight model: the
    /// difference between a lesion image and its lesion-free twin must concentrate in the lesion. Convolutions
    /// are local, so the layers respond where the latent changed: every layer's energy per unit area inside the
    /// lesion must be at least twice its average (enrichment ≥ 2; measured 2.5 to 8.6), and decoder.conv_in,
    /// nearest the latent, at least four times (measured 4.7 to 8.6).
    func testPhantomLesionsConcentrateTheDifference() throws {
        let summary = try writePhantoms(PhantomOptions(outputDirectory: dir, trainingCount: 1, pairCount: 3, imageSize: 64, seed: 4))
        let folder = try PairFolder.scan("\(dir!)/pairs")
        XCTAssertEqual(folder.pairs.count, 3)
        XCTAssertEqual(folder.pairs.map { $0.masks.map { ($0 as NSString).lastPathComponent } }, summary.pairNames.map { [$0] })
        let model = AutoencoderKL(VAEConfig(ch: 32, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4,
                                            embedDim: 4, resolution: 64))
        model.initialize(seed: 1)
        for pair in folder.pairs {
            let images = (try loadResized(pair.positive, size: 64), try loadResized(pair.negative, size: 64))
            let mask = try LesionMask.load(pair.masks, size: 64)
            let analysis = PairAnalysis(images: images, mask: mask, with: model)
            let enrichment = try analysis.layers.map { try XCTUnwrap($0.value(of: .lesionEnrichment), "\(pair.name) \($0.layer)") }
            for (layer, value) in zip(analysis.layers, enrichment) {
                XCTAssertGreaterThanOrEqual(value, 2, "\(pair.name) \(layer.layer)")
                XCTAssertEqual(layer.value(of: .lesionAreaFraction)!, mask.areaFraction, accuracy: 1e-12)
            }
            XCTAssertEqual(analysis.layers[0].layer, "decoder.conv_in")
            XCTAssertGreaterThanOrEqual(enrichment[0], 4, "\(pair.name) decoder.conv_in")
        }
    }
}
