@testable import VAECore
@testable import VAEFormats
@testable import VAETraining
import XCTest

/// PSNR and SSIM against scikit-image on the pairs of tools/make_training_references.py.
final class ImageQualityTests: XCTestCase {
    func testMatchesScikitImage() throws {
        let reference = try XCTUnwrap(Fixtures.json("training/reference.json")["image_quality"] as? [String: [String: Double]])
        let file = try SafeTensors.read(path: Fixtures.path("training/image_quality.safetensors"))
        XCTAssertEqual(reference.count, 3)
        for (name, values) in reference {
            let a = try Fixtures.tensor(file, "\(name).a"), b = try Fixtures.tensor(file, "\(name).b")
            XCTAssertEqual(ImageQuality.psnr(a, b), values["psnr"]!, accuracy: 1e-6, name)
            XCTAssertEqual(try ImageQuality.ssim(a, b), values["ssim"]!, accuracy: 1e-6, name)
        }
    }

    func testIdenticalImagesAreOneAndInfinite() throws {
        let a = Tensor(shape: [1, 12, 12], values: (0..<144).map { Float($0 % 7) / 7 })
        XCTAssertEqual(try ImageQuality.ssim(a, a), 1, accuracy: 1e-12)
        XCTAssertEqual(ImageQuality.psnr(a, a), .infinity)
    }

    func testTooSmallForTheWindowIsAnError() {
        let a = Tensor(shape: [1, 8, 8])
        XCTAssertThrowsError(try ImageQuality.ssim(a, a))
    }
}
