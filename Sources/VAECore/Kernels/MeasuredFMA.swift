import Foundation
import GemmAVX512

/// The FMA loops behind `MeasuredFMA`, one per width of the kernels: enough independent chains that every FMA port
/// issues every cycle, nothing else in the loop (no loads, no stores).
public enum FMALoop {
    /// Chains of the AVX2 loop: 12 accumulators of 8 floats in 12 of the 16 ymm registers, 2 more for the multiplier
    /// and the addend (16 chains would spill); 1.5 times the 2 ports × 4 cycles of latency a core needs in flight.
    public static let avx2Chains = 12

    /// `GemmAVX512.fmaLoop` on 256-bit vectors (this module is compiled for x86-64-v3: vfmadd on ymm): `iterations`
    /// rounds of x ← x · multiplier + addend on each of `avx2Chains` chains of 8 lanes, lane l of chain i starting at
    /// start + Float(8 i + l) · step; returns the chains' sum, added chain by chain, then lane by lane in order.
    @inline(never)
    public static func avx2(iterations: Int, start: Float, step: Float, multiplier: Float, addend: Float) -> Float {
        typealias V = SIMD8<Float>
        let ramp = V(0, 1, 2, 3, 4, 5, 6, 7)
        let first = { (chain: Int) in V(repeating: start) + (ramp + V(repeating: Float(8 * chain))) * step }
        var c0 = first(0), c1 = first(1), c2 = first(2), c3 = first(3), c4 = first(4), c5 = first(5)
        var c6 = first(6), c7 = first(7), c8 = first(8), c9 = first(9), c10 = first(10), c11 = first(11)
        let m = V(repeating: multiplier), a = V(repeating: addend)
        for _ in 0..<iterations {
            c0 = a.addingProduct(c0, m); c1 = a.addingProduct(c1, m); c2 = a.addingProduct(c2, m)
            c3 = a.addingProduct(c3, m); c4 = a.addingProduct(c4, m); c5 = a.addingProduct(c5, m)
            c6 = a.addingProduct(c6, m); c7 = a.addingProduct(c7, m); c8 = a.addingProduct(c8, m)
            c9 = a.addingProduct(c9, m); c10 = a.addingProduct(c10, m); c11 = a.addingProduct(c11, m)
        }
        var total = c0
        total += c1; total += c2; total += c3; total += c4; total += c5
        total += c6; total += c7; total += c8; total += c9; total += c10; total += c11
        var sum: Float = 0
        for lane in 0..<8 { sum += total[lane] }
        return sum
    }

    /// Independent chains of the loop of `kernels`.
    public static func chains(_ kernels: TransformKernels) -> Int { kernels == .avx512 ? GemmAVX512.fmaChains : avx2Chains }

    /// The loop on the vectors of `kernels`: `GemmAVX512.fmaLoop` (16 lanes) or `avx2` (8 lanes).
    public static func run(_ kernels: TransformKernels, iterations: Int, start: Float, step: Float, multiplier: Float,
                           addend: Float) -> Float {
        switch kernels {
        case .avx512: GemmAVX512.fmaLoop(iterations: iterations, start: start, step: step, multiplier: multiplier, addend: addend)
        case .avx2: avx2(iterations: iterations, start: start, step: step, multiplier: multiplier, addend: addend)
        }
    }
}

/// What the cores really reach, beside `ArithmeticPeak`'s formula (whose clock and ports are read or assumed): the
/// rate of `FMALoop` on every thread of a context at once, on its kernels' vectors, and the clock that rate implies
/// (rate / (cores × FMA ports × lanes × 2)). Where the cores run vector code at another clock than the one the system
/// states (AVX-512 clocks, turbo, a hypervisor's TSC rate) the two differ; on a quiet machine no GEMM on the same
/// vectors beats this one (on a busy one, a disturbed measurement can read lower than the products).
public struct MeasuredFMA: Codable, Sendable {
    /// GFLOP/s of all threads together (2 flops per lane per FMA).
    public var gflops: Double
    /// The clock `gflops` implies at `fmaPorts` FMAs per cycle on each of `cores` cores.
    public var impliedMegahertz: Double
    public var threads: Int
    /// min(threads, processors): what the implied clock divides by.
    public var cores: Int
    public var fmaPorts: Int
    public var lanes: Int
    public var chains: Int
    /// The kernels whose vector width the loop used: avx2 or avx512.
    public var kernels: String
    public var repeats: Int
    /// FMA rounds per chain and thread in each repeat (sized to `seconds` by a first, unmeasured run).
    public var iterations: Int
    /// The median repeat.
    public var secondsPerRepeat: Double
    /// The loops' results, summed over the threads: the arithmetic is observable, so it cannot be optimised away.
    public var checksum: Double

    enum CodingKeys: String, CodingKey {
        case gflops, threads, cores, lanes, chains, kernels, repeats, iterations, checksum
        case impliedMegahertz = "implied_megahertz", fmaPorts = "fma_ports", secondsPerRepeat = "seconds_per_repeat"
    }

    /// Runs `FMALoop` on the context's kernels, on each of its threads at once (`parallelFor`): once to size a repeat to
    /// about `seconds`, then `repeats` times; the median repeat gives the rate.
    public init(context: ComputeContext, repeats: Int = 5, seconds: Double = 0.2) {
        let kernels = context.kernels, threads = context.threads
        var sums = [Float](repeating: 0, count: threads)
        let run = { (iterations: Int) -> Double in
            let started = DispatchTime.now().uptimeNanoseconds
            sums.withUnsafeMutableBufferPointer { sums in
                let base = sums.baseAddress!
                context.run {
                    parallelFor(threads, grain: 1) { range in
                        for t in range {
                            base[t] = Self.loop(kernels, iterations: iterations)
                        }
                    }
                }
            }
            return Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        }
        let probe = 1 << 20
        let iterations = max(probe, Int(Double(probe) * seconds / max(run(probe), 1e-6)))
        let times = (0..<max(1, repeats)).map { _ in run(iterations) }
        self.iterations = iterations
        secondsPerRepeat = times.sorted()[times.count / 2]
        (self.threads, self.kernels, self.repeats) = (threads, kernels.rawValue, times.count)
        (lanes, chains, fmaPorts) = (kernels.lanes, FMALoop.chains(kernels), ArithmeticPeak.assumedFMAPorts)
        cores = min(threads, ProcessInfo.processInfo.activeProcessorCount)
        gflops = Double(threads * iterations * chains * lanes * 2) / secondsPerRepeat / 1e9
        impliedMegahertz = ArithmeticPeak.megahertz(gflops: gflops, cores: cores, fmaPorts: fmaPorts, lanes: lanes)
        checksum = sums.reduce(0) { $0 + Double($1) }
    }

    /// One thread's loop of a repeat: x ← 0.75 x + 0.25 settles near 1, no overflow, no subnormals (which would slow
    /// the FMAs down).
    public static func loop(_ kernels: TransformKernels, iterations: Int) -> Float {
        FMALoop.run(kernels, iterations: iterations, start: 1, step: 0x1p-10, multiplier: 0.75, addend: 0.25)
    }
}
