import ArgumentParser
import Foundation
import VAE

/// Runs a job; a failure the user can act on is printed as one clear message and exits non-zero.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// The model options shared by the commands that load a model.
struct ModelOptions: ParsableArguments {
    @Option(name: [.customLong("config"), .customLong("config_path"), .customLong("config-path")],
            help: "Model config: an SD yaml (model.params.first_stage_config.params) or a yaml of just those params. Default: the SD v1 VAE.")
    var config: String?

    @Option(name: [.customLong("img_size"), .customLong("img-size")],
            help: "Images are resized to img_size × img_size (PIL bilinear). Must be divisible by 2^(levels-1).")
    var imgSize: Int = 256

    @Option(help: "Threads for this process (default: all cores of the node).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        try validateImageSize(imgSize)
    }

    func loadConfig() throws -> VAEConfig {
        let cfg = try config.map { try VAEConfig.load(path: $0) } ?? .sdV1
        try checkImageSize(imgSize, config: cfg, option: "--img_size")
        return cfg
    }

    func applyThreads() {
        if let threads { Threads.set(threads) }
    }
}

/// --img_size within the sizes the jobs accept, refused before any file is read.
func validateImageSize(_ size: Int) throws {
    do { try MemoryEstimate.checkImageSize(size) } catch { throw ValidationError("\(error)") }
}

/// The encoder halves the image at each level but the last, so the size must divide evenly.
func checkImageSize(_ size: Int, config: VAEConfig, option: String) throws {
    let factor = 1 << (config.chMult.count - 1)
    guard size % factor == 0 else {
        throw ValidationError("\(option) \(size) is not divisible by \(factor) = 2^(levels-1) for ch_mult \(config.chMult)")
    }
}

/// `--device`: accepted for the original tool's scripts; this build computes on CPUs.
func validateDevice(_ device: String) throws {
    guard device.lowercased() == "cpu" else {
        throw ValidationError("--device \(device): this build runs on CPUs only and scales with mpirun ranks; use --device cpu (or omit it)")
    }
}

extension KLReduction: ExpressibleByArgument {}
