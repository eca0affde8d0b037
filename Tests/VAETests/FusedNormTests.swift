@testable import VAECore
import XCTest

/// A 3×3 convolution that reads a group norm's output unwritten (`NormalizedTensor`, applied in the Winograd input
/// transform) gives bitwise what the convolution of the written output gives: forward and every gradient, both
/// tilings, sizes whose planes end in a partial block of 8 (the norm's libm tail), rows shorter than a vector,
/// and tile rows over several chunks.
final class FusedNormTests: XCTestCase {
    var rng = SplitMix64(seed: 31)

    func random(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in scale * Float(rng.nextUniform() * 2 - 1) })
    }

    /// The same random parameters in both layers, gradients cleared.
    func randomize(_ layers: [any Layer]) {
        for (named, other) in zip(layers[0].namedParameters, layers[1].namedParameters) {
            named.parameter.value.copy(from: random(named.parameter.value.shape))
            other.parameter.value.copy(from: named.parameter.value)
            named.parameter.grad.zero()
            other.parameter.grad.zero()
        }
    }

    func assertBitwiseEqual(_ a: Tensor, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        let differing = zip(a.array, b.array).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(what): \(differing) of \(a.count) values differ", file: file, line: line)
    }

    /// Norm (+ swish) then convolution, unfused (the norm's output written) and fused, in a training forward and
    /// backward: output, input gradient and the gradients of both layers' parameters.
    func checkFused(_ shape: [Int], groups: Int, outChannels: Int, tiling: WinogradTiling,
                    file: StaticString = #filePath, line: UInt = #line) {
        let c = shape[1]
        let norms = (0..<2).map { _ in GroupNorm(channels: c, groups: groups, swish: true) }
        let convs = (0..<2).map { _ in Conv2D(inChannels: c, outChannels: outChannels, kernel: 3) }
        convs.forEach { $0.winogradTiling = tiling }
        randomize(norms)
        randomize(convs)
        // Scaled so that the swish sees large negative and positive values.
        let x = random(shape, scale: 3)
        let unfused = convs[0].forward(norms[0].forward(x, train: true), train: true)
        let fused = convs[1].forward(norms[1].normalizedInput(x, train: true), train: true)
        let what = "\(tiling) \(shape)"
        assertBitwiseEqual(fused, unfused, "output, \(what)", file: file, line: line)
        let dy = random(unfused.shape)
        let dxUnfused = norms[0].backward(convs[0].backward(dy))
        let dxFused = norms[1].backward(convs[1].backward(dy))
        assertBitwiseEqual(dxFused, dxUnfused, "input gradient, \(what)", file: file, line: line)
        let parameters = (0..<2).map { norms[$0].namedParameters + convs[$0].namedParameters }
        for (a, b) in zip(parameters[0], parameters[1]) {
            assertBitwiseEqual(b.parameter.grad, a.parameter.grad, "gradient of \(a.name), \(what)", file: file, line: line)
        }
    }

    func testFusedNormConvolutionIsBitwiseTheUnfusedOne() {
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            // Planes of 35, 9, 117, 1, 64 (whole blocks of 8), 420, 6 values; widths below and above 8.
            for shape in [[2, 6, 5, 7], [1, 4, 3, 3], [2, 6, 9, 13], [1, 2, 1, 1], [2, 4, 8, 8], [1, 4, 6, 70], [1, 2, 2, 3]] {
                checkFused(shape, groups: 2, outChannels: 3, tiling: tiling)
            }
        }
    }

    /// 1200 channels cut a 30×30 image into chunks of 14 and 1 tile rows (F(2×2)): the rows the transform keeps
    /// from one tile row to the next are read afresh at each chunk's start.
    func testFusedNormOverSeveralChunks() {
        checkFused([2, 1200, 30, 30], groups: 30, outChannels: 2, tiling: .f2x2)
        checkFused([1, 1200, 44, 36], groups: 30, outChannels: 1, tiling: .f4x4)
    }

    /// The layer analysis reports a norm's values before its swish (ldm's norm_out): written for the report, with
    /// the swish left to the convolution; both as the unfused layer reports and computes them.
    func testReportedNormOutputAndItsConvolution() {
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            let norms = (0..<2).map { _ in GroupNorm(channels: 4, groups: 2, swish: true) }
            let convs = (0..<2).map { _ in Conv2D(inChannels: 4, outChannels: 3, kernel: 3) }
            convs.forEach { $0.winogradTiling = tiling }
            randomize(norms)
            randomize(convs)
            let x = random([2, 4, 7, 11], scale: 3)
            var reported: [Tensor] = []
            let unfused = convs[0].forward(norms[0].forward(x, train: false) { reported.append($0) }, train: false)
            let fused = convs[1].forward(norms[1].normalizedInput(x, train: false) { reported.append($0) }, train: false)
            XCTAssertEqual(reported.count, 2)
            assertBitwiseEqual(reported[1], reported[0], "reported norm output, \(tiling)")
            assertBitwiseEqual(fused, unfused, "convolution output, \(tiling)")
        }
    }

    /// A res block (whose convolutions read their norms fused) against its own layers run one by one with every
    /// norm output written, forward and backward, with and without the 1×1 shortcut.
    func testResnetBlockIsItsUnfusedComposition() {
        for (cin, cout) in [(4, 4), (4, 6)] {
            let blocks = [ResnetBlock(inChannels: cin, outChannels: cout, groups: 2),
                          ResnetBlock(inChannels: cin, outChannels: cout, groups: 2)]
            randomize(blocks)
            let (b, x) = (blocks[0], random([2, cin, 9, 6], scale: 2))
            var h = b.conv1.forward(b.norm1.forward(x, train: true), train: true)
            h = b.conv2.forward(b.norm2.forward(h, train: true), train: true)
            let skip = b.ninShortcut?.forward(x, train: true) ?? x
            Elementwise.accumulate(skip, into: h)
            let y = blocks[1].forward(x, train: true)
            assertBitwiseEqual(y, h, "output \(cin) → \(cout)")
            let dy = random(y.shape)
            var g = b.norm2.backward(b.conv2.backward(dy))
            let dx = b.norm1.backward(b.conv1.backward(g))
            g = b.ninShortcut?.backward(dy) ?? dy
            Elementwise.accumulate(g, into: dx)
            assertBitwiseEqual(blocks[1].backward(dy), dx, "input gradient \(cin) → \(cout)")
            for (a, c) in zip(blocks[0].namedParameters, blocks[1].namedParameters) {
                assertBitwiseEqual(c.parameter.grad, a.parameter.grad, "gradient of \(a.name), \(cin) → \(cout)")
            }
        }
    }
}
