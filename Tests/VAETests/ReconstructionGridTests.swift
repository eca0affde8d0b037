@testable import VAETraining
import XCTest

/// Which images the reconstruction grids show: spread over the classes, not the first ones of one.
final class ReconstructionGridTests: XCTestCase {
    func testImagesAreDrawnAcrossFoldersAndThroughEach() {
        // BUSI-like: 10 benign, 5 malignant, 3 normal, listed in text order as a folder listing gives them.
        let benign = (1...10).map { "data/benign/benign (\($0)).png" }.sorted()
        let malignant = (1...5).map { "data/malignant/malignant (\($0)).png" }
        let normal = (1...3).map { "data/normal/normal (\($0)).png" }
        let paths = benign + malignant + normal
        let chosen = ReconstructionGrids.sample(paths: paths, total: paths.count, count: 8).map { paths[$0] }
        XCTAssertEqual(chosen, ["data/benign/benign (2).png", "data/benign/benign (6).png", "data/benign/benign (9).png",
                                "data/malignant/malignant (1).png", "data/malignant/malignant (3).png", "data/malignant/malignant (5).png",
                                "data/normal/normal (1).png", "data/normal/normal (3).png"])
        // A small folder gives what it has and the others the rest.
        let two = ["a/x1.png", "a/x2.png", "b/y1.png"]
        XCTAssertEqual(ReconstructionGrids.sample(paths: two, total: 3, count: 8), [0, 1, 2])
        XCTAssertEqual(ReconstructionGrids.sample(paths: two, total: 3, count: 2).map { two[$0] }, ["a/x2.png", "b/y1.png"])
        // Without files (images made in memory): evenly through all.
        XCTAssertEqual(ReconstructionGrids.sample(paths: [], total: 10, count: 4), [1, 3, 6, 8])
        XCTAssertEqual(ReconstructionGrids.sample(paths: [], total: 0, count: 4), [])
        XCTAssertEqual(ReconstructionGrids.sample(paths: [], total: 5, count: 0), [])
    }

    func testCaptionsNameTheClassOnce() {
        XCTAssertEqual("data/benign/benign (3).png".shortFileName, "benign (3)")
        XCTAssertEqual("phantoms/train/img_0004.png".shortFileName, "train/img_0004")
        XCTAssertEqual("img.png".shortFileName, "img")
    }
}
