@testable import VAECore
import VAETraining
import XCTest

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
    /// per image, for F(2×2)); a chunk never spans two images, so each image is cut the same way.
    func testWinogradOverSeveralChunks() {
        let g = WinogradGeometry(batch: 2, height: 30, width: 30)
        XCTAssertEqual(g.chunks(channels: 1200), [0..<14, 14..<15, 15..<29, 29..<30])
        XCTAssertEqual(g.chunks(channels: 600), [0..<15, 15..<30])
        XCTAssertEqual(g.chunks(channels: 16), [0..<15, 15..<30])
        check(Conv2D(inChannels: 600, outChannels: 2, kernel: 3), input: [2, 600, 30, 30])
        // F(4×4)'s chunks hold 36 transformed values per tile: 97 tiles, 10 rows of 9 at 1200 channels.
        let g4 = WinogradTiling.f4x4.geometry(batch: 2, height: 44, width: 36)
        XCTAssertEqual(g4.chunks(channels: 1200), [0..<10, 10..<11, 11..<21, 21..<22])
        check(f4x4(Conv2D(inChannels: 1200, outChannels: 1, kernel: 3)), input: [2, 1200, 44, 36])
        // On our own kernel (every column of the products one FMA chain) the batch is cut into equal chunks
        // across its images; the forward and input gradient above ran so on x86-64, and `BatchSlotTests` hold.
        XCTAssertEqual(g.chunks(channels: 1200, acrossImages: true), [0..<10, 10..<20, 20..<30])
        XCTAssertEqual(g.chunks(channels: 16, acrossImages: true), [0..<30])
        XCTAssertEqual(g4.chunks(channels: 1200, acrossImages: true), [0..<8, 8..<16, 16..<22])
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
        assertIndependentOfThreadsAndSlot(Conv2D(inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: (top: 0, left: 0, bottom: 1, right: 1)),
                                          input: [2, 4, 45, 47])
    }

    /// F(4×4, 3×3) with its edge cases: rows of whole 8-tile groups and a partial one (70 = 2 × 32 + 6 pixels),
    /// a width of exactly one group (32), heights cut inside a tile, and an upsampling convolution (forward on
    /// the ×2 upsampled input, input gradient pooled back, weight gradient) against the direct convolution of the
    /// upsampled tensor.
    func testWinogradF4OnWideImagesAndUpsampling() {
        for shape in [[2, 3, 9, 70], [1, 2, 33, 32], [1, 3, 6, 38]] {
            check(f4x4(Conv2D(inChannels: shape[1], outChannels: 4, kernel: 3)), input: shape)
        }
        for shape in [[2, 3, 5, 19], [1, 2, 16, 16], [1, 2, 3, 1]] {
            let conv = f4x4(Conv2D(inChannels: shape[1], outChannels: 3, kernel: 3))
            conv.weight.value.copy(from: random(conv.weight.value.shape))
            conv.bias.value.copy(from: random([3]))
            let x = random(shape)
            let y = conv.forward(x, train: true, upsampling: true)
            let dy = random(y.shape)
            let reference = direct(conv, upsampled(x), dy)
            let dx = conv.backward(dy)
            XCTAssertLessThan(maxAbsDifference(y, reference.y), 1e-5 * Float(shape[1] * 9), "output \(shape)")
            XCTAssertLessThan(maxAbsDifference(dx, pooled(reference.dx)), 1e-5 * Float(3 * 9 * 4), "input gradient \(shape)")
            let dwError = zip(conv.weight.grad.array, reference.dw).map { abs(Double($0) - $1) }.max() ?? .infinity
            XCTAssertLessThan(dwError, 1e-5 * Double(shape[0] * shape[2] * shape[3] * 4), "weight gradient \(shape)")
        }
    }

    /// F(4×4)'s error at SD v1's channel counts (512 channels summed per output, in the output or in the input
    /// gradient; weights at PyTorch's initial scale, activations of unit size) against the direct convolution in
    /// double precision, relative to the largest output. F(2×2) stays within 3e-6; F(4×4)'s larger transform
    /// constants (up to 8) cost several times that (1e-6 to 9e-6 here): bounded at 1.5e-5.
    func testWinogradF4ErrorAtSDChannelCounts() {
        for (inChannels, outChannels) in [(512, 8), (8, 512)] {
            let conv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 3)
            let bound = 1 / Float(inChannels * 9).squareRoot()
            let w = random(conv.weight.value.shape)
            for i in 0..<w.count { w.data[i] *= bound }
            conv.weight.value.copy(from: w)
            let x = random([1, inChannels, 20, 20]), dy = random([1, outChannels, 20, 20])
            let reference = direct(conv, x, dy)
            var errors: [WinogradTiling: (Float, Float)] = [:]
            for tiling in [WinogradTiling.f2x2, .f4x4] {
                conv.winogradTiling = tiling
                let y = conv.forward(x, train: true)
                let dx = conv.backward(dy)
                errors[tiling] = (maxAbsDifference(y, reference.y) / maxAbs(reference.y),
                                  maxAbsDifference(dx, reference.dx) / maxAbs(reference.dx))
            }
            print("F(2×2) / F(4×4) relative error, \(inChannels) → \(outChannels) channels: output",
                  errors[.f2x2]!.0, errors[.f4x4]!.0, "input gradient", errors[.f2x2]!.1, errors[.f4x4]!.1)
            XCTAssertLessThan(errors[.f2x2]!.0, 3e-6, "F(2×2) output, \(inChannels) → \(outChannels)")
            XCTAssertLessThan(errors[.f2x2]!.1, 3e-6, "F(2×2) input gradient, \(inChannels) → \(outChannels)")
            XCTAssertLessThan(errors[.f4x4]!.0, 1.5e-5, "F(4×4) output, \(inChannels) → \(outChannels)")
            XCTAssertLessThan(errors[.f4x4]!.1, 1.5e-5, "F(4×4) input gradient, \(inChannels) → \(outChannels)")
        }
    }

    /// F(4×4)'s weight gradient against the direct one in double precision, relative to its largest value. Each
    /// element sums x · dY over every pixel of the batch (activations and gradients of unit size, zero mean: the
    /// sums cancel, the hard case for a relative error), at SD's sizes: 128 channels at 64 px, 64 at 128 px, and
    /// 512 at 64 px, where two chunks of tile rows are summed into the products. Measured: F(2×2) 2.5e-7 to
    /// 6.6e-7, F(4×4) 8.8e-7 to 1.6e-6 (its transforms' constants reach 64 in A dY Aᵀ): bounded at 5e-6.
    func testWinogradF4WeightGradientErrorAtSDSizes() {
        XCTAssertEqual(WinogradTiling.f4x4.geometry(batch: 1, height: 64, width: 64).chunks(channels: 512).count, 2)
        for (inChannels, outChannels, size, batch) in [(128, 4, 64, 2), (4, 64, 64, 1), (512, 2, 64, 1), (64, 4, 128, 1)] {
            let conv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 3)
            let x = random([batch, inChannels, size, size]), dy = random([batch, outChannels, size, size])
            let reference = direct(conv, x, dy).dw
            let largest = reference.map(abs).max() ?? 0
            var errors: [WinogradTiling: Double] = [:], gradients: [WinogradTiling: [Float]] = [:]
            for tiling in [WinogradTiling.f2x2, .f4x4] {
                conv.winogradTiling = tiling
                conv.weight.grad.zero()
                _ = conv.forward(x, train: true)
                _ = conv.backward(dy)
                gradients[tiling] = conv.weight.grad.array
                errors[tiling] = zip(gradients[tiling]!, reference).map { abs(Double($0) - $1) }.max()! / largest
            }
            let shape = "\(inChannels) → \(outChannels), \(batch) × \(size)²"
            // The tiling reaches the weight gradient, which depends on x and dY only.
            XCTAssertTrue(gradients[.f2x2]! != gradients[.f4x4]!, "the same weight gradient with both tilings, \(shape)")
            print("F(2×2) / F(4×4) weight gradient relative error, \(shape):", errors[.f2x2]!, errors[.f4x4]!)
            XCTAssertLessThan(errors[.f2x2]!, 2e-6, "F(2×2) weight gradient, \(shape)")
            XCTAssertLessThan(errors[.f4x4]!, 5e-6, "F(4×4) weight gradient, \(shape)")
        }
    }

    /// F(4×4) forward, input gradient and weight gradient, with and without the fused upsampling: bitwise the
    /// same with any thread count, and the first two in either batch slot.
    func testWinogradF4IsIndependentOfThreadsAndSlot() {
        assertIndependentOfThreadsAndSlot(f4x4(Conv2D(inChannels: 4, outChannels: 6, kernel: 3)), input: [2, 4, 45, 47])
        assertIndependentOfThreadsAndSlot(f4x4(Conv2D(inChannels: 4, outChannels: 6, kernel: 3)), input: [2, 4, 13, 21], upsampling: true)
    }

    /// The convolution computing with F(4×4) (`--fast_conv`), whatever the default.
    func f4x4(_ conv: Conv2D) -> Conv2D {
        conv.winogradTiling = .f4x4
        return conv
    }

    /// Output, input gradient and weight gradient bitwise the same with 1, 2 or 3 threads, and an image's output
    /// and input gradient the same in either slot (the weight gradient sums the batch).
    func assertIndependentOfThreadsAndSlot(_ conv: Conv2D, input shape: [Int], upsampling: Bool = false,
                                           file: StaticString = #filePath, line: UInt = #line) {
        conv.weight.value.copy(from: random(conv.weight.value.shape))
        conv.bias.value.copy(from: random([conv.outChannels]))
        let x = random(shape)
        let dy = random(conv.forward(x, train: false, upsampling: upsampling).shape)
        func run(_ x: Tensor, _ dy: Tensor) -> (y: [Float], dx: [Float], dw: [Float]) {
            let y = conv.forward(x, train: true, upsampling: upsampling).array
            conv.weight.grad.zero()
            let dx = conv.backward(dy).array
            return (y, dx, conv.weight.grad.array)
        }
        var outputs: [(y: [Float], dx: [Float], dw: [Float])] = []
        for threads in [1, 2, 3] {
            outputs.append(ComputeContext(threads: threads).run { run(x, dy) })
        }
        // Boolean checks: a failing XCTAssertEqual would print every element of both outputs.
        for k in 1...2 {
            XCTAssertTrue(outputs[0].y == outputs[k].y, "1 and \(k + 1) threads differ", file: file, line: line)
            XCTAssertTrue(outputs[0].dx == outputs[k].dx, "input gradient: 1 and \(k + 1) threads differ", file: file, line: line)
            XCTAssertTrue(outputs[0].dw == outputs[k].dw, "weight gradient: 1 and \(k + 1) threads differ", file: file, line: line)
        }
        let swapped = run(swapSlots(x), swapSlots(dy))
        XCTAssertTrue(swapped.y == swapSlots(outputs[0].y), "an image differs between slots", file: file, line: line)
        XCTAssertTrue(swapped.dx == swapSlots(outputs[0].dx), "input gradient: an image differs between slots", file: file, line: line)
    }

    /// The two images of a batch of two, exchanged.
    func swapSlots(_ t: Tensor) -> Tensor {
        let swapped = Tensor(shape: t.shape)
        let image = t.count / 2
        (swapped.data + image).update(from: t.data, count: image)
        swapped.data.update(from: t.data + image, count: image)
        return swapped
    }

    func swapSlots(_ values: [Float]) -> [Float] { Array(values[(values.count / 2)...] + values[..<(values.count / 2)]) }

    /// Nearest-neighbour ×2 upsampling (ldm's Upsample before its convolution).
    func upsampled(_ x: Tensor) -> Tensor {
        let d = x.dims
        let y = Tensor(shape: [d.n, d.c, 2 * d.h, 2 * d.w])
        for p in 0..<(d.n * d.c) { for r in 0..<(2 * d.h) { for c in 0..<(2 * d.w) {
            y.data[(p * 2 * d.h + r) * 2 * d.w + c] = x.data[(p * d.h + r / 2) * d.w + c / 2]
        } } }
        return y
    }

    /// The adjoint of `upsampled`: each 2×2 block summed into one pixel.
    func pooled(_ t: Tensor) -> Tensor {
        let d = t.dims
        let y = Tensor(shape: [d.n, d.c, d.h / 2, d.w / 2])
        for p in 0..<(d.n * d.c) { for r in 0..<d.h { for c in 0..<d.w {
            y.data[(p * d.h / 2 + r / 2) * d.w / 2 + c / 2] += t.data[(p * d.h + r) * d.w + c]
        } } }
        return y
    }

    func maxAbs(_ t: Tensor) -> Float { t.array.map(abs).max() ?? 0 }
}

/// Work is split by shape, never by thread count: a training step is bitwise the same with 1, 2 or 3 threads
/// (so results do not depend on --threads, and resumed runs match).
final class ThreadIndependenceTests: XCTestCase {
    func testATrainingStepIsBitwiseTheSameWithAnyThreadCount() throws {
        try assertATrainingStepIsBitwiseTheSameWithAnyThreadCount(.exact)
    }

    /// The same with `--fast_conv` (F(4×4) for the output, input gradient and weight gradient).
    func testAFastConvolutionTrainingStepIsBitwiseTheSameWithAnyThreadCount() throws {
        try assertATrainingStepIsBitwiseTheSameWithAnyThreadCount(.fast)
    }

    func assertATrainingStepIsBitwiseTheSameWithAnyThreadCount(_ arithmetic: ConvolutionArithmetic) throws {
        var cfg = VAEConfig.sdV1
        (cfg.ch, cfg.chMult, cfg.numResBlocks, cfg.normNumGroups) = (32, [1, 2], 1, 8)
        var gradients: [[[Float]]] = []
        for threads in [1, 2, 3] {
            let model = AutoencoderKL(cfg, context: ComputeContext(threads: threads))
            model.arithmetic = arithmetic
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
