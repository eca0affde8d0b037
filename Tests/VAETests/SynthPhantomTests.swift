import Foundation
@testable import VAEFormats
@testable import VAETools
import XCTest

/// The phantom generator behind `vae-dist synth-data`: determinism, pairs that differ only around the lesion,
/// plausible lesion and tissue statistics, and the files and lesions.json that `writePhantoms` writes.
final class SynthPhantomTests: TemporaryDirectoryTestCase {
    /// Enough seeds to meet every lesion kind, both posterior features and both probe shapes.
    let seeds: [UInt64] = Array(0..<24)
    let size = 128

    func testSameSeedGivesTheSameImagesAndOtherSeedsOtherImages() {
        let a = renderPhantom(size: size, seed: 7, withLesion: true)
        let b = renderPhantom(size: size, seed: 7, withLesion: true)
        XCTAssertTrue(a.positive == b.positive)
        XCTAssertTrue(a.negative == b.negative)
        XCTAssertEqual(a.lesionMask, b.lesionMask)
        XCTAssertEqual(a.lesion, b.lesion)

        let other = renderPhantom(size: size, seed: 8, withLesion: true)
        XCTAssertFalse(a.negative == other.negative)
        XCTAssertFalse(a.positive == other.positive)
        XCTAssertNotEqual(a.lesion, other.lesion)
    }

    func testTheTissueDoesNotDependOnWhetherALesionIsDrawn() {
        let withLesion = renderPhantom(size: size, seed: 11, withLesion: true)
        let without = renderPhantom(size: size, seed: 11, withLesion: false)
        XCTAssertTrue(without.negative == withLesion.negative)
        XCTAssertTrue(without.positive == without.negative)
        XCTAssertNil(without.lesion)
        XCTAssertFalse(without.lesionMask.contains(true))
        XCTAssertFalse(withLesion.positive == withLesion.negative)
    }

    /// Pixels that differ lie in the reported changed box, and in the lesion's neighbourhood: its box grown by
    /// half its size (soft edge and rim), or below it in a cone that holds the shadow or enhancement (the beams
    /// of a fan tilt by at most ~20°, a slope below 0.36).
    func testPairsDifferOnlyAroundTheLesionAndItsPosteriorRegion() throws {
        var kinds = Set<LesionKind>(), posteriors = Set<String>()
        for seed in seeds {
            let phantom = renderPhantom(size: size, seed: seed, withLesion: true)
            let lesion = try XCTUnwrap(phantom.lesion)
            kinds.insert(lesion.kind)
            posteriors.insert(lesion.posterior.rawValue)
            let box = lesion.boundingBox
            let margin = 4 + max(box.x1 - box.x0, box.y1 - box.y0) / 2
            let centreY = lesion.center[1]
            var differing = 0
            var outsideBox: (x: Int, y: Int)?, farAway: (x: Int, y: Int)?
            for y in 0..<size {
                for x in 0..<size where grey(phantom.positive, x, y) != grey(phantom.negative, x, y) {
                    differing += 1
                    if !lesion.changedBox.contains(x: x, y: y) { outsideBox = outsideBox ?? (x, y) }
                    let nearOutline = box.expanded(by: margin, size: size).contains(x: x, y: y)
                    let sideways = Double(max(box.x0 - x, x - (box.x1 - 1), 0))
                    let inCone = Double(y) > centreY && sideways <= Double(margin) + 0.36 * (Double(y) - centreY)
                    if !nearOutline && !inCone { farAway = farAway ?? (x, y) }
                }
            }
            XCTAssertNil(outsideBox, "seed \(seed): a pixel differs outside the changed box \(lesion.changedBox)")
            XCTAssertNil(farAway, "seed \(seed): a pixel differs far from the lesion \(box)")
            XCTAssertGreaterThanOrEqual(differing, lesion.areaPixels / 2, "seed \(seed)")
            XCTAssertLessThan(differing, size * size / 3, "seed \(seed): the lesion should change a region, not the image")
        }
        XCTAssertEqual(kinds, Set(LesionKind.allCases), "seeds \(seeds) should cover every lesion kind")
        XCTAssertEqual(posteriors, ["none", "shadow", "enhancement"])
    }

