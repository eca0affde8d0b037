import Foundation
import VAEAnalysis
import VAECore
import VAEFormats
import VAEJobs
import VAETraining

/// `vae-dist bench`: training steps on synthetic data, timed by phase and by kind of work.
public struct BenchmarkResult: Codable, Sendable {
    public var mode: String
    public var ranks: Int
    public var threads: Int
    public var imgSize: Int
    public var batchSize: Int
    /// Micro-batches per step (train mode): a step sees batchSize · gradAccum images.
    public var gradAccum: Int
    public var steps: Int
    public var parameters: Int
    /// Median seconds per step (per pair in analyze mode).
    public var secondsPerStep: Double
    public var itemsPerSecond: Double
    /// Median seconds per phase: forward, backward, allreduce_wait, optimizer.
    public var phases: [String: Double]
    /// Seconds per step by kind of work (this rank), averaged over the measured steps.
    public var kinds: [String: Double]
    /// Analytic FLOPs of convolutions and matmuls per step, and their rate.
    public var gflopPerStep: Double
    public var gflopsPerSecond: Double
    public var peakResidentMB: Double
    /// Every rank's median all-reduce wait (seconds per step), rank 0 first.
    public var waitByRank: [Double]
    /// Floats per gradient bucket in the order their sums start (train mode): all but the last overlap backward.
    public var gradientBuckets: [Int] = []
    /// The kernels that ran (`TransformKernels`: the Winograd transforms and products): avx2 or avx512.
    public var kernels: String
    /// The OpenBLAS core whose kernels ran (`BLASCore`): SkylakeX, Haswell, Zen, ...
    public var blasCore: String = BLASCore.running
    /// The same core and who chose it (`BLASCore.Status`): "SkylakeX (set by vae-dist; the library chose Prescott)".
    public var blasCoreStatus: String = BLASCore.current.description
    /// `--mode sgemm`: the rates measured and the arithmetic peak.
    public var ceiling: GemmCeiling?

    enum CodingKeys: String, CodingKey {
        case mode, ranks, threads, steps, parameters, phases, kinds, kernels, ceiling
        case blasCore = "blas_core", blasCoreStatus = "blas_core_status"
        case imgSize = "img_size", batchSize = "batch_size", gradAccum = "grad_accum", secondsPerStep = "seconds_per_step"
        case itemsPerSecond = "items_per_second", gflopPerStep = "gflop_per_step", gflopsPerSecond = "gflops_per_second"
        case peakResidentMB = "peak_resident_mb", waitByRank = "allreduce_wait_by_rank", gradientBuckets = "gradient_buckets"
    }
}

/// The GEMM rates of `--mode sgemm` (GFLOP/s): our own kernel's (nil where OpenBLAS runs every product), OpenBLAS's,
/// the FMA rate the same threads measure (`MeasuredFMA`) and the arithmetic peak of the cores by formula.
public struct GemmCeiling: Codable, Sendable {
    public var ownKernel: Double?
    public var openBLAS: Double
    public var measuredFMA: MeasuredFMA
    public var peak: ArithmeticPeak

    enum CodingKeys: String, CodingKey {
        case ownKernel = "own_kernel_gflops", openBLAS = "openblas_gflops", measuredFMA = "measured_fma", peak
    }
}

