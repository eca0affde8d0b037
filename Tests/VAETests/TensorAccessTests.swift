import VAECore
import XCTest

/// The API the targets above VAECore reach a tensor's elements through (its raw memory is VAECore's).
final class TensorAccessTests: XCTestCase {
    private func counting(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map(Float.init))
    }

    func testTheSubscriptIsRowMajorAndWrites() {
        let t = counting([2, 3])
        XCTAssertEqual((0..<6).map { t[$0] }, [0, 1, 2, 3, 4, 5])
        t[4] = -1
        XCTAssertEqual(t.array, [0, 1, 2, 3, -1, 5])
    }

    func testClosuresLendTheWholeTensor() {
        let t = counting([2, 2, 3])
        XCTAssertEqual(t.withUnsafeBufferPointer(Array.init), t.array)
        t.withUnsafeMutableBufferPointer { values in
            XCTAssertEqual(values.count, 12)
            values[11] = 100
        }
        XCTAssertEqual(t[11], 100)
        XCTAssertEqual(Tensor(shape: [0, 3]).withUnsafeBufferPointer(\.count), 0)
    }

    func testItemsAreTheSlicesOfTheFirstDimension() {
        let t = counting([3, 2, 2])
        XCTAssertEqual(t.withItem(1, Array.init), [4, 5, 6, 7])
        XCTAssertEqual(t.withItem(2, Array.init), [8, 9, 10, 11])
        t.withMutableItem(0) { item in
            XCTAssertEqual(item.count, 4)
            item.update(repeating: -2)
        }
        XCTAssertEqual(t.array, [-2, -2, -2, -2, 4, 5, 6, 7, 8, 9, 10, 11])
    }

    func testElementsSideBySideComeInArgumentOrder() {
        let a = counting([4]), b = Tensor(shape: [2, 2]), c = Tensor(shape: [4])
        Tensor.withElements(of: [a, b, c]) { p in
            XCTAssertEqual(p.count, 3)
            for i in 0..<4 {
                p[1][i] = 2 * p[0][i]
                p[2][i] = p[1][i] + 1
            }
        }
        XCTAssertEqual(b.array, [0, 2, 4, 6])
        XCTAssertEqual(c.array, [1, 3, 5, 7])
    }

    func testFillAndCopy() {
        let t = Tensor(shape: [3])
        t.fill(.nan)
        XCTAssertTrue(t.array.allSatisfy(\.isNaN))
        t.copy(from: [1, 2, 3])
        XCTAssertEqual(t.array, [1, 2, 3])
        let u = Tensor(shape: [1, 3])
        u.copy(from: t)
        XCTAssertEqual(u.array, [1, 2, 3])
    }
}
