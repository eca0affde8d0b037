import ArgumentParser
import Distributed
import Foundation
import VAECore
import VAEFormats
import VAEJobs
import VAETraining

/// The one way a command's failure reaches the user: one `error: …` line on stderr and exit status 1.
/// Under mpirun (a `communicator` of several ranks) a failure every rank threw alike is reported by rank 0 and
/// every rank ends normally; a failure of one rank ends the whole job with "rank N failed: …", since the other
/// ranks may be waiting for it in a collective.
@discardableResult
func reportingFailures<T>(on communicator: Communicator? = nil, _ body: () throws -> T) throws -> T {
    do {
        let value = try body()
        try communicator?.finalize()
        return value
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        if let communicator, communicator.size > 1, !(error is FailureOnEveryReplica) {
            communicator.abort("\(error)")
        }
        if communicator?.rank ?? 0 == 0 {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
        }
        try? communicator?.finalize()
        throw ExitCode.failure
    }
}

/// A command's defaults that an option group cannot take per command otherwise: `--img_size`, and where the model
/// config comes from without `--config`.
protocol CommandDefaults {
    static var imageSize: Int { get }
    static var configDefault: String { get }
    /// The default in --help's words.
    static var imageSizeHelp: String { get }
}

extension CommandDefaults {
    static var configDefault: String {
        "Default: the config stored with the weights (a vae-dist checkpoint, a diffusers folder's config.json), else the SD v1 VAE."
    }
    static var imageSizeHelp: String { "\(imageSize)" }
}

/// Training works at 256 px, as the original tools.
enum TrainingDefaults: CommandDefaults { static let imageSize = 256 }
/// Reconstruction works at the size a vae-dist checkpoint was trained at, else at the original tools' 256 px.
enum ReconstructionDefaults: CommandDefaults {
    static let imageSize = 256
    static let imageSizeHelp = "the training size stored in a vae-dist checkpoint, else \(imageSize)"
}
/// The original analysis tool compares at 512 px.
enum AnalysisDefaults: CommandDefaults { static let imageSize = 512 }
/// Small enough for a quick measurement on a laptop; no weights.
enum BenchDefaults: CommandDefaults {
    static let imageSize = 128
    static let configDefault = "Default: the SD v1 VAE (see also --preset)."
}

/// What a weights option (`--checkpoint`, train's `--init_weights`) accepts, said once.
let weightsFileKinds = ModelSource.acceptedWeights

/// `--checkpoint` for the commands that cannot run without weights.
struct RequiredWeights: ParsableArguments {
    @Option(help: ArgumentHelp("Weights: \(weightsFileKinds)."))
    var checkpoint: String
}

/// `--config`: the model config, for every command that builds a model.
struct ConfigOption<Defaults: CommandDefaults>: ParsableArguments {
    @Option(name: snakeAndKebab("config", "config_path"),
            help: ArgumentHelp("Model config: an SD yaml (model.params.first_stage_config.params), a yaml of just those params, or a diffusers config.json. \(Defaults.configDefault)"))
    var config: String?
}

/// The model options of every command that computes with a model; `--checkpoint` (required or optional, or named
/// `--init_weights`) is the command's own. The model itself is decided by `ModelSource`.
struct ModelOptions<Defaults: CommandDefaults>: ParsableArguments {
    @OptionGroup var configOption: ConfigOption<Defaults>
    var config: String? { configOption.config }

    @Option(name: snakeAndKebab("img_size"),
            help: "Images are resized to img_size × img_size (PIL bilinear). Must be divisible by 2^(levels-1). Default: \(Defaults.imageSizeHelp).")
    var givenImageSize: Int?

    /// --img_size, or the command's default.
    var imgSize: Int { givenImageSize ?? Defaults.imageSize }

    @Option(help: "Compute threads per rank (default: the node's cores divided by the ranks on it).")
    var threads: Int?
    static var threadsRange: ClosedRange<Int> { 1...1024 }

    @Option(help: "Accepted for the original tool's scripts; only 'cpu' is valid (scale with mpirun instead).")
    var device = "cpu"

