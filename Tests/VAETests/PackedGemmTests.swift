@testable import VAECore
import XCTest

/// Our own GEMM for the products that went through OpenBLAS (the weight gradients, the 1×1 and stride-2 convolutions,
/// attention; `GemmProblem.runPacked`): every element of C must be one FMA chain over k = 0, 1, … in order, started
/// from zero (`Float.addingProduct`), per block of 256 k with the blocks' sums added in order, then alpha · sum, then
/// + beta · C unless beta is zero, bit for bit, on both
/// micro-kernels (AVX-512 8 × 32 and AVX2 6 × 16), every transposition, on the calling thread and over the threads.
/// Shapes leave partial panels of rows and columns, span several tasks of rows and of columns (and the narrower
/// column blocks of a deep k), and the operands' rows are longer than they are read, the rest NaN, as is C where
/// beta is zero: a value read that should not be shows.
final class PackedGemmTests: XCTestCase {
    var rng = SplitMix64(seed: 22)

    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) } }

    struct Case {
        var transA, transB: Bool
        var m, n, k: Int
        var alpha, beta: Float
    }

    /// The kernels this CPU runs: the AVX-512 one only where it has AVX-512 (said, not silently skipped).
    func kernels() -> [GemmMicroKernel] {
        let runnable = GemmMicroKernel.allCases.filter(\.runs)
        if !runnable.contains(.avx512) { print("PackedGemmTests: this CPU does not run AVX-512 code: the AVX2 kernel alone is checked") }
        return runnable
    }

    /// C from `runPacked` and from the scalar chain, as bit patterns.
    func compute(_ t: Case, kernel: GemmMicroKernel?, parallel: Bool = true) -> (packed: [UInt32], reference: [UInt32]) {
        let (rowsA, columnsA) = t.transA ? (t.k, t.m) : (t.m, t.k)
        let (rowsB, columnsB) = t.transB ? (t.n, t.k) : (t.k, t.n)
        let (lda, ldb, ldc) = (columnsA + 3, columnsB + 5, t.n + 2)
        var a = [Float](repeating: .nan, count: rowsA * lda), b = [Float](repeating: .nan, count: rowsB * ldb)
        for r in 0..<rowsA { for j in 0..<columnsA { a[r * lda + j] = Float(rng.nextUniform() * 2 - 1) } }
        for r in 0..<rowsB { for j in 0..<columnsB { b[r * ldb + j] = Float(rng.nextUniform() * 2 - 1) } }
        var c = [Float](repeating: .nan, count: t.m * ldc)
        if t.beta != 0 { for r in 0..<t.m { for j in 0..<t.n { c[r * ldc + j] = Float(rng.nextUniform() * 2 - 1) } } }
        var reference = c
        for i in 0..<t.m {
            for j in 0..<t.n {
                // One chain per block of 256 k (`depthBlock`), the blocks' sums added in order.
                var sum: Float = 0
                for start in stride(from: 0, to: t.k, by: 256) {
                    var chain: Float = 0
                    for kk in start..<min(t.k, start + 256) {
                        let x = t.transA ? a[kk * lda + i] : a[i * lda + kk], y = t.transB ? b[j * ldb + kk] : b[kk * ldb + j]
                        chain = chain.addingProduct(x, y)
                    }
                    sum = start == 0 ? chain : sum + chain
                }
                var value = t.alpha * sum
                if t.beta != 0 { value = value + t.beta * c[i * ldc + j] }
                reference[i * ldc + j] = value
            }
        }
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    let problem = GemmProblem(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                                              a: a.baseAddress!, lda: lda, b: b.baseAddress!, ldb: ldb, beta: t.beta,
                                              c: c.baseAddress!, ldc: ldc)
                    if let kernel { problem.runPacked(kernel, parallel: parallel) } else {
                        sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a.baseAddress!,
                              lda: lda, b: b.baseAddress!, ldb: ldb, beta: t.beta, c: c.baseAddress!, ldc: ldc)
                    }
                }
            }
        }
        // Only C's m × n entries count; the rest of each row must stay as it was (NaN).
        return (c.map(\.bitPattern), reference.map(\.bitPattern))
    }

    /// (m, n, k): one element; partial panels; k = 1; rows over two tasks of 256 (and of 192); columns over several
    /// blocks; a deep k (narrower column blocks: 131072 / k floats of B per task, and three blocks of k) with columns
    /// past one block; k one past two blocks; k = 0 (C = beta · C); whole and partial 8 × 8 blocks of the packing
    /// transpositions on every side.
    let shapes = [(1, 1, 1), (7, 33, 5), (5, 17, 1), (13, 9, 300), (300, 40, 24), (20, 600, 3), (17, 300, 600), (3, 5, 513), (9, 70, 0),
                  (24, 70, 37), (16, 64, 8)]

    func testEveryProductIsTheScalarChainOnBothKernels() {
        for kernel in kernels() {
            for (m, n, k) in shapes {
                for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.37, 0), (1, 1), (0.5, -1.25)] {
                        let t = Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta)
                        for parallel in [false, true] {
                            let (packed, reference) = compute(t, kernel: kernel, parallel: parallel)
                            let differing = zip(packed, reference).filter { $0 != $1 }.count
                            XCTAssertEqual(differing, 0, "\(kernel) \(t) parallel \(parallel): \(differing) values differ from the scalar chain")
                        }
                    }
                }
            }
        }
    }

    func testThinTransposedProductsGoToOpenBLAS() {
        func problem(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int) -> GemmProblem {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: 1)
            defer { p.deallocate() }
            return GemmProblem(transA: transA, transB: transB, m: m, n: n, k: 9, alpha: 1, a: p, lda: 1, b: p, ldb: 1,
                               beta: 0, c: p, ldc: 1)
        }
        XCTAssertFalse(problem(false, true, 64, 512).packingPays, "the small model's weight gradient: both packs transpose")
        XCTAssertFalse(problem(false, false, 512, 32).packingPays, "A's rows along k against 32 columns")
        XCTAssertFalse(problem(true, true, 32, 512).packingPays, "B's columns along k against 32 rows")
        XCTAssertTrue(problem(false, true, 128, 128).packingPays)
        XCTAssertTrue(problem(true, false, 4, 4).packingPays, "no transposing pack")
    }

    func testSgemmRunsTheContextsKernelBitwiseWithAnyThreadCount() {
        let runnable = TransformKernels.allCases.filter { $0 == .avx2 || TransformKernels.cpuRunsAVX512 }
        for kernels in runnable {
            XCTAssertNotNil(kernels.gemmKernel, "x86-64 runs every product on its own kernel")
            for threads in [1, 2, 3] {
                ComputeContext(threads: threads, kernels: kernels).run {
                    for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                        let t = Case(transA: transA, transB: transB, m: 130, n: 530, k: 45, alpha: 0.125, beta: 1)
                        let (result, reference) = compute(t, kernel: nil)
                        XCTAssertEqual(result, reference, "\(kernels), \(threads) threads, \(t)")
                    }
                }
            }
        }
    }

    /// The batch of products (Winograd's weight gradient, the sgemm ceiling) runs each product on one thread: the same
    /// chain (for shapes where `packingPays`; thinner ones go to OpenBLAS).
    func testBatchedProductsAreTheScalarChain() {
        let (count, m, n, k) = (3, 130, 129, 29)
        let a = random(count * m * k), b = random(count * n * k)
        var c = [Float](repeating: .nan, count: count * m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    sgemmBatch(count: count, transB: true, m: m, n: n, k: k, a: a.baseAddress!, strideA: m * k,
                               b: b.baseAddress!, strideB: n * k, c: c.baseAddress!, strideC: m * n)
                }
            }
        }
        var differing = 0
        for p in 0..<count {
            for i in 0..<m {
                for j in 0..<n {
                    var chain: Float = 0
                    for kk in 0..<k { chain = chain.addingProduct(a[p * m * k + i * k + kk], b[p * n * k + j * k + kk]) }
                    if c[p * m * n + i * n + j].bitPattern != chain.bitPattern { differing += 1 }
                }
            }
        }
        XCTAssertEqual(differing, 0)
    }
}

