import XCTest
@testable import VAECore

/// The start-up decision on OpenBLAS's core (`BLASCore.decide`), on made-up CPUs and libraries: raise a core below
/// what the CPU runs to the best one the library has, and leave everything else alone.
final class BLASCoreTests: XCTestCase {
    let emeraldRapids = BLASCore.CPU(vendor: .intel, avx: true, fma: true, avx2: true, avx512: true, avx512BF16: true)
    let skylakeServer = BLASCore.CPU(vendor: .intel, avx: true, fma: true, avx2: true, avx512: true)
    let zen2 = BLASCore.CPU(vendor: .amd, avx: true, fma: true, avx2: true)
    let zen4 = BLASCore.CPU(vendor: .amd, avx: true, fma: true, avx2: true, avx512: true, avx512BF16: true)
    let broadwell = BLASCore.CPU(vendor: .intel, avx: true, fma: true, avx2: true)
    let ivyBridge = BLASCore.CPU(vendor: .intel, avx: true)
    /// The x86-64 cores of Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) that vae-dist would set.
    let debian = ["SkylakeX", "Cooperlake", "Haswell", "Zen", "Sandybridge"]

    func decide(_ reported: String, _ cpu: BLASCore.CPU, user: String? = nil, available: [String]? = nil) -> BLASCore.Decision {
        BLASCore.decide(reported: reported, cpu: cpu, userChoice: user, available: available ?? debian)
    }

    func testPrescottOnAnAVX512IntelIsRaisedToSkylakeX() {
        XCTAssertEqual(decide("Prescott", emeraldRapids), .set("SkylakeX"))
        XCTAssertEqual(decide("Prescott", skylakeServer), .set("SkylakeX"))
        // The names come back from the library in its own case; any case is the same core.
        XCTAssertEqual(decide("PRESCOTT", emeraldRapids), .set("SkylakeX"))
    }

    func testHaswellOrSandybridgeOnAnAVX512CPUIsRaised() {
        XCTAssertEqual(decide("Haswell", emeraldRapids), .set("SkylakeX"))
        XCTAssertEqual(decide("Sandybridge", skylakeServer), .set("SkylakeX"))
        XCTAssertEqual(decide("Zen", zen4), .set("SkylakeX"))
    }

    func testACoreAtTheCPUsLevelIsKept() {
        XCTAssertEqual(decide("SkylakeX", emeraldRapids), .keep)
        XCTAssertEqual(decide("Cooperlake", emeraldRapids), .keep)
        XCTAssertEqual(decide("SapphireRapids", emeraldRapids), .keep)
        XCTAssertEqual(decide("Zen", zen2), .keep)
        XCTAssertEqual(decide("Haswell", zen2), .keep)
        XCTAssertEqual(decide("Haswell", broadwell), .keep)
        XCTAssertEqual(decide("Sandybridge", ivyBridge), .keep)
    }

    /// Below the CPU on an AVX2 machine: Zen's kernels first on AMD, Haswell's on Intel.
    func testAVX2CoresFollowTheVendor() {
        XCTAssertEqual(decide("Prescott", zen2), .set("Zen"))
        XCTAssertEqual(decide("Sandybridge", zen2), .set("Zen"))
        XCTAssertEqual(decide("Nehalem", broadwell), .set("Haswell"))
        XCTAssertEqual(decide("Prescott", ivyBridge), .set("Sandybridge"))
    }

    /// The guard only raises: a core above what it sees of the CPU is the library's business.
    func testACoreAboveTheCPUIsKept() {
        XCTAssertEqual(decide("SkylakeX", broadwell), .keep)
        XCTAssertEqual(decide("Haswell", ivyBridge), .keep)
    }

    func testAUsersCoretypeIsAlwaysKept() {
        XCTAssertEqual(decide("Prescott", emeraldRapids, user: "Prescott"), .keep)
        XCTAssertEqual(decide("Haswell", emeraldRapids, user: "Haswell"), .keep)
        XCTAssertEqual(decide("Prescott", emeraldRapids, user: "nonsense"), .keep)
        XCTAssertEqual(decide("Cooperlake", emeraldRapids, user: ""), .keep)
    }

    /// A library built without the best core: the best it has, still above its choice; nothing when it has none.
    func testALibraryWithoutTheBestCoreGetsTheBestItHas() {
        XCTAssertEqual(decide("Prescott", emeraldRapids, available: ["Haswell", "Sandybridge"]), .set("Haswell"))
        XCTAssertEqual(decide("Prescott", emeraldRapids, available: ["Cooperlake", "Haswell"]), .set("Cooperlake"))
        XCTAssertEqual(decide("Prescott", skylakeServer, available: ["Cooperlake", "Haswell"]), .set("Haswell"),
                       "Cooperlake's kernels need AVX512-BF16")
        XCTAssertEqual(decide("Prescott", zen2, available: ["Haswell"]), .set("Haswell"))
        XCTAssertEqual(decide("Prescott", emeraldRapids, available: ["Sandybridge"]), .set("Sandybridge"))
        XCTAssertEqual(decide("Haswell", emeraldRapids, available: ["Haswell", "Sandybridge"]), .keep)
        XCTAssertEqual(decide("Prescott", emeraldRapids, available: []), .keep)
        XCTAssertEqual(decide("Prescott", emeraldRapids, available: ["Katmai", "SapphireRapids"]), .keep,
                       "only cores the guard knows how to set")
    }