    func testTheMaskMatchesTheRecordAndTheLesionIsDarkerThanTheSameTissueWithoutIt() throws {
        for seed in seeds {
            let phantom = renderPhantom(size: size, seed: seed, withLesion: true)
            let lesion = try XCTUnwrap(phantom.lesion)
            let inside = maskPixels(phantom.lesionMask)
            XCTAssertEqual(inside.count, lesion.areaPixels, "seed \(seed)")
            XCTAssertGreaterThan(inside.count, 8, "seed \(seed)")
            XCTAssertTrue(inside.allSatisfy { lesion.boundingBox.contains(x: $0.x, y: $0.y) }, "seed \(seed)")
            XCTAssertEqual(lesion.boundingBox, boundingBox(of: inside), "seed \(seed)")
            let centre = (x: Int(lesion.center[0]), y: Int(lesion.center[1]))
            XCTAssertTrue(phantom.lesionMask[centre.y * size + centre.x], "seed \(seed): the centre lies inside the outline")

            let lesionMean = mean(phantom.positive, inside)
            let sameTissueMean = mean(phantom.negative, inside)
            XCTAssertLessThan(lesionMean + 15, sameTissueMean, "seed \(seed) (\(lesion.kind)): lesion \(lesionMean), tissue \(sameTissueMean)")
        }
    }

    /// The ring beside and above the lesion (below it a shadow or enhancement would bias the comparison).
    func testTheLesionIsDarkerThanTheTissueAroundIt() throws {
        for seed in seeds {
            let phantom = renderPhantom(size: size, seed: seed, withLesion: true)
            let lesion = try XCTUnwrap(phantom.lesion)
            let inside = maskPixels(phantom.lesionMask)
            let box = lesion.boundingBox
            let reach = max(4, (box.x1 - box.x0 + box.y1 - box.y0) / 4)
            let ring = box.expanded(by: reach, size: size)
            var around: [(x: Int, y: Int)] = []
            for y in ring.y0..<ring.y1 where Double(y) < lesion.center[1] {
                for x in ring.x0..<ring.x1 where !box.contains(x: x, y: y) && grey(phantom.negative, x, y) > 0 {
                    around.append((x, y))
                }
            }
            XCTAssertFalse(around.isEmpty, "seed \(seed)")
            let lesionMean = mean(phantom.positive, inside), aroundMean = mean(phantom.positive, around)
            XCTAssertLessThan(lesionMean + 10, aroundMean, "seed \(seed) (\(lesion.kind)): lesion \(lesionMean), around \(aroundMean)")
        }
    }

    /// Speckle everywhere inside the field: no flat patches, and neighbouring pixels differ far more than smooth
    /// tissue would make them. Darker with depth.
    func testImagesAreSpeckledAndDarkenWithDepth() {
        for seed in seeds.prefix(8) {
            let image = renderPhantom(size: size, seed: seed, withLesion: false).negative
            var deviations: [Double] = []
            for y0 in stride(from: 0, to: size, by: 8) {
                for x0 in stride(from: 0, to: size, by: 8) {
                    let window = (y0..<y0 + 8).flatMap { y in (x0..<x0 + 8).map { (x: $0, y: y) } }
                    // Windows touching the black surround of a fan are not tissue.
                    guard window.allSatisfy({ grey(image, $0.x, $0.y) > 0 }) else { continue }
                    let m = mean(image, window)
                    deviations.append((window.reduce(0) { $0 + pow(Double(grey(image, $1.x, $1.y)) - m, 2) } / 64).squareRoot())
                }
            }
            XCTAssertGreaterThan(deviations.count, 100, "seed \(seed)")
            XCTAssertGreaterThan(deviations.min() ?? 0, 1, "seed \(seed): a flat patch")
            var step = 0.0, pairs = 0.0
            for y in 0..<size {
                for x in 0..<size - 1 where grey(image, x, y) > 0 && grey(image, x + 1, y) > 0 {
                    step += abs(Double(grey(image, x, y)) - Double(grey(image, x + 1, y)))
                    pairs += 1
                }
            }
            XCTAssertGreaterThan(step / pairs, 6, "seed \(seed): too little speckle")

            let glandular = mean(image, rows(size / 4..<size / 2)), deep = mean(image, rows(size * 7 / 8..<size))
            XCTAssertLessThan(deep + 20, glandular, "seed \(seed): the deepest rows should be darker")
        }
    }

