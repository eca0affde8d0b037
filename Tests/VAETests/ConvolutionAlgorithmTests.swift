import XCTest
import VAE

/// Every convolution algorithm (Winograd for 3×3 stride 1, GEMM for 1×1, im2col for stride 2) against a
/// plain direct convolution written out in loops: output, input gradient and weight gradient.
final class ConvolutionAlgorithmTests: XCTestCase {
    var rng = SplitMix64(seed: 9)

    func random(_ shape: [Int]) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = Float(rng.nextUniform() * 2 - 1) }
        return t
    }

    /// y[n,o,y,x] = b[o] + Σ w[o,i,ky,kx] · x[n,i,y·s+ky−pt, x·s+kx−pl], and its adjoints for dy.
    func direct(_ conv: Conv2D, _ x: Tensor, _ dy: Tensor?) -> (y: Tensor, dx: Tensor, dw: [Double]) {
        let d = x.dims, k = conv.kernel, s = conv.stride, (pt, pl) = (conv.padding.top, conv.padding.left)
        let ho = (d.h + conv.padding.top + conv.padding.bottom - k) / s + 1
        let wo = (d.w + conv.padding.left + conv.padding.right - k) / s + 1
        let y = Tensor(shape: [d.n, conv.outChannels, ho, wo]), dx = Tensor(shape: d.shape)
        var dw = [Double](repeating: 0, count: conv.weight.value.count)
        let w = conv.weight.value.data
        for n in 0..<d.n { for o in 0..<conv.outChannels { for oy in 0..<ho { for ox in 0..<wo {
            var acc = Double(conv.bias.value.data[o])
            let yIndex = ((n * conv.outChannels + o) * ho + oy) * wo + ox
            let g = dy.map { Double($0.data[yIndex]) } ?? 0
            for i in 0..<d.c { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s + ky - pt, ix = ox * s + kx - pl
                guard iy >= 0 && iy < d.h && ix >= 0 && ix < d.w else { continue }
                let xIndex = ((n * d.c + i) * d.h + iy) * d.w + ix
                let wIndex = ((o * d.c + i) * k + ky) * k + kx
                acc += Double(w[wIndex]) * Double(x.data[xIndex])
                dx.data[xIndex] += Float(Double(w[wIndex]) * g)
                dw[wIndex] += g * Double(x.data[xIndex])
            } } }
            y.data[yIndex] = Float(acc)
        } } } }
        return (y, dx, dw)
    }

    func check(_ conv: Conv2D, input shape: [Int], file: StaticString = #filePath, line: UInt = #line) {
        let w = random(conv.weight.value.shape), b = random([conv.outChannels])
        conv.weight.value.copy(from: w)
        conv.bias.value.copy(from: b)
        let x = random(shape)
        let y = conv.forward(x, train: true)
        let dy = random(y.shape)
        let reference = direct(conv, x, dy)
        XCTAssertEqual(y.shape, reference.y.shape, file: file, line: line)
        let dx = conv.backward(dy)
        let scale = Float(conv.inChannels * conv.kernel * conv.kernel)
        XCTAssertLessThan(maxAbsDifference(y, reference.y), 1e-5 * scale, "output", file: file, line: line)
        XCTAssertLessThan(maxAbsDifference(dx, reference.dx), 1e-5 * scale, "input gradient", file: file, line: line)
        var worst = 0.0
        for (a, b) in zip(conv.weight.grad.array, reference.dw) { worst = max(worst, abs(Double(a) - b)) }
        XCTAssertLessThan(worst, 1e-5 * Double(shape[0] * shape[2] * shape[3]), "weight gradient", file: file, line: line)
    }

    func testWinograd3x3OnEvenOddAndTinyImages() {
        for shape in [[2, 3, 8, 8], [1, 5, 7, 9], [3, 2, 1, 1], [1, 4, 2, 3], [2, 6, 5, 4]] {
            check(Conv2D(inChannels: shape[1], outChannels: 4, kernel: 3), input: shape)
        }
    }

    /// Many channels make Winograd work in several chunks of tile rows (with 1200 channels 14 rows, then 1,
    /// per image); a chunk never spans two images, so each image is cut the same way.
    func testWinogradOverSeveralChunks() {
        let g = WinogradGeometry(batch: 2, height: 30, width: 30)
        XCTAssertEqual(g.chunks(channels: 1200), [0..<14, 14..<15, 15..<29, 29..<30])
        XCTAssertEqual(g.chunks(channels: 600), [0..<15, 15..<30])
        XCTAssertEqual(g.chunks(channels: 16), [0..<15, 15..<30])
        check(Conv2D(inChannels: 600, outChannels: 2, kernel: 3), input: [2, 600, 30, 30])
    }

    func testPointwiseAndStridedConvolutions() {
        check(Conv2D(inChannels: 5, outChannels: 3, kernel: 1), input: [2, 5, 4, 6])
        for shape in [[2, 3, 8, 8], [1, 3, 7, 5]] {
            check(Conv2D(inChannels: 3, outChannels: 4, kernel: 3, stride: 2, padding: (top: 0, left: 0, bottom: 1, right: 1)), input: shape)
        }
    }

    /// The blocked forward (`convolveBlocked`) over several blocks of 256 output pixels, one boundary inside
    /// an output row: 20 × 18 outputs are 360 pixels, cut after row 14, column 4. Also symmetric padding and a
    /// 3×3 stride-1 kernel without padding, which take the same path.
    func testBlockedConvolutionOverSeveralBlocks() {
        check(Conv2D(inChannels: 3, outChannels: 5, kernel: 3, stride: 2, padding: (top: 0, left: 0, bottom: 1, right: 1)), input: [2, 3, 41, 37])
        check(Conv2D(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: (top: 1, left: 1, bottom: 1, right: 1)), input: [1, 2, 39, 34])
        check(Conv2D(inChannels: 2, outChannels: 3, kernel: 3, padding: (top: 0, left: 0, bottom: 0, right: 0)), input: [1, 2, 19, 20])
    }

    /// The blocks split over threads give bitwise the same output with 1, 2 or 3 threads, and an image gives
    /// the same output in either batch slot.
    func testBlockedConvolutionIsIndependentOfThreadsAndSlot() {
        let conv = Conv2D(inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: (top: 0, left: 0, bottom: 1, right: 1))
        conv.weight.value.copy(from: random(conv.weight.value.shape))
        conv.bias.value.copy(from: random([6]))
        let x = random([2, 4, 45, 47])
        let saved = Threads.count
        defer { Threads.set(saved) }
        var outputs: [[Float]] = []
        for threads in [1, 2, 3] {
            Threads.set(threads)
            outputs.append(conv.forward(x, train: false).array)
        }
        // Boolean checks: a failing XCTAssertEqual would print every element of both outputs.
        XCTAssertTrue(outputs[0] == outputs[1], "1 and 2 threads differ")
        XCTAssertTrue(outputs[0] == outputs[2], "1 and 3 threads differ")
        let swapped = Tensor(shape: x.shape)
        let image = x.count / 2
        (swapped.data + image).update(from: x.data, count: image)
        swapped.data.update(from: x.data + image, count: image)
        let y = conv.forward(swapped, train: false).array
        let half = y.count / 2
        XCTAssertTrue(y[..<half] == outputs[0][half...], "image 2 differs between slots")
        XCTAssertTrue(y[half...] == outputs[0][..<half], "image 1 differs between slots")
    }
}

