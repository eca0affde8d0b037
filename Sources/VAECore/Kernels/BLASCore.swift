import CBLAS
import CCPUFeatures
import Foundation

/// Which of OpenBLAS's kernels run. A DYNAMIC_ARCH OpenBLAS (Debian's, for one) picks its kernels once, when it is
/// loaded, from the CPU models it knows; a newer model can get far older kernels: Debian's 0.3.21 runs its Prescott
/// (SSE3) kernels on an Emerald Rapids Xeon (family 6, model 207), a fifth of the sgemm rate of its SkylakeX (AVX-512)
/// kernels there. OpenBLAS reads `OPENBLAS_CORETYPE` only while it loads, so a process that finds itself on too low a
/// core sets the variable and starts itself again (`ensureCoreMatchesCPU`), before anything else runs.
///
/// The decision (`decide`) is a pure function of the core the library chose, the CPU's features, the user's own
/// `OPENBLAS_CORETYPE` and the cores the library has; it only ever raises a core to what the CPU runs, never lowers one.
public enum BLASCore {
    public static let environmentVariable = "OPENBLAS_CORETYPE"
    /// Set beside `OPENBLAS_CORETYPE` when vae-dist restarts itself: the core the library had chosen alone. It tells the
    /// restarted process that the variable is ours (to report, not to restart again) and what it replaced.
    public static let libraryChoiceVariable = "VAE_DIST_BLAS_LIBRARY_CORE"

    /// The widest vector instructions a core's kernels use, or a CPU runs.
    public enum Level: Int, Comparable, Sendable, CustomStringConvertible {
        case sse, avx, avx2, avx512

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        public var description: String {
            switch self {
            case .sse: return "SSE"
            case .avx: return "AVX"
            case .avx2: return "AVX2"
            case .avx512: return "AVX-512"
            }
        }
    }

    public enum Vendor: Sendable { case intel, amd, other }

    /// What OpenBLAS's kernels need of a CPU (and of its OS, which must save the wider registers).
    public struct CPU: Equatable, Sendable {
        public var isX86_64: Bool
        public var vendor: Vendor
        public var avx: Bool
        public var fma: Bool
        public var avx2: Bool
        /// AVX-512 F, CD, BW, DQ and VL.
        public var avx512: Bool
        public var avx512BF16: Bool

        public init(isX86_64: Bool = true, vendor: Vendor, avx: Bool = false, fma: Bool = false, avx2: Bool = false,
                    avx512: Bool = false, avx512BF16: Bool = false) {
            (self.isX86_64, self.vendor, self.avx, self.fma, self.avx2, self.avx512, self.avx512BF16)
                = (isX86_64, vendor, avx, fma, avx2, avx512, avx512BF16)
        }

        /// This machine, from CPUID (all false off x86-64).
        public static let current: CPU = {
            let f = vd_cpu_read_features()
            return CPU(isX86_64: f.x86_64 != 0, vendor: f.vendor == 1 ? .intel : f.vendor == 2 ? .amd : .other,
                       avx: f.avx != 0, fma: f.fma != 0, avx2: f.avx2 != 0, avx512: f.avx512 != 0,
                       avx512BF16: f.avx512_bf16 != 0)
        }()

        /// The widest level whose kernels this CPU runs (OpenBLAS's AVX2 kernels also need FMA).
        public var level: Level {
            if avx512 && avx2 && fma { return .avx512 }
            if avx2 && fma { return .avx2 }
            return avx ? .avx : .sse
        }

        public var description: String {
            level == .avx512 && avx512BF16 ? "AVX-512 with BF16" : level.description
        }
    }

    /// What to do at start-up: run on the library's choice, or restart with `OPENBLAS_CORETYPE` set to a core.
    public enum Decision: Equatable, Sendable {
        case keep
        case set(String)
    }