/// The arithmetic peak `vae-dist bench --mode sgemm` sets the GEMM rates beside.
final class ArithmeticPeakTests: XCTestCase {
    func testTheBrandStringsClock() {
        XCTAssertEqual(ArithmeticPeak.brandGigahertz("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"), 2.5)
        XCTAssertNil(ArithmeticPeak.brandGigahertz("Intel(R) Xeon(R) Processor"))
        XCTAssertNil(ArithmeticPeak.brandGigahertz("AMD EPYC 9B14 96-Core Processor"))
    }

    func testThePeakIsCoresTimesPortsTimesLanesTimesTwoTimesTheClock() {
        var peak = ArithmeticPeak(cores: 2)
        XCTAssertEqual(peak.lanes, TransformKernels.cpuRunsAVX512 ? 16 : 8)
        XCTAssertFalse(peak.clockSource.isEmpty)
        peak = ArithmeticPeak(cores: 3)
        if let mhz = peak.megahertz {
            XCTAssertEqual(peak.gflops ?? 0, 3 * 2 * Double(peak.lanes) * 2 * mhz / 1000, accuracy: 1e-9)
        } else {
            XCTAssertNil(peak.gflops, "no clock, no peak")
        }
    }

    /// The formula and its inverse, the clock a measured rate implies: this KVM host's 2 cores at /proc/cpuinfo's
    /// 2100 MHz with AVX-512 (268.8 GFLOP/s), and a measured 215 GFLOP/s there.
    func testTheClockArithmetic() {
        XCTAssertEqual(ArithmeticPeak.gflops(cores: 2, fmaPorts: 2, lanes: 16, megahertz: 2100), 268.8, accuracy: 1e-9)
        XCTAssertEqual(ArithmeticPeak.gflops(cores: 1, fmaPorts: 2, lanes: 8, megahertz: 3000), 96, accuracy: 1e-9)
        XCTAssertEqual(ArithmeticPeak.megahertz(gflops: 268.8, cores: 2, fmaPorts: 2, lanes: 16), 2100, accuracy: 1e-9)
        XCTAssertEqual(ArithmeticPeak.megahertz(gflops: 215, cores: 2, fmaPorts: 2, lanes: 16), 1679.6875, accuracy: 1e-9)
    }

