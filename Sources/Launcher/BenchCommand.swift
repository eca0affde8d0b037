import ArgumentParser
import Foundation
import VAECore
import VAEFormats
import VAEJobs
import VAETools

/// `bench --mode`: what one measured step is.
enum BenchMode: String, CaseIterable, ExpressibleByArgument {
    case train, analyze, sgemm
}

/// `bench --preset`: built-in models.
enum BenchPreset: String, CaseIterable, ExpressibleByArgument {
    case sdV1 = "sd-v1"

    var config: VAEConfig {
        switch self {
        case .sdV1: return .sdV1
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training speed on synthetic data: time per step, by phase and by kind of work, GFLOP/s, peak memory.",
        discussion: "Works under mpirun (the global batch is split as in training; every rank's all-reduce wait is reported). Benchmarks are for people, not tests: scripts/bench.sh runs the reference configurations next to PyTorch.\n\nBLAS core here: \(BLASCore.current).")

    @OptionGroup var modelOptions: ModelOptions<BenchDefaults>

    @Option(help: "A built-in model instead of --config: sd-v1 (the Stable Diffusion v1 VAE).")
    var preset: BenchPreset?

    @Option(name: snakeAndKebab("batch_size"), help: "Global batch size.")
    var batchSize = 2
    static let batchSizeRange = 1...65_536

    @Option(name: snakeAndKebab("grad_accum"),
            help: "Micro-batches of --batch_size per training step (as train's --grad_accum): a step sees batch_size × grad_accum images, holding one micro-batch's activations at a time.")
    var gradAccum = 1
    static let gradAccumRange = 1...65_536

    @Option(help: "Measured steps (after one warm-up step).")
    var steps = 3
    static let stepsRange = 1...1_000_000

    @Option(help: "What to measure: train (steps of --batch_size images), analyze (one image pair per step) or sgemm (the GEMM ceiling: a 2048×2048×2048 product per thread, side by side, on our own kernel and on OpenBLAS, beside the FMA rate the same threads measure and the arithmetic peak by formula; the better product rate is the one the convolutions' GEMM rate compares with).")
    var mode: BenchMode = .train

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if modelOptions.config != nil && preset != nil { throw ValidationError("give --config or --preset, not both") }
        try checkRange(steps, Self.stepsRange, flag: "--steps")
        try checkRange(batchSize, Self.batchSizeRange, flag: "--batch_size")
        try checkRange(gradAccum, Self.gradAccumRange, flag: "--grad_accum")
        if gradAccum > 1 && mode != .train { throw ValidationError("--grad_accum applies to --mode train only") }
    }

    func run() throws {
        let mpi = try modelOptions.startJob()
        try mpi.run { replicas, _ in
            var provenance = mpi.provenance
            if mode == .sgemm {
                let result = Benchmark.sgemmCeiling(size: Self.sgemmSize, steps: steps, replicas: replicas, context: mpi.context)
                guard replicas.rank == 0 else { return }
                print(json ? try Self.json(result, provenance: provenance) : Self.ceilingText(result))
                return
            }
            // Rank 0 reads --config and sends it: the other hosts need not have the file.
            let source = try preset == nil
                ? replicas.modelSource(checkpoint: nil, option: "--config", config: modelOptions.config, log: { _ in }).source : nil
            let cfg = preset?.config ?? source!.config
            provenance.configSource = preset.map { "--preset \($0.rawValue)" } ?? source!.configOrigin.description
            try cfg.checkImageSize(modelOptions.imgSize, option: "--img_size")
            let vae = AutoencoderKL(cfg, arithmetic: modelOptions.arithmetic(for: mode == .train ? .training : .inference),
                                    context: mpi.context)
            let result = switch mode {
            case .train: try Benchmark.train(model: vae, imgSize: modelOptions.imgSize, batchSize: batchSize, gradAccum: gradAccum,
                                               steps: steps, replicas: replicas)
            case .analyze, .sgemm: try Benchmark.analyze(model: vae, imgSize: modelOptions.imgSize, steps: steps, replicas: replicas)
            }
            guard replicas.rank == 0 else { return }
            print(json ? try Self.json(result, provenance: provenance) : Self.table(result, model: cfg.yamlDescription))
        }
    }

