import Foundation
import VAECore
import VAEJobs

/// What `vae-dist --version` prints and every provenance record names: the version (raised at each release) and
/// the git commit of the build (`BuildCommit`, generated at build time by Plugins/BuildInfo).
enum BuildInfo {
    static let version = "0.1.0"
    static let commit = BuildCommit.commit
    /// `vae-dist 0.1.0 (commit 0123…cdef)`.
    static var versionLine: String { "vae-dist \(version) (commit \(commit))" }
    /// When this process started: the `started` of its provenance records.
    static let started = Date()
}

extension Provenance {
    /// This process's record: the build, its command line, `ranks` × the context's threads, this CPU, and the
    /// context's kernels and the BLAS core that run.
    static func launcher(ranks: Int, context: ComputeContext) -> Provenance {
        Provenance(version: BuildInfo.version, commit: BuildInfo.commit, commandLine: CommandLine.arguments, ranks: ranks,
                   threadsPerRank: context.threads, cpu: cpuModel, kernels: context.kernels.rawValue,
                   blasCore: BLASCore.running, started: BuildInfo.started)
    }

    /// The CPU's model name as the system states it ("unknown" where it says none).
    static let cpuModel: String = {
        #if os(Linux)
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            if let value = line.split(separator: ":", maxSplits: 1).last { return value.trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
        #else
        var size = 0
        guard sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 0 else { return "unknown" }
        var bytes = [CChar](repeating: 0, count: size)
        guard sysctlbyname("machdep.cpu.brand_string", &bytes, &size, nil, 0) == 0 else { return "unknown" }
        return String(cString: bytes)
        #endif
    }()
}