/// Work is split by shape, never by thread count: a training step is bitwise the same with 1, 2 or 3 threads
/// (so results do not depend on --threads, and resumed runs match).
final class ThreadIndependenceTests: XCTestCase {
    func testATrainingStepIsBitwiseTheSameWithAnyThreadCount() throws {
        var cfg = VAEConfig.sdV1
        (cfg.ch, cfg.chMult, cfg.numResBlocks, cfg.normNumGroups) = (32, [1, 2], 1, 8)
        var gradients: [[[Float]]] = []
        let saved = Threads.count
        defer { Threads.set(saved) }
        for threads in [1, 2, 3] {
            Threads.set(threads)
            let model = AutoencoderKL(cfg)
            model.initialize(seed: 1)
            let x = Tensor(shape: [2, 3, 48, 48]), eps = Tensor(shape: [2, 4, 24, 24])
            var rng = SplitMix64(seed: 2)
            for i in 0..<x.count { x.data[i] = Float(rng.nextUniform() * 2 - 1) }
            for i in 0..<eps.count { eps.data[i] = Float(rng.nextNormal()) }
            model.forwardBackward(input: x, eps: eps, loss: VAELoss(klWeight: 0.1))
            gradients.append(model.namedParameters.map { $0.parameter.grad.array })
        }
        XCTAssertEqual(gradients[0], gradients[1])
        XCTAssertEqual(gradients[0], gradients[2])
    }
}