    /// The x86-64 cores of OpenBLAS (`openblas_get_corename`'s names), by the level of their sgemm kernels.
    /// Cooperlake and SapphireRapids add bfloat16 (and AMX) kernels to SkylakeX's; their sgemm is SkylakeX's.
    static let coreLevels: [String: Level] = {
        var levels: [String: Level] = [:]
        for name in ["Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington",
                     "Nehalem", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Bobcat"] { levels[name.lowercased()] = .sse }
        for name in ["Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"] { levels[name.lowercased()] = .avx }
        for name in ["Haswell", "Zen"] { levels[name.lowercased()] = .avx2 }
        for name in ["SkylakeX", "Cooperlake", "SapphireRapids"] { levels[name.lowercased()] = .avx512 }
        return levels
    }()

    /// The level of the kernels of an OpenBLAS core, by name (any case); nil for a name this table does not know
    /// (another architecture's core, a newer OpenBLAS's, "Unknown").
    public static func level(ofCore name: String) -> Level? { coreLevels[name.lowercased()] }

    /// The cores vae-dist would set, each with what it needs of the CPU. For AVX-512, SkylakeX before Cooperlake:
    /// their sgemm kernels are the same (OpenBLAS's KERNEL.COOPERLAKE includes KERNEL.SKYLAKEX and adds bfloat16
    /// ones), and measured the same on an Emerald Rapids Xeon (`bench --mode sgemm --threads 1`, best of 8 runs:
    /// 157.5 GFLOP/s SkylakeX, 152.5 Cooperlake); and OpenBLAS 0.3.21 takes SkylakeX by name but not Cooperlake
    /// (which it reaches there only by falling back on the CPU's features). On AMD, Zen before Haswell (the same AVX2
    /// kernels, blocked for Zen's caches); newer OpenBLAS itself runs SkylakeX's kernels on AVX-512 Zen 4.
    static func candidates(for cpu: CPU) -> [String] {
        var cores: [String] = []
        if cpu.level >= .avx512 { cores += cpu.avx512BF16 ? ["SkylakeX", "Cooperlake"] : ["SkylakeX"] }
        if cpu.level >= .avx2 { cores += cpu.vendor == .amd ? ["Zen", "Haswell"] : ["Haswell", "Zen"] }
        if cpu.level >= .avx { cores += ["Sandybridge"] }
        return cores
    }

    /// Every core `candidates` can name: what `availableCores` looks for in the loaded library.
    static let settableCores = ["SkylakeX", "Cooperlake", "Haswell", "Zen", "Sandybridge"]

    /// Keep the library's choice unless it is below what this CPU runs and the library has a better core for it;
    /// then the best it has. A user's `OPENBLAS_CORETYPE` (any value, even empty) is theirs: kept. A core this table
    /// does not know, a CPU other than x86-64 or a library without other cores: kept.
    public static func decide(reported: String, cpu: CPU, userChoice: String?, available: [String]) -> Decision {
        guard cpu.isX86_64, userChoice == nil, let reportedLevel = level(ofCore: reported) else { return .keep }
        let has = Set(available.map { $0.lowercased() })
        guard let best = candidates(for: cpu).first(where: { has.contains($0.lowercased()) }),
              let bestLevel = level(ofCore: best), bestLevel > reportedLevel else { return .keep }
        return .set(best)
    }

    /// The core whose kernels this process runs.
    public static var running: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The cores of `settableCores` the loaded OpenBLAS holds. Only a DYNAMIC_ARCH build chooses its core when it
    /// loads (another runs the one it was built for, whatever the variable says); it exports each core's table.
    public static func availableCores() -> [String] {
        guard let config = openblas_get_config(), String(cString: config).contains("DYNAMIC_ARCH") else { return [] }
        return settableCores.filter { vd_openblas_has_core_table("gotoblas_" + $0.uppercased()) != 0 }
    }

    /// The core in use and who chose it, as `vae-dist bench` reports it.
    public struct Status: Equatable, Sendable, CustomStringConvertible {
        public enum Origin: Equatable, Sendable {
            /// OpenBLAS chose alone.
            case library
            /// The user's `OPENBLAS_CORETYPE`.
            case environment
            /// vae-dist restarted with `OPENBLAS_CORETYPE=asked`, replacing the library's own choice.
            case vaeDist(asked: String, libraryChose: String)
        }

        public var core: String
        public var origin: Origin

        public var description: String {
            switch origin {
            case .library: return "\(core) (OpenBLAS's choice)"
            case .environment: return "\(core) (\(BLASCore.environmentVariable) from the environment)"
            case .vaeDist(let asked, let chose) where asked.caseInsensitiveCompare(core) == .orderedSame:
                return "\(core) (set by vae-dist; the library chose \(chose))"
            case .vaeDist(let asked, let chose):
                return "\(core) (vae-dist asked for \(asked), which the library did not take; it chose \(chose))"
            }
        }
    }

    public static func status(running core: String, environment: [String: String]) -> Status {
        guard let asked = environment[environmentVariable] else { return Status(core: core, origin: .library) }
        guard let chose = environment[libraryChoiceVariable] else { return Status(core: core, origin: .environment) }
        return Status(core: core, origin: .vaeDist(asked: asked, libraryChose: chose))
    }

    /// This process's core and who chose it.
    public static var current: Status { status(running: running, environment: ProcessInfo.processInfo.environment) }

    /// Whether this process is rank 0 of an MPI job, as far as the launcher's environment tells before MPI_Init
    /// (Open MPI, MPICH/Hydra, PMIx, Slurm); a process started alone is.
    static func isFirstRank(_ environment: [String: String]) -> Bool {
        for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"] {
            if let rank = environment[key] { return rank.trimmingCharacters(in: .whitespaces) == "0" }
        }
        return true
    }