    func testLesionsAreSpreadEvenlyOverTrainingImages() {
        for count in [1, 2, 3, 7, 64, 100] {
            XCTAssertEqual((0..<count).filter { trainingHasLesion($0, fraction: 2.0 / 3) }.count, count * 2 / 3, "count \(count)")
            XCTAssertFalse((0..<count).contains { trainingHasLesion($0, fraction: 0) })
            XCTAssertTrue((0..<count).allSatisfy { trainingHasLesion($0, fraction: 1) })
        }
        XCTAssertEqual((0..<6).map { trainingHasLesion($0, fraction: 2.0 / 3) }, [false, true, true, false, true, true])
        XCTAssertEqual(caseFileName(0, of: 64), "case_0001.png")
        XCTAssertEqual(caseFileName(12344, of: 12345), "case_12345.png")
        XCTAssertEqual(caseFileName(0, of: 12345), "case_00001.png")
    }

    func testWritesTrainingImagesPairsMasksAndLesionsJSON() throws {
        let out = "\(dir!)/phantoms"
        let options = PhantomOptions(outputDirectory: out, trainingCount: 5, pairCount: 3, imageSize: 64, seed: 4)
        let summary = try writePhantoms(options)
        let names = ["case_0001.png", "case_0002.png", "case_0003.png"]
        XCTAssertEqual(summary.trainingImages, (1...5).map { "\(out)/train/case_000\($0).png" })
        XCTAssertEqual(summary.trainingWithLesion, 3)
        XCTAssertEqual(summary.pairNames, names)
        XCTAssertEqual(summary.lesionsFile, "\(out)/pairs/lesions.json")

        for (index, path) in summary.trainingImages.enumerated() {
            let expected = renderPhantom(size: 64, seed: caseSeed(4, stream: 1, index: index),
                                         withLesion: trainingHasLesion(index, fraction: 2.0 / 3))
            XCTAssertTrue(try loadImage(path: path) == expected.positive, path)
        }
        let file = try JSONDecoder().decode(PhantomLesionsFile.self,
                                            from: Data(contentsOf: URL(fileURLWithPath: "\(out)/pairs/lesions.json")))
        XCTAssertEqual(file.imageSize, 64)
        XCTAssertEqual(file.seed, 4)
        XCTAssertEqual(file.pairs.map(\.name), names)
        for (index, pair) in file.pairs.enumerated() {
            let expected = renderPhantom(size: 64, seed: caseSeed(4, stream: 2, index: index), withLesion: true)
            XCTAssertTrue(try loadImage(path: "\(out)/pairs/positive/\(pair.name)") == expected.positive, pair.name)
            XCTAssertTrue(try loadImage(path: "\(out)/pairs/negative/\(pair.name)") == expected.negative, pair.name)
            let mask = try loadImage(path: "\(out)/pairs/masks/\(pair.name)")
            XCTAssertTrue(mask == maskImage(expected.lesionMask, size: 64), pair.name)
            XCTAssertEqual(mask.pixels.filter { $0 == 255 }.count, 3 * pair.lesion.areaPixels)
            XCTAssertEqual(pair.lesion, expected.lesion)
        }
    }