    @Flag(name: snakeAndKebab("fast_conv"),
          help: "3×3 convolutions by Winograd F(4×4) in encoder and decoder: less time (docs/PERFORMANCE.md), at rounding errors up to ~1e-5 of a layer's largest value instead of ~1e-6. Default: F(4×4) in the decoder of analysis and reconstruction; in training in the decoder's conv_in, mid and up blocks, where the Adam steps keep the accuracy contract (Tests/Fixtures/README.md); F(2×2) elsewhere.")
    var fastConv = false

    @Flag(name: snakeAndKebab("exact_conv"),
          help: "3×3 convolutions by Winograd F(2×2) everywhere, also in the decoder: the arithmetic closest to ldm's, at some extra time.")
    var exactConv = false

    func validate() throws {
        // --device is accepted for the original tool's scripts; this build computes on CPUs.
        guard device.lowercased() == "cpu" else {
            throw ValidationError("--device \(device): this build runs on CPUs only and scales with mpirun ranks; use --device cpu (or omit it)")
        }
        if let threads { try checkRange(threads, Self.threadsRange, flag: "--threads") }
        if fastConv && exactConv { throw ValidationError("give --fast_conv or --exact_conv, not both") }
        // An unusable VAE_DIST_KERNELS is refused by every command, not silently replaced.
        do { _ = try TransformKernels.fromEnvironment() } catch { throw ValidationError("\(error)") }
        try validateImageSize(imgSize)
    }

    /// The convolutions' arithmetic for `work`: its default, or what --fast_conv / --exact_conv ask for.
    func arithmetic(for work: MemoryEstimate.Work) -> ConvolutionArithmetic {
        .chosen(for: work, fast: fastConv, exact: exactConv)
    }

    /// Starts the command's MPI job with --threads per rank.
    func startJob() throws -> MPIJob {
        try MPIJob.start(threads: threads)
    }

    /// For the commands that need weights and no MPI job (forward only): builds the model on its compute context
    /// (--threads, else every core) with the convolutions' arithmetic and loads the weights of `source` into it;
    /// `say` gets the line saying what was loaded. `imageSize` (default --img_size) is the size the config is
    /// checked against; `check` sees the config first, before anything is read or built (the memory estimate).
    func loadModel(_ source: ModelSource, imageSize: Int? = nil, check: (VAEConfig) throws -> Void = { _ in },
                   say: (String) -> Void) throws -> AutoencoderKL {
        let context = try ComputeContext.launcher(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        try source.config.checkImageSize(imageSize ?? imgSize, option: givenImageSize == nil && imageSize != nil ? "the stored img_size" : "--img_size")
        try check(source.config)
        let model = AutoencoderKL(source.config, arithmetic: arithmetic(for: .inference), context: context)
        say(try source.loadWeights(into: model))
        return model
    }
}

extension ComputeContext {
    /// The context of a command: `threads` per process, the kernels `VAE_DIST_KERNELS` names (else the widest).
    static func launcher(threads: Int) throws -> ComputeContext {
        ComputeContext(threads: threads, kernels: try TransformKernels.fromEnvironment())
    }
}

/// Refuses an integer flag outside `range`, naming it. Every integer flag states its range once, beside its
/// declaration: the upper bound keeps the counts, products and offsets derived from it (batch × micro-batches,
/// epochs × steps, a grid of images, …) far inside Int, so that a typo such as 2^62 is refused here instead of
/// overflowing (a signal) later, possibly after the output directory was made.
func checkRange(_ value: Int, _ range: ClosedRange<Int>, flag: String) throws {
    guard range.contains(value) else {
        throw ValidationError("\(flag) must be at least \(range.lowerBound) and at most \(range.upperBound), got \(value)")
    }
}

/// Refuses an empty output path: joined with a sub-folder ("" + "/train") it would name a folder at the root of
/// the file system.
func checkOutputPathGiven(_ path: String, flag: String) throws {
    if path.isEmpty { throw ValidationError("\(flag) is empty: give the folder to write to") }
}

/// --img_size within the sizes the jobs accept, refused before any file is read.
func validateImageSize(_ size: Int) throws {
    do { try MemoryEstimate.checkImageSize(size) } catch { throw ValidationError("\(error)") }
}

extension KLReduction: ExpressibleByArgument {}
