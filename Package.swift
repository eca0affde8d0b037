// swift-tools-version:6.0
import Foundation
import PackageDescription

// The kernels are compiled for AVX2 + FMA CPUs (x86-64-v3: Intel Haswell, AMD Zen and later), twice as wide as
// the x86-64 baseline. For older CPUs build with VAE_DIST_MARCH=x86-64 (or =native for the building machine).
#if arch(x86_64)
let march = ProcessInfo.processInfo.environment["VAE_DIST_MARCH"] ?? "x86-64-v3"
let cpuFlags = march.isEmpty ? [] : ["-Xcc", "-march=\(march)"]
// The Winograd transforms are built a second time for AVX-512 (x86-64-v4) and run where the CPU has it.
let avx512Flags = ["-Xcc", "-march=x86-64-v4"]
#else
let cpuFlags: [String] = []
let avx512Flags: [String] = []
#endif

let package = Package(
    name: "vae-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vae-dist", targets: ["Launcher"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        // Multi-rank checks of Distributed, run under mpirun by DistributedTests.
        .executable(name: "mpi-selftest", targets: ["MPISelfTest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // TurboJPEG catches libjpeg errors with setjmp inside C; Swift cannot call setjmp.
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CCPUFeatures", path: "Sources/CCPUFeatures"),
        .systemLibrary(name: "CSIMD", path: "Sources/CSIMD"),
        .systemLibrary(name: "CCairo", path: "Sources/CCairo", pkgConfig: "cairo",
                       providers: [.apt(["libcairo2-dev"])]),
        // The Winograd tile transforms of one tile row, generic over the lane vector and inlinable: VAE compiles them
        // 8 tiles per vector with cpuFlags, TileTransformsAVX512 16 per vector for x86-64-v4, and VAE runs the latter
        // where the CPU has AVX-512 (TransformKernels): one binary for both kinds of machine.
        .target(name: "TileTransforms", swiftSettings: [.unsafeFlags(["-O"] + cpuFlags)]),
        .target(name: "TileTransformsAVX512", dependencies: ["TileTransforms"],
                swiftSettings: [.unsafeFlags(["-O"] + avx512Flags)]),
        // The GEMM micro-kernel of the Winograd products for AVX-512 CPUs, run where the CPU has it (TransformKernels).
        .target(name: "GemmAVX512", dependencies: ["CSIMD"], swiftSettings: [.unsafeFlags(["-O"] + avx512Flags)]),
        // The library, in layers: each target imports only those above it in this list, and the compiler holds it
        // (scripts/test.sh builds with --explicit-target-dependency-import-check error). Every check stays on
        // (overflow, bounds, preconditions): building without them measured no faster, within noise. -O in debug
        // builds too, so the numeric tests run at release speed.
        .target(name: "VAECore",
                dependencies: ["CBLAS", "CMalloc", "CCPUFeatures", "CSIMD", "TileTransforms", "TileTransformsAVX512", "GemmAVX512"],
                swiftSettings: [.unsafeFlags(["-O"] + cpuFlags)]),
        .target(name: "VAEFormats",
                dependencies: ["VAECore", "CPNG", "CTurboJPEG", "CCairo", .product(name: "Yams", package: "Yams")],
                swiftSettings: [.unsafeFlags(["-O"] + cpuFlags)]),
        .target(name: "VAEJobs", dependencies: ["VAECore", "VAEFormats"], swiftSettings: [.unsafeFlags(["-O"] + cpuFlags)]),
        .target(name: "VAETraining", dependencies: ["VAECore", "VAEFormats", "VAEJobs"],
                swiftSettings: [.unsafeFlags(["-O"] + cpuFlags)]),
        .target(name: "VAEAnalysis", dependencies: ["VAECore", "VAEFormats", "VAEJobs"],
                swiftSettings: [.unsafeFlags(["-O"] + cpuFlags)]),
        .target(name: "VAETools", dependencies: ["VAECore", "VAEFormats", "VAEJobs", "VAETraining", "VAEAnalysis"],
                swiftSettings: [.unsafeFlags(["-O"] + cpuFlags)]),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        // BuildInfo writes the git commit of the build (`vae-dist --version`, provenance records) before every build.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .executableTarget(name: "Launcher",
                          dependencies: ["VAECore", "VAEFormats", "VAEJobs", "VAETraining", "VAEAnalysis", "VAETools",
                                         "Distributed",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")],
                          plugins: ["BuildInfo"]),
        .executableTarget(name: "MPISelfTest", dependencies: ["Distributed"]),
        .testTarget(name: "VAETests",
                    dependencies: ["VAECore", "VAEFormats", "VAEJobs", "VAETraining", "VAEAnalysis", "VAETools", "CCairo",
                                   "CTurboJPEG"]),
        .testTarget(name: "LauncherTests",
                    dependencies: ["VAECore", "VAEFormats", "VAEJobs", "VAETraining", "VAEAnalysis", "VAETools", "Launcher"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
    ]
)
