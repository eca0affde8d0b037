// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vae-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vae-dist", targets: ["Launcher"]),
        .library(name: "VAE", targets: ["VAE"]),
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
        .systemLibrary(name: "CCairo", path: "Sources/CCairo", pkgConfig: "cairo",
                       providers: [.apt(["libcairo2-dev"])]),
        .target(name: "VAE",
                dependencies: ["CBLAS", "CPNG", "CTurboJPEG", "CCairo", "CMalloc", .product(name: "Yams", package: "Yams")],
                swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .executableTarget(name: "Launcher",
                          dependencies: ["VAE", "Distributed",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "MPISelfTest", dependencies: ["Distributed"]),
        .testTarget(name: "VAETests", dependencies: ["VAE"]),
        .testTarget(name: "LauncherTests", dependencies: ["VAE", "Launcher"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
    ],
    swiftLanguageModes: [.v5]
)
