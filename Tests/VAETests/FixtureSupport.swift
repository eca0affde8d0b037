import Foundation
import VAECore
import VAEFormats
import XCTest

/// Paths into Tests/Fixtures (see its README for what each folder holds and how it is made).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func tensor(_ file: SafeTensors, _ name: String) throws -> Tensor {
        let e = try XCTUnwrap(file[name], "fixture tensor \(name) missing")
        return Tensor(shape: e.shape, values: e.values)
    }
}

/// Max |a − b| over two same-shaped buffers.
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// A test case with a fresh directory `dir` under the system's temporary folder, removed after each test.
class TemporaryDirectoryTestCase: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "\(type(of: self))-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }
}

/// `count` seeded side×side RGB noise images, `img0.png` … in `folder` (created).
func writeNoiseImages(count: Int, side: Int, seed: UInt64, into folder: String) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var rng = SplitMix64(seed: seed)
    for i in 0..<count {
        let pixels = (0..<side * side * 3).map { _ in UInt8(rng.next() % 256) }
        try writePNG(RGB8Image(width: side, height: side, pixels: pixels), to: "\(folder)/img\(i).png")
    }
}
