import Foundation
import VAECore
import XCTest

final class VectorMathTests: XCTestCase {
    func testExpMatchesTheLibraryToAFewUlp() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.013 })
            let ours = VectorMath.exp(lanes)
            for j in 0..<8 {
                let reference = Foundation.exp(Double(lanes[j]))
                worst = max(worst, Float(abs(Double(ours[j]) - reference) / reference))
            }
            x += 0.37
        }
        XCTAssertLessThan(worst, 4e-7, "relative error of exp")
    }

    func testSigmoidSaturatesWithoutNaN() {
        let s = VectorMath.sigmoid(SIMD8<Float>(-1000, -100, -10, 0, 10, 100, 1000, .greatestFiniteMagnitude))
        XCTAssertEqual(s[3], 0.5, accuracy: 1e-7)
        XCTAssertEqual(s[0], 0, accuracy: 1e-30)
        XCTAssertEqual(s[6], 1)
        XCTAssertEqual(s[7], 1)
        XCTAssertEqual(s[2], Float(1 / (1 + Foundation.exp(10.0))), accuracy: 1e-9)
    }

    func testSumsAreThoseOfTheValues() {
        let values = (0..<1234).map { Float(sin(Double($0))) }
        values.withUnsafeBufferPointer { p in
            let (s, ss) = VectorMath.sumAndSquares(p.baseAddress!, count: p.count)
            XCTAssertEqual(s, values.reduce(0) { $0 + Double($1) }, accuracy: 1e-4)
            XCTAssertEqual(ss, values.reduce(0) { $0 + Double($1) * Double($1) }, accuracy: 1e-4)
        }
    }
}