    /// `--mode sgemm`'s lines: the best product rate (the ceiling), a summary beside the measured FMA peak and the
    /// formula's, then each in detail, the products' rates as shares of the measured FMA peak.
    static func ceilingText(_ r: BenchmarkResult) -> String {
        let first = String(format: "sgemm %d×%d×%d, one product per thread, %d thread(s): %.4f s per step, %.1f GFLOP/s (median of %d)",
                           sgemmSize, sgemmSize, sgemmSize, r.threads, r.secondsPerStep, r.gflopsPerSecond, r.steps)
            + ", OpenBLAS core \(r.blasCoreStatus)"
        guard let ceiling = r.ceiling else { return first }
        let (fma, peak) = (ceiling.measuredFMA, ceiling.peak)
        let rate = { (gflops: Double) in String(format: "%.1f", gflops) }
        let clock = peak.megahertz.map { String(format: "%.0f MHz", $0) } ?? "unknown"
        let implied = String(format: "clock ≈ %.0f MHz", fma.impliedMegahertz)
        let share = { (gflops: Double) in String(format: " = %.0f%% of the measured FMA peak", 100 * gflops / fma.gflops) }
        var lines = [first]
        lines.append("  ceiling: ours " + (ceiling.ownKernel.map(rate) ?? "not built") + ", OpenBLAS \(rate(ceiling.openBLAS))"
                     + ", measured FMA peak \(rate(fma.gflops)) (\(implied)), formula peak "
                     + (peak.gflops.map(rate) ?? "unknown") + " (assumed \(clock)) GFLOP/s")
        if let own = ceiling.ownKernel {
            lines.append("  our kernel (\(r.kernels)): \(rate(own)) GFLOP/s" + share(own))
        } else {
            lines.append("  our kernel: not built for this CPU (OpenBLAS runs every product)")
        }
        lines.append("  OpenBLAS (\(r.blasCore)): \(rate(ceiling.openBLAS)) GFLOP/s" + share(ceiling.openBLAS))
        lines.append("  measured FMA peak: \(rate(fma.gflops)) GFLOP/s = \(fma.threads) thread(s) at once, each \(fma.chains) "
                     + "independent chains of \(fma.lanes * 32)-bit FMAs (\(fma.kernels) kernels), median of \(fma.repeats) × "
                     + String(format: "%.3f s", fma.secondsPerRepeat) + "; \(implied) = that rate / (\(fma.cores) core(s) × "
                     + "\(fma.fmaPorts) FMA ports × \(fma.lanes) lanes × 2)")
        lines.append("  formula peak: " + (peak.gflops.map { rate($0) + " GFLOP/s" } ?? "unknown")
                     + " = \(peak.cores) core(s) × \(peak.fmaPorts) FMA ports (assumed) × \(peak.lanes) lanes × 2 × \(clock) (clock: \(peak.clockSource))")
        return lines.joined(separator: "\n")
    }

    /// Side of the square products of `--mode sgemm`: large enough that packing is a small part of the work.
    static let sgemmSize = 2048

    /// The result's fields and its `provenance` record.
    static func json(_ result: BenchmarkResult, provenance: Provenance) throws -> String {
        struct Document: Encodable {
            enum Key: String, CodingKey { case provenance }
            let result: BenchmarkResult
            let provenance: JSONValue

            func encode(to encoder: Encoder) throws {
                try result.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(provenance, forKey: .provenance)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(Document(result: result, provenance: provenance.json())), as: UTF8.self)
    }

    static func table(_ r: BenchmarkResult, model: String) -> String {
        let unit = r.mode == "train" ? ("step", "img") : ("pair", "pairs")
        var lines = [
            "model: \(model) (\(r.parameters) parameters)",
            "\(r.mode): img \(r.imgSize), batch \(r.batchSize)\(r.gradAccum > 1 ? " × \(r.gradAccum) micro-batches" : ""), \(r.ranks) rank(s) × \(r.threads) thread(s), \(r.steps) measured, \(r.kernels) kernels, OpenBLAS core \(r.blasCore)",
            String(format: "  %.3f s/%@   %.3f %@/s   %.1f GFLOP/%@   %.1f GFLOP/s   peak RSS %.0f MB (rank 0)",
                   r.secondsPerStep, unit.0, r.itemsPerSecond, unit.1, r.gflopPerStep, unit.0, r.gflopsPerSecond, r.peakResidentMB),
            "  phases (median s/\(unit.0)):",
        ]
        for phase in r.phases.keys.sorted() {
            lines.append("    " + phase.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: "%8.3f", r.phases[phase] ?? 0))
        }
        lines.append("  by kind (s/step, rank 0):")
        for (kind, seconds) in r.kinds.sorted(by: { $0.value > $1.value }) {
            lines.append("    " + kind.padding(toLength: 18, withPad: " ", startingAt: 0)
                         + String(format: "%8.3f  %5.1f%%", seconds, 100 * seconds / max(r.secondsPerStep, 1e-12)))
        }
        if r.ranks > 1 {
            lines.append("  all-reduce wait by rank (s/step): " + r.waitByRank.map { String(format: "%.3f", $0) }.joined(separator: " "))
        }
        if r.gradientBuckets.count > 1 {
            let floats = r.gradientBuckets.map { String(format: "%.2f", Double($0) / 1e6) }.joined(separator: ", ")
            lines.append("  gradient buckets (M floats, summed in this order; all but the last while backward runs): \(floats)")
        }
        return lines.joined(separator: "\n")
    }
}
