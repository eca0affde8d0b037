import Synchronization
@testable import VAECore
import XCTest

/// Settings travel in a `ComputeContext`, not in process-wide globals: each test makes the contexts it needs, and
/// two of them (AVX2 and AVX-512 kernels, 1 or 3 threads, a profile on or off) run in one process side by side.
final class ComputeContextTests: XCTestCase {
    var rng = SplitMix64(seed: 31)

    func random(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float(rng.nextUniform() * 2 - 1) })
    }

    /// A 3×3 convolution with `winogradTiling` and random weights.
    func convolution(_ inChannels: Int, _ outChannels: Int, _ tiling: WinogradTiling) -> Conv2D {
        let conv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 3)
        conv.winogradTiling = tiling
        conv.weight.value.copy(from: random(conv.weight.value.shape))
        conv.bias.value.copy(from: random([outChannels]))
        return conv
    }

    /// Output, input gradient, and weight and bias gradients of one training forward and backward, under `context`.
    func run(_ conv: Conv2D, _ x: Tensor, _ dy: Tensor, in context: ComputeContext) -> [[UInt32]] {
        context.run {
            conv.weight.grad.zero()
            conv.bias.grad.zero()
            let y = conv.forward(x, train: true)
            let dx = conv.backward(dy)
            return [y.array, dx.array, conv.weight.grad.array, conv.bias.grad.array].map { $0.map(\.bitPattern) }
        }
    }

    func requireAVX512() throws {
        try XCTSkipUnless(TransformKernels.cpuRunsAVX512, "this CPU does not run AVX-512 (x86-64-v4) code: only the AVX2 kernels can run here")
    }

    /// One input and one output channel: every Winograd product is one multiplication, exact to the same rounding
    /// on OpenBLAS and on `GemmAVX512`, so the whole convolution (both builds of the transforms, rows wide enough
    /// for 16 tiles per vector) must agree bit for bit between the two contexts, run in turn in one process.
    func testAConvolutionIsBitwiseTheSameOnTheAVX2AndAVX512Contexts() throws {
        try requireAVX512()
        let avx2 = ComputeContext(threads: 2, kernels: .avx2), avx512 = ComputeContext(threads: 2, kernels: .avx512)
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            let conv = convolution(1, 1, tiling)
            let x = random([2, 1, 21, 75]), dy = random([2, 1, 21, 75])
            let first = run(conv, x, dy, in: avx2), second = run(conv, x, dy, in: avx512)
            for (k, what) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
                XCTAssertTrue(first[k] == second[k], "\(tiling) \(what): the AVX2 and AVX-512 contexts differ")
            }
        }
    }

    /// Many channels: the forward and input-gradient products are summed in another order on each kernel, but the
    /// weight gradient (transforms of both builds, products on OpenBLAS either way) stays bitwise the same, and each
    /// context gives bitwise its own results again when the two take turns (nothing of one stays in the other).
    func testContextsTakingTurnsKeepTheirOwnResults() throws {
        try requireAVX512()
        let avx2 = ComputeContext(threads: 2, kernels: .avx2), avx512 = ComputeContext(threads: 3, kernels: .avx512)
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            let conv = convolution(24, 40, tiling)
            let x = random([2, 24, 22, 70]), dy = random([2, 40, 22, 70])
            let turns = [avx2, avx512, avx2, avx512].map { run(conv, x, dy, in: $0) }
            XCTAssertTrue(turns[0] == turns[2], "\(tiling): the AVX2 context's second run differs from its first")
            XCTAssertTrue(turns[1] == turns[3], "\(tiling): the AVX-512 context's second run differs from its first")
            XCTAssertTrue(turns[0][2] == turns[1][2], "\(tiling) weight gradient: the AVX2 and AVX-512 contexts differ")
            XCTAssertTrue(turns[0][3] == turns[1][3], "\(tiling) bias gradient: the AVX2 and AVX-512 contexts differ")
        }
    }

    /// The kernels a layer runs are the bound context's: the Winograd products' choice follows it.
    func testTheKernelsAreTheBoundContexts() {
        for kernels in TransformKernels.allCases {
            let products = ComputeContext(kernels: kernels).run {
                WinogradProducts(points: 16, outChannels: 4, inChannels: 4, tiles: 64)
            }
            XCTAssertEqual(products.kernels, kernels)
            XCTAssertEqual(ComputeContext(kernels: kernels).run { TransformKernels.active.gemmKernel }, kernels.gemmKernel, "\(kernels)")
        }
    }

    /// `parallelFor` splits a region over the bound context's threads, and every part sees that context bound;
    /// after `run` the context bound before is back.
    func testParallelForUsesTheBoundContextsThreads() {
        let outer = ComputeContext.current
        for threads in [1, 3] {
            let context = ComputeContext(threads: threads)
            let parts = Mutex<[(Range<Int>, Bool)]>([])
            context.run {
                parallelFor(9, grain: 1) { range in
                    let bound = ComputeContext.current === context
                    parts.withLock { $0.append((range, bound)) }
                }
            }
            let seen = parts.withLock { $0 }
            XCTAssertEqual(seen.count, threads, "\(threads) thread(s)")
            XCTAssertEqual(seen.map(\.0.count).reduce(0, +), 9)
            XCTAssertTrue(seen.allSatisfy(\.1), "\(threads) thread(s): a part ran without the region's context")
            XCTAssertTrue(ComputeContext.current === outer, "the outer context is not bound again")
        }
    }

    /// A model runs on the context it was made with, whatever the caller binds; only that context's profile counts.
    func testAModelRunsOnItsOwnContext() {
        var config = VAEConfig.sdV1
        (config.ch, config.chMult, config.numResBlocks, config.normNumGroups, config.attnResolutions) = (8, [1, 2], 1, 4, [])
        let own = ComputeContext(threads: 1), other = ComputeContext(threads: 2)
        let model = AutoencoderKL(config, context: own)
        model.initialize(seed: 3)
        own.profile.enabled = true
        other.profile.enabled = true
        let x = random([1, 3, 16, 16])
        _ = other.run { model.decode(model.encode(x, train: false).mode, train: false) }
        XCTAssertGreaterThan(own.profile.flops, 0, "the model's own context recorded nothing")
        XCTAssertEqual(other.profile.flops, 0, "the caller's context recorded the model's work")
        let seconds = own.profile.breakdown.reduce(0) { $0 + $1.seconds }
        own.profile.reset()
        XCTAssertGreaterThan(seconds, 0)
        XCTAssertEqual(own.profile.flops, 0)
    }
}