    /// What the FMA loop of `width` lanes and `chains` chains computes, with scalar fmas in the same order.
    static func scalarFMALoop(chains: Int, lanes: Int, iterations: Int, start: Float, step: Float, multiplier: Float,
                              addend: Float) -> Float {
        var totals = [Float](repeating: 0, count: lanes)
        for chain in 0..<chains {
            for lane in 0..<lanes {
                var x = start + (Float(lane) + Float(lanes * chain)) * step
                for _ in 0..<iterations { x = addend.addingProduct(x, multiplier) }
                totals[lane] = chain == 0 ? x : totals[lane] + x
            }
        }
        var sum: Float = 0
        for total in totals { sum += total }
        return sum
    }

    /// Each width's loop runs exactly the chains and rounds it claims: its result is bit for bit that of as many scalar
    /// fmas, and one chain or one round fewer would give another.
    func testTheFMALoopsRunTheChainsTheyClaim() {
        let runnable = TransformKernels.allCases.filter { $0 == .avx2 || TransformKernels.cpuRunsAVX512 }
        if !runnable.contains(.avx512) { print("ArithmeticPeakTests: this CPU does not run AVX-512 code: the AVX2 loop alone is checked") }
        XCTAssertEqual(FMALoop.chains(.avx2), 12)
        XCTAssertEqual(FMALoop.chains(.avx512), 16)
        let (start, step, multiplier, addend): (Float, Float, Float, Float) = (0.5, 0.01, 1 + 0x1p-10, 0.001)
        for kernels in runnable {
            let chains = FMALoop.chains(kernels), lanes = kernels.lanes
            for iterations in [0, 1, 777] {
                let loop = FMALoop.run(kernels, iterations: iterations, start: start, step: step, multiplier: multiplier, addend: addend)
                let scalar = Self.scalarFMALoop(chains: chains, lanes: lanes, iterations: iterations, start: start, step: step,
                                                multiplier: multiplier, addend: addend)
                XCTAssertEqual(loop.bitPattern, scalar.bitPattern, "\(kernels), \(iterations) rounds: \(loop) against \(scalar)")
            }
            let loop = FMALoop.run(kernels, iterations: 777, start: start, step: step, multiplier: multiplier, addend: addend)
            XCTAssertNotEqual(loop, Self.scalarFMALoop(chains: chains, lanes: lanes, iterations: 776, start: start, step: step,
                                                       multiplier: multiplier, addend: addend))
            XCTAssertNotEqual(loop, Self.scalarFMALoop(chains: chains - 1, lanes: lanes, iterations: 777, start: start, step: step,
                                                       multiplier: multiplier, addend: addend))
        }
    }

    /// The measured rate is the loops' flops over the median repeat, the implied clock that rate over the formula's
    /// other factors, and the checksum every thread's loop result (no timing is asserted).
    func testTheMeasuredFMARateIsTheLoopsFlopsOverTheirTime() {
        let runnable = TransformKernels.allCases.filter { $0 == .avx2 || TransformKernels.cpuRunsAVX512 }
        for kernels in runnable {
            let m = MeasuredFMA(context: ComputeContext(threads: 2, kernels: kernels), repeats: 3, seconds: 0.01)
            XCTAssertEqual(m.kernels, kernels.rawValue)
            XCTAssertEqual(m.threads, 2)
            XCTAssertEqual(m.cores, min(2, ProcessInfo.processInfo.activeProcessorCount))
            XCTAssertEqual(m.lanes, kernels.lanes)
            XCTAssertEqual(m.chains, FMALoop.chains(kernels))
            XCTAssertEqual(m.repeats, 3)
            XCTAssertGreaterThanOrEqual(m.iterations, 1 << 20)
            XCTAssertGreaterThan(m.secondsPerRepeat, 0)
            XCTAssertEqual(m.gflops, Double(2 * m.iterations * m.chains * m.lanes * 2) / m.secondsPerRepeat / 1e9,
                           accuracy: 1e-9 * m.gflops)
            XCTAssertEqual(m.impliedMegahertz, ArithmeticPeak.megahertz(gflops: m.gflops, cores: m.cores, fmaPorts: 2, lanes: m.lanes),
                           accuracy: 1e-9 * m.impliedMegahertz)
            XCTAssertEqual(m.checksum, 2 * Double(MeasuredFMA.loop(kernels, iterations: m.iterations)))
        }
    }
}
