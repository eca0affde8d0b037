import XCTest
@testable import VAE

/// PackedGemm against a scalar chain of fused multiply-adds, bit for bit: each element of C is one FMA chain
/// over k in order, whatever its place, block or thread count.
final class PackedGemmTests: XCTestCase {
    var rng = SplitMix64(seed: 13)

    func randomValues(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) } }

    /// `count` products m × k times k × n from row-major matrices, packed, multiplied, and C read back row-major.
    func multiplyPacked(count: Int, m: Int, n: Int, k: Int, a: [[Float]], b: [[Float]]) -> [[Float]] {
        let (pm, pn) = (PackedGemm.paddedRows(m), PackedGemm.paddedColumns(n))
        // Strides as the Winograd buffers have them: not a whole number of panels.
        let (sa, sb, sc) = (Winograd.stride(pm * k), Winograd.stride(k * pn), Winograd.stride(pm * pn))
        var packedA = [Float](repeating: .nan, count: count * sa), packedB = [Float](repeating: .nan, count: count * sb)
        var c = [Float](repeating: .nan, count: count * sc)
        for p in 0..<count {
            for row in 0..<m { for kk in 0..<k { packedA[p * sa + PackedGemm.offsetInA(row: row, k: kk, depth: k)] = a[p][row * k + kk] } }
            for kk in 0..<k { for col in 0..<n { packedB[p * sb + PackedGemm.offsetInB(k: kk, column: col, depth: k)] = b[p][kk * n + col] } }
        }
        packedA.withUnsafeMutableBufferPointer { pa in
            packedB.withUnsafeMutableBufferPointer { pb in
                PackedGemm.clearPaddingRows(pa.baseAddress!, count: count, stride: sa, rows: m, depth: k)
                PackedGemm.clearPaddingColumns(pb.baseAddress!, count: count, stride: sb, columns: n, depth: k)
                c.withUnsafeMutableBufferPointer { pc in
                    PackedGemm.multiply(count: count, m: m, n: n, k: k, a: pa.baseAddress!, strideA: sa,
                                        b: pb.baseAddress!, strideB: sb, c: pc.baseAddress!, strideC: sc)
                }
            }
        }
        return (0..<count).map { p in (0..<(m * n)).map { c[p * sc + ($0 / n) * pn + $0 % n] } }
    }

    /// Σ_k a[row][k] · b[k][col] as one chain of fused multiply-adds from zero.
    func fusedChain(_ a: [Float], _ b: [Float], row: Int, col: Int, n: Int, k: Int) -> Float {
        var s: Float = 0
        for kk in 0..<k { s.addProduct(a[row * k + kk], b[kk * n + col]) }
        return s
    }

    func testEveryElementIsOneFusedChainOverK() {
        // Partial panels of rows and columns, several depth blocks (k > 256), several column blocks, k = 0.
        for (count, m, n, k) in [(1, 1, 1, 1), (3, 7, 17, 5), (2, 13, 150, 300), (1, 6, 16, 600), (2, 5, 9, 0)] {
            let a = (0..<count).map { _ in randomValues(m * k) }, b = (0..<count).map { _ in randomValues(k * n) }
            let c = multiplyPacked(count: count, m: m, n: n, k: k, a: a, b: b)
            for p in 0..<count {
                let expected = (0..<(m * n)).map { fusedChain(a[p], b[p], row: $0 / n, col: $0 % n, n: n, k: k) }
                XCTAssertTrue(c[p] == expected, "product \(p) of \(count), \(m)×\(n)×\(k)")
            }
        }
    }

    /// One column of B (a Winograd tile) gives bitwise the same column of C at any position among other columns,
    /// in products of any width, with 1 or 2 threads.
    func testAColumnsResultDoesNotDependOnItsPlace() {
        let (m, k) = (11, 290)
        let a = randomValues(m * k), column = randomValues(k)
        let saved = Threads.count
        defer { Threads.set(saved) }
        var results: [[Float]] = []
        for (threads, n, place) in [(1, 1, 0), (2, 20, 15), (1, 40, 16), (2, 200, 137), (2, 200, 199)] {
            Threads.set(threads)
            var b = randomValues(k * n)
            for kk in 0..<k { b[kk * n + place] = column[kk] }
            let c = multiplyPacked(count: 1, m: m, n: n, k: k, a: [a], b: [b])[0]
            results.append((0..<m).map { c[$0 * n + place] })
        }
        for r in results.dropFirst() { XCTAssertTrue(r == results[0], "a column's result moved with its place") }
    }

    func testPanelLayoutsPlaceEveryElementOnce() {
        let (rows, columns, depth) = (13, 21, 4)
        let inA = Set((0..<depth).flatMap { k in (0..<rows).map { PackedGemm.offsetInA(row: $0, k: k, depth: depth) } })
        XCTAssertEqual(inA.count, rows * depth)
        XCTAssertEqual(inA.max(), PackedGemm.offsetInA(row: rows - 1, k: depth - 1, depth: depth))
        XCTAssertLessThan(inA.max()!, PackedGemm.paddedRows(rows) * depth)
        let inB = Set((0..<depth).flatMap { k in (0..<columns).map { PackedGemm.offsetInB(k: k, column: $0, depth: depth) } })
        XCTAssertEqual(inB.count, columns * depth)
        XCTAssertLessThan(inB.max()!, PackedGemm.paddedColumns(columns) * depth)
    }
}
