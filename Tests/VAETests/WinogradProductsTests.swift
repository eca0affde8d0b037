@testable import VAECore
import XCTest

/// The Winograd products on our own micro-kernels (`WinogradProducts`: `GemmAVX512`, and `GemmAVX2.multiply` on the same
/// layouts): every element of M is one FMA chain over k = 0, 1, … in order, started from zero (`Float.addingProduct`),
/// whatever its row, its column, its block of columns, the thread count or the kernel, so results stay bitwise
/// independent of `--threads`, of the batch slot and of the CPU's vector width. Checked on shapes whose rows do not
/// fill the last panel of 8 (nor a quarter of 4), whose tiles end inside a panel of 32 and span several column blocks,
/// with k = 1 and k far past a panel's worth. The packed weight layout is checked on any CPU.
final class WinogradProductsTests: XCTestCase {
    var rng = SplitMix64(seed: 21)

    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) } }

    /// The kernels this CPU runs: AVX-512 only where it has it (said, not silently skipped); none off x86-64.
    func kernels() throws -> [TransformKernels] {
        let runnable = TransformKernels.allCases.filter { $0.multipliesWinograd && ($0 == .avx2 || TransformKernels.cpuRunsAVX512) }
        try XCTSkipIf(runnable.isEmpty, "not x86-64: OpenBLAS runs every product here")
        if !runnable.contains(.avx512) { print("WinogradProductsTests: this CPU does not run AVX-512 code: the AVX2 kernel alone is checked") }
        return runnable
    }

    /// M = U · V for `points` random matrices through `WinogradProducts` on `kernels`, with V's and M's buffers
    /// first filled with NaN (V's padding columns must be zeroed before the kernel reads them). Returns M's rows
    /// `tiles` long, and U and V as plain arrays.
    func multiply(_ kernels: TransformKernels, points: Int, m: Int, k: Int, tiles: Int, columns v: (_ point: Int, _ row: Int, _ column: Int) -> Float? = { _, _, _ in nil })
        -> (m: [[Float]], u: [[Float]], v: [[Float]], paddingFinite: Bool) {
        let products = WinogradProducts(points: points, outChannels: m, inChannels: k, tiles: tiles, kernels: kernels)
        XCTAssertTrue(products.ownKernel)
        let layout = products.weights, length = products.rowLength
        let (strideV, strideM) = (WinogradGeometry.matrixStride(products.inputElements), WinogradGeometry.matrixStride(products.outputElements))
        let plainU = (0..<points).map { _ in random(m * k) }
        let plainV = (0..<points).map { point in
            (0..<k * tiles).map { v(point, $0 / tiles, $0 % tiles) ?? Float(rng.nextUniform() * 2 - 1) }
        }
        var u = [Float](repeating: .nan, count: points * layout.step)
        var vBuffer = [Float](repeating: .nan, count: points * strideV)
        var mBuffer = [Float](repeating: .nan, count: points * strideM)
        for point in 0..<points {
            for plain in 0..<m * k { u[point * layout.step + layout.index(plain)] = plainU[point][plain] }
            for row in 0..<k { for column in 0..<tiles { vBuffer[point * strideV + row * length + column] = plainV[point][row * tiles + column] } }
        }
        u.withUnsafeMutableBufferPointer { u in
            layout.zeroPadding(u.baseAddress!, points: points)
            vBuffer.withUnsafeMutableBufferPointer { v in
                mBuffer.withUnsafeMutableBufferPointer { products.multiply(u: u.baseAddress!, v: v.baseAddress!, into: $0.baseAddress!) }
            }
        }
        let panelEnd = (tiles + 31) / 32 * 32
        let paddingFinite = (0..<points).allSatisfy { point in
            (0..<m).allSatisfy { row in (tiles..<panelEnd).allSatisfy { mBuffer[point * strideM + row * length + $0].isFinite } }
        }
        let rows = (0..<points).flatMap { point in (0..<m).map { row in Array(mBuffer[(point * strideM + row * length)...].prefix(tiles)) } }
        return (rows, plainU, plainV, paddingFinite)
    }

    func testProductsAreScalarFMAChainsInOrder() throws {
        // (points, m, k, tiles): one element; rows short of a panel and of a quarter; tiles ending inside a panel and
        // spanning two and three column blocks of 256; k = 1 and k of several hundred.
        for kernels in try kernels() {
        for (points, m, k, tiles) in [(1, 1, 1, 1), (2, 5, 1, 33), (3, 13, 7, 70), (2, 8, 300, 257), (2, 17, 64, 600), (4, 9, 3, 31), (1, 6, 5, 40)] {
            let (result, u, v, paddingFinite) = multiply(kernels, points: points, m: m, k: k, tiles: tiles)
            var differing = 0
            for point in 0..<points {
                for row in 0..<m {
                    for column in 0..<tiles {
                        var chain: Float = 0
                        for i in 0..<k { chain = chain.addingProduct(u[point][row * k + i], v[point][i * tiles + column]) }
                        if result[point * m + row][column].bitPattern != chain.bitPattern { differing += 1 }
                    }
                }
            }
            XCTAssertEqual(differing, 0, "\(kernels): \(points) × (\(m) × \(k) · \(k) × \(tiles)): \(differing) elements are not the FMA chain")
            XCTAssertTrue(paddingFinite, "\(kernels): \(m) × \(k) · \(k) × \(tiles): V's padding columns were read unzeroed")
        }
        }
    }

    func testAColumnsResultIsIndependentOfItsPosition() throws {
        // Every column of V the same: every column of M must be bitwise the same, at the start or end of a panel,
        // of a block of 256 columns, and in the last, partial panel.
        let same = random(96)
        for kernels in try kernels() {
            let (result, _, _, _) = multiply(kernels, points: 2, m: 11, k: 96, tiles: 547) { point, row, _ in same[row] + Float(point) }
            for row in result {
                XCTAssertEqual(Set(row.map(\.bitPattern)).count, 1, "\(kernels): a row of M differs between its columns")
            }
        }
    }

    func testTheProductsAreBitwiseTheSameWithAnyThreadCountAndKernel() throws {
        var results: [[[Float]]] = []
        for kernels in try kernels() {
            for threads in [1, 2, 3] {
                rng = SplitMix64(seed: 4)
                results.append(ComputeContext(threads: threads, kernels: kernels).run { multiply(kernels, points: 16, m: 20, k: 40, tiles: 700).m })
            }
        }
        for result in results.dropFirst() { XCTAssertEqual(results[0].map { $0.map(\.bitPattern) }, result.map { $0.map(\.bitPattern) }) }
    }

    /// The weight transforms write U packed (`packed: true`) with exactly the values of the plain layout, each at its
    /// panel place, and zeros in the last panel's missing rows: both tilings, the kernel and its flipped form.
    func testPackedWeightsAreThePlainOnesInPanels() {
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            let points = tiling.geometry(batch: 1, height: 1, width: 1).points
            for (outChannels, inChannels) in [(3, 5), (8, 8), (13, 9), (1, 17)] {
                let w = random(outChannels * inChannels * 9)
                for flipped in [false, true] {
                    let plainLayout = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: false)
                    let packedLayout = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped, packed: true)
                    var plain = [Float](repeating: .nan, count: points * plainLayout.step)
                    var packed = [Float](repeating: .nan, count: points * packedLayout.step)
                    w.withUnsafeBufferPointer { w in
                        tiling.algorithm.transformWeights(w.baseAddress!, outChannels: outChannels, inChannels: inChannels,
                                                          flipped: flipped, packed: false, into: &plain)
                        tiling.algorithm.transformWeights(w.baseAddress!, outChannels: outChannels, inChannels: inChannels,
                                                          flipped: flipped, packed: true, into: &packed)
                    }
                    let what = "\(tiling), \(outChannels) × \(inChannels), flipped \(flipped)"
                    var placed = Set<Int>()
                    for point in 0..<points {
                        for index in 0..<outChannels * inChannels {
                            let at = point * packedLayout.step + packedLayout.index(index)
                            placed.insert(at)
                            XCTAssertEqual(packed[at].bitPattern, plain[point * plainLayout.step + index].bitPattern, what)
                        }
                        for at in point * packedLayout.step..<point * packedLayout.step + packedLayout.count where !placed.contains(at) {
                            XCTAssertEqual(packed[at], 0, "\(what): a padding row is not zero")
                        }
                    }
                }
            }
        }
    }
}

extension TransformedWeights {
    /// Zeroes the rows of the last panel past `rows` in each of the `points` matrices (the kernel multiplies them too;
    /// the weight transforms write them as zeros).
    func zeroPadding(_ u: UnsafeMutablePointer<Float>, points: Int) {
        guard packed else { return }
        let panelRows = GemmMicroKernel.avx512.panelRows
        let missing = (panelRows - rows % panelRows) % panelRows
        guard missing > 0 else { return }
        let lastPanel = (rows / panelRows) * panelRows * depth
        for point in 0..<points {
            for k in 0..<depth {
                (u + point * step + lastPanel + k * panelRows + rows % panelRows).update(repeating: 0, count: missing)
            }
        }
    }
}