    func testUnknownCoresOtherArchitecturesAndOldCPUsAreLeftAlone() {
        XCTAssertEqual(decide("Unknown", emeraldRapids), .keep)
        XCTAssertEqual(decide("", emeraldRapids), .keep)
        XCTAssertEqual(decide("NEOVERSEN1", emeraldRapids), .keep)
        var arm = emeraldRapids
        arm.isX86_64 = false
        XCTAssertEqual(decide("Prescott", arm), .keep)
        XCTAssertEqual(decide("Prescott", BLASCore.CPU(vendor: .intel)), .keep, "an SSE-only CPU has nothing better")
        XCTAssertEqual(decide("Prescott", BLASCore.CPU(vendor: .intel, avx2: true)), .keep,
                       "AVX2 without AVX (the OS does not save ymm) is not an AVX2 CPU")
    }

    func testLevels() {
        XCTAssertEqual(BLASCore.level(ofCore: "prescott"), .sse)
        XCTAssertEqual(BLASCore.level(ofCore: "Piledriver"), .avx)
        XCTAssertEqual(BLASCore.level(ofCore: "zen"), .avx2)
        XCTAssertEqual(BLASCore.level(ofCore: "COOPERLAKE"), .avx512)
        XCTAssertNil(BLASCore.level(ofCore: "POWER9"))
        XCTAssertEqual(emeraldRapids.level, .avx512)
        XCTAssertEqual(emeraldRapids.description, "AVX-512 with BF16")
        XCTAssertEqual(BLASCore.CPU(vendor: .intel, avx: true, avx2: true).level, .avx, "OpenBLAS's AVX2 kernels need FMA")
        // Every core the guard may set is one the table knows, at or below the CPU it is chosen for.
        for core in BLASCore.settableCores { XCTAssertNotNil(BLASCore.level(ofCore: core), core) }
        for cpu in [emeraldRapids, skylakeServer, zen2, zen4, broadwell, ivyBridge] {
            for core in BLASCore.candidates(for: cpu) {
                XCTAssertLessThanOrEqual(BLASCore.level(ofCore: core)!, cpu.level, core)
                XCTAssertTrue(BLASCore.settableCores.contains(core), core)
            }
        }
    }

    /// What bench prints beside the core: who chose it.
    func testStatusSaysWhoChoseTheCore() {
        let library = BLASCore.status(running: "Zen", environment: [:])
        XCTAssertEqual(library.origin, .library)
        XCTAssertEqual(library.description, "Zen (OpenBLAS's choice)")
        let user = BLASCore.status(running: "Haswell", environment: ["OPENBLAS_CORETYPE": "haswell"])
        XCTAssertEqual(user.origin, .environment)
        XCTAssertEqual(user.description, "Haswell (OPENBLAS_CORETYPE from the environment)")
        let ours = BLASCore.status(running: "SkylakeX", environment: ["OPENBLAS_CORETYPE": "SkylakeX",
                                                                      "VAE_DIST_BLAS_LIBRARY_CORE": "Prescott"])
        XCTAssertEqual(ours.description, "SkylakeX (set by vae-dist; the library chose Prescott)")
        let refused = BLASCore.status(running: "Prescott", environment: ["OPENBLAS_CORETYPE": "SkylakeX",
                                                                         "VAE_DIST_BLAS_LIBRARY_CORE": "Prescott"])
        XCTAssertEqual(refused.description, "Prescott (vae-dist asked for SkylakeX, which the library did not take; it chose Prescott)")
        // Our marker without the variable (left behind by hand) is not a choice.
        XCTAssertEqual(BLASCore.status(running: "Zen", environment: ["VAE_DIST_BLAS_LIBRARY_CORE": "Prescott"]).origin, .library)
    }

    func testRankZeroFromTheLaunchersEnvironment() {
        XCTAssertTrue(BLASCore.isFirstRank([:]))
        XCTAssertTrue(BLASCore.isFirstRank(["OMPI_COMM_WORLD_RANK": "0"]))
        XCTAssertFalse(BLASCore.isFirstRank(["OMPI_COMM_WORLD_RANK": "1"]))
        XCTAssertFalse(BLASCore.isFirstRank(["PMI_RANK": "3"]))
        XCTAssertTrue(BLASCore.isFirstRank(["SLURM_PROCID": "0"]))
        XCTAssertFalse(BLASCore.isFirstRank(["PMIX_RANK": "garbage"]))
    }

    /// This machine: what CPUID says agrees with the check the AVX-512 kernels use, and the library's cores are
    /// among those the guard can set.
    func testThisMachine() {
        XCTAssertEqual(BLASCore.CPU.current.avx512, TransformKernels.cpuRunsAVX512)
        #if arch(x86_64)
        XCTAssertTrue(BLASCore.CPU.current.isX86_64)
        #else
        XCTAssertFalse(BLASCore.CPU.current.isX86_64)
        #endif
        XCTAssertFalse(BLASCore.running.isEmpty)
        for core in BLASCore.availableCores() { XCTAssertTrue(BLASCore.settableCores.contains(core), core) }
    }
}