    func testTheSameOptionsWriteTheSameBytesAndCountsDoNotChangeOtherImages() throws {
        let first = try writePhantoms(PhantomOptions(outputDirectory: "\(dir!)/a", trainingCount: 3, pairCount: 2, imageSize: 48))
        _ = try writePhantoms(PhantomOptions(outputDirectory: "\(dir!)/b", trainingCount: 3, pairCount: 2, imageSize: 48))
        _ = try writePhantoms(PhantomOptions(outputDirectory: "\(dir!)/more", trainingCount: 6, pairCount: 4, imageSize: 48))
        _ = try writePhantoms(PhantomOptions(outputDirectory: "\(dir!)/seed", trainingCount: 3, pairCount: 2, imageSize: 48, seed: 1))
        let files = first.trainingImages.map { String($0.dropFirst("\(dir!)/a/".count)) }
            + first.pairNames.flatMap { ["pairs/positive/\($0)", "pairs/negative/\($0)", "pairs/masks/\($0)"] }
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/a/\(file)"))
            XCTAssertTrue(try bytes == Data(contentsOf: URL(fileURLWithPath: "\(dir!)/b/\(file)")), file)
            XCTAssertTrue(try bytes == Data(contentsOf: URL(fileURLWithPath: "\(dir!)/more/\(file)")), file)
            if !file.hasPrefix("pairs/masks") {
                XCTAssertFalse(try bytes == Data(contentsOf: URL(fileURLWithPath: "\(dir!)/seed/\(file)")), file)
            }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/a/pairs/lesions.json")),
                       try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/b/pairs/lesions.json")))
    }

    /// Rerunning is fine; a smaller run into a bigger run's folder would leave images that get mixed in.
    func testRefusesToMixWithImagesOfAnotherRun() throws {
        let out = "\(dir!)/phantoms"
        _ = try writePhantoms(PhantomOptions(outputDirectory: out, trainingCount: 4, pairCount: 2, imageSize: 32))
        _ = try writePhantoms(PhantomOptions(outputDirectory: out, trainingCount: 4, pairCount: 2, imageSize: 32))
        XCTAssertThrowsError(try writePhantoms(PhantomOptions(outputDirectory: out, trainingCount: 2, pairCount: 2, imageSize: 32))) {
            let message = "\($0)"
            for part in ["\(out)/train", "2 image(s)", "case_0003.png", "Remove them"] {
                XCTAssertTrue(message.contains(part), "message lacks '\(part)': \(message)")
            }
        }
        XCTAssertThrowsError(try writePhantoms(PhantomOptions(outputDirectory: out, trainingCount: 4, pairCount: 1, imageSize: 32))) {
            XCTAssertTrue("\($0)".contains("\(out)/pairs/positive"), "\($0)")
        }
        _ = try writePhantoms(PhantomOptions(outputDirectory: out, trainingCount: 4, pairCount: 0, imageSize: 32))
    }

    // MARK: helpers

    private func grey(_ image: RGB8Image, _ x: Int, _ y: Int) -> UInt8 { image.pixels[3 * (y * image.width + x)] }

    private func mean(_ image: RGB8Image, _ pixels: [(x: Int, y: Int)]) -> Double {
        pixels.reduce(0) { $0 + Double(grey(image, $1.x, $1.y)) } / Double(max(pixels.count, 1))
    }

    private func rows(_ range: Range<Int>) -> [(x: Int, y: Int)] {
        range.flatMap { y in (0..<size).map { (x: $0, y: y) } }
    }

    private func maskPixels(_ mask: [Bool]) -> [(x: Int, y: Int)] {
        mask.indices.filter { mask[$0] }.map { (x: $0 % size, y: $0 / size) }
    }

    private func boundingBox(of pixels: [(x: Int, y: Int)]) -> PixelBox {
        PixelBox(x0: pixels.map(\.x).min()!, y0: pixels.map(\.y).min()!, x1: pixels.map(\.x).max()! + 1, y1: pixels.map(\.y).max()! + 1)
    }
}
