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
            let (c, h, w) = (a.shape[0], a.shape[1], a.shape[2])
            XCTAssertEqual(ImageQuality.psnr(a.data, b.data, count: a.count), values["psnr"]!, accuracy: 1e-6, name)
            XCTAssertEqual(try ImageQuality.ssim(a.data, b.data, channels: c, height: h, width: w), values["ssim"]!,
                           accuracy: 1e-6, name)
        }
    }

    func testIdenticalImagesAreOneAndInfinite() throws {
        let a = Tensor(shape: [1, 12, 12], values: (0..<144).map { Float($0 % 7) / 7 })
        XCTAssertEqual(try ImageQuality.ssim(a.data, a.data, channels: 1, height: 12, width: 12), 1, accuracy: 1e-12)
        XCTAssertEqual(ImageQuality.psnr(a.data, a.data, count: 144), .infinity)
    }

    func testTooSmallForTheWindowIsAnError() {
        let a = Tensor(shape: [1, 8, 8])
        XCTAssertThrowsError(try ImageQuality.ssim(a.data, a.data, channels: 1, height: 8, width: 8))
    }
}