public enum Benchmark {
    /// Peak resident set size of this process in MB (Linux reports KiB).
    public static var peakResidentMB: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    private static func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Noise images of one size: what the benchmarks feed the model, through the path real images take.
    private static func randomImages(count: Int, size: Int, seed: UInt64) -> [RGB8Image] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in RGB8Image(width: size, height: size, pixels: (0..<3 * size * size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }) }
    }

    /// Runs one warm-up step and `steps` measured steps of the trainer (`TrainingStep`) on random images: a global
    /// batch of `batchSize` per micro-batch, `gradAccum` micro-batches per step, split over the replicas as in training.
    public static func train(model: AutoencoderKL, imgSize: Int, batchSize: Int, gradAccum: Int = 1, steps: Int,
                             replicas: ReplicaGroup) throws -> BenchmarkResult {
        let n = SampleOrder.share(of: batchSize, rank: replicas.rank, ranks: replicas.size).count
        try model.config.requireRGB(for: "bench")
        try MemoryEstimate.require(config: model.config, imageSize: imgSize, batch: n, work: .training,
                                   cachedImages: batchSize * gradAccum)
        model.initialize(seed: 0)
        var options = TrainingOptions(trainDir: "random images")
        (options.batchSize, options.gradAccum, options.imgSize, options.lr, options.klWeight) = (batchSize, gradAccum, imgSize, 1e-5, 1e-6)
        let stepBatch = options.stepBatch
        let images = randomImages(count: stepBatch, size: imgSize, seed: 1)
        let buckets = GradientBuckets(groups: model.backwardGroups, replicas: replicas)
        let step = TrainingStep(model: model, images: CachedImages(size: imgSize, count: stepBatch, bytes: images.flatMap(\.pixels)),
                                options: options, loss: VAELoss(klWeight: options.klWeight),
                                optimizer: Optimizer(parameters: model.namedParameters.map(\.parameter), lr: options.lr), ema: nil,
                                buckets: buckets, replicas: replicas)
        var phases: [String: [Double]] = [:]
        var totals: [Double] = []
        let profile = model.context.profile
        defer { profile.enabled = false }
        for index in 0...steps {
            if index == 1 { profile.reset(); profile.enabled = true }
            let started = clock()
            var spent = Dictionary(uniqueKeysWithValues: StepPhase.allCases.map { ($0.rawValue, 0.0) })
            var mark = started
            _ = try step.run(Array(0..<stepBatch), next: [], epoch: 0) { phase in
                let now = clock()
                spent[phase.rawValue, default: 0] += now - mark
                mark = now
            }
            guard index > 0 else { continue }
            for (phase, seconds) in spent { phases[phase, default: []].append(seconds) }
            totals.append(mark - started)
        }
        profile.enabled = false
        let perStep = median(totals)
        var flops = [profile.flops / Double(steps)]
        replicas.sum(&flops)
        var waits = [Double](repeating: 0, count: replicas.size)
        waits[replicas.rank] = median(phases["allreduce_wait"] ?? [])
        replicas.sum(&waits)
        return BenchmarkResult(
            mode: "train", ranks: replicas.size, threads: model.context.threads, imgSize: imgSize, batchSize: batchSize,
            gradAccum: gradAccum, steps: steps, parameters: model.parameterCount, secondsPerStep: perStep,
            itemsPerSecond: Double(stepBatch) / perStep, phases: phases.mapValues(median),
            kinds: Dictionary(uniqueKeysWithValues: profile.breakdown.map { ($0.kind.rawValue, $0.seconds / Double(steps)) }),
            gflopPerStep: flops[0] / 1e9, gflopsPerSecond: flops[0] / 1e9 / max(perStep, 1e-12),
            peakResidentMB: peakResidentMB, waitByRank: waits, gradientBuckets: buckets.sizes, kernels: model.context.kernels.rawValue)
    }

    /// Analysis of one image pair per step (random images) as `vae-dist analyze` runs it: encode each image, decode
    /// the posterior modes side by side measuring every decoder layer. Each replica analyses its own pair, as analyze-folder spreads pairs over ranks.
    public static func analyze(model: AutoencoderKL, imgSize: Int, steps: Int, replicas: ReplicaGroup) throws -> BenchmarkResult {
        try model.config.requireRGB(for: "bench")
        try MemoryEstimate.require(config: model.config, imageSize: imgSize, batch: 2, work: .inference, cachedImages: 2)
        model.initialize(seed: 0)
        let images = randomImages(count: 2, size: imgSize, seed: UInt64(replicas.rank + 1)).map { imageBatch([$0]) }
        var encodeTimes: [Double] = [], decodeTimes: [Double] = [], totals: [Double] = []
        let profile = model.context.profile
        defer { profile.enabled = false }
        // The pair's metrics run under the model's context too, as the analysis runs them.
        try model.context.run {
            for step in 0...steps {
                if step == 1 { profile.reset(); profile.enabled = true }
                let t0 = clock()
                let modes = model.encode(items: images).map(\.mode)
                let t1 = clock()
                _ = PairAnalysis(decoding: modes, with: model)
                let t2 = clock()
                guard step > 0 else { continue }
                encodeTimes.append(t1 - t0)
                decodeTimes.append(t2 - t1)
                totals.append(t2 - t0)
            }
        }
        profile.enabled = false
        let perPair = median(totals)
        var flops = [profile.flops / Double(steps)]
        replicas.sum(&flops)
        return BenchmarkResult(
            mode: "analyze", ranks: replicas.size, threads: model.context.threads, imgSize: imgSize, batchSize: 2,
            gradAccum: 1, steps: steps, parameters: model.parameterCount, secondsPerStep: perPair,
            itemsPerSecond: Double(replicas.size) / perPair,
            phases: ["encode": median(encodeTimes), "decode + metrics": median(decodeTimes)],
            kinds: Dictionary(uniqueKeysWithValues: profile.breakdown.map { ($0.kind.rawValue, $0.seconds / Double(steps)) }),
            gflopPerStep: flops[0] / 1e9, gflopsPerSecond: flops[0] / 1e9 / max(perPair, 1e-12),
            peakResidentMB: peakResidentMB, waitByRank: [Double](repeating: 0, count: replicas.size), kernels: model.context.kernels.rawValue)
    }

    /// The GEMM ceiling of this machine: one square product of `size` per thread at the same time, on our own kernel
    /// (`TransformKernels.gemmKernel`, packing its operands once per product) and as one whole OpenBLAS call each,
    /// alternately, one warm-up and `steps` measured each; beside them the FMA rate the same threads reach
    /// (`MeasuredFMA`, on the context's kernels' vectors) and the arithmetic peak by formula (`ArithmeticPeak`). The
    /// result's rate is the better of the two products (the share the other modes' GEMM rates are set against).
    public static func sgemmCeiling(size: Int, steps: Int, replicas: ReplicaGroup, context: ComputeContext) -> BenchmarkResult {
        let products = context.threads
        let a = Tensor(shape: [size, size]), b = Tensor(shape: [size, size]), c = Tensor(shape: [products, size, size])
        var rng = SplitMix64(seed: UInt64(replicas.rank + 1))
        for i in 0..<a.count { a[i] = Float(rng.nextUniform()); b[i] = Float(rng.nextUniform()) }
        var totals: [Bool: [Double]] = [false: [], true: []]
        for step in 0...steps {
            for openBLAS in [false, true] {
                let start = DispatchTime.now().uptimeNanoseconds
                context.run {
                    a.withUnsafeBufferPointer { a in
                        b.withUnsafeBufferPointer { b in
                            c.withUnsafeMutableBufferPointer { c in
                                sgemmBatch(count: products, m: size, n: size, k: size, a: a.baseAddress!, strideA: 0,
                                           b: b.baseAddress!, strideB: 0, c: c.baseAddress!, strideC: size * size,
                                           openBLAS: openBLAS)
                            }
                        }
                    }
                }
                guard step > 0 else { continue }
                totals[openBLAS]!.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
            }
        }
        let gflop = Double(products) * 2 * pow(Double(size), 3) / 1e9
        let own = median(totals[false]!), blas = median(totals[true]!), perStep = min(own, blas)
        let peak = ArithmeticPeak(cores: min(products, ProcessInfo.processInfo.activeProcessorCount))
        var result = BenchmarkResult(
            mode: "sgemm", ranks: replicas.size, threads: products, imgSize: size, batchSize: 1, gradAccum: 1, steps: steps,
            parameters: 0, secondsPerStep: perStep, itemsPerSecond: Double(products) / perStep, phases: [:],
            kinds: ["conv (GEMM)": perStep], gflopPerStep: gflop, gflopsPerSecond: gflop / perStep,
            peakResidentMB: peakResidentMB, waitByRank: [Double](repeating: 0, count: replicas.size), kernels: context.kernels.rawValue)
        result.ceiling = GemmCeiling(ownKernel: context.kernels.runsOwnGemm ? gflop / own : nil,
                                     openBLAS: gflop / blas, measuredFMA: MeasuredFMA(context: context), peak: peak)
        return result
    }
}