    private static func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Call first thing in `main`, before MPI_Init and before any BLAS call. Where OpenBLAS chose a core below what
    /// this CPU runs, restarts this program (`execv` of the file /proc/self/exe names, with the same arguments: the
    /// same pid, so it holds under mpirun) with `OPENBLAS_CORETYPE` naming the best core the library has. The restarted process
    /// finds the variable set and keeps it (so at most one restart), and logs one line on stderr (rank 0 only when
    /// the launcher's environment names the rank; not with `quiet`), or a warning if the library did not take the core.
    /// If the restart fails, a warning, and the run goes on with the library's choice. Linux on x86-64 only; elsewhere
    /// nothing.
    public static func ensureCoreMatchesCPU(environment: [String: String] = ProcessInfo.processInfo.environment, quiet: Bool = false) {
        #if os(Linux) && arch(x86_64)
        let core = running
        if let asked = environment[environmentVariable], let chose = environment[libraryChoiceVariable] {
            if asked.caseInsensitiveCompare(core) == .orderedSame {
                if isFirstRank(environment) && !quiet {
                    log("vae-dist: OpenBLAS chose its \(chose) kernels, below this CPU (\(CPU.current.description)); "
                        + "restarted on its \(core) kernels (\(environmentVariable)=\(asked); set \(environmentVariable) yourself to choose)")
                }
            } else {
                log("vae-dist: warning: restarted with \(environmentVariable)=\(asked), but OpenBLAS runs its \(core) kernels")
            }
            return
        }
        let decision = decide(reported: core, cpu: .current, userChoice: environment[environmentVariable],
                              available: availableCores())
        guard case .set(let better) = decision else { return }
        setenv(environmentVariable, better, 1)
        setenv(libraryChoiceVariable, core, 1)
        // The file /proc/self/exe links to, not the link: the kernel names a process after the file it runs, and
        // ps, top, pkill and the multi-host harness know this one as vae-dist, not "exe".
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &target, target.count - 1)
        if length > 0 { execv(String(cString: target), CommandLine.unsafeArgv) }
        // A binary replaced since it started (the link then names "… (deleted)") still runs through the link.
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only when it failed.
        let reason = String(cString: strerror(errno))
        unsetenv(environmentVariable)
        unsetenv(libraryChoiceVariable)
        log("vae-dist: warning: OpenBLAS chose its \(core) kernels, below this CPU (\(CPU.current.description)); restarting "
            + "with \(environmentVariable)=\(better) failed (\(reason)), so the run goes on with \(core)")
        #endif
    }
}
