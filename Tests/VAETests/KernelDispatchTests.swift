import VAECore
import XCTest

/// The Winograd transforms that paid with 16 tiles per vector (both input transforms, F(4×4)'s inverse and
/// output-gradient transform) run 8 per vector (AVX2) or 16 (AVX-512, where the CPU has it), chosen at run time
/// (`TransformKernels`). Both do the same operations on every tile, so each dispatched kernel must give bitwise the
/// same values both ways: checked on random data at widths that leave partial vectors of 8 and of 16 tiles, on
/// chunks of tile rows that start inside an image, with the ×2 upsampled read, the fused group norm and the pooled
/// inverse. Every buffer starts with the same random contents, so a value written by one build only shows too.
final class KernelDispatchTests: XCTestCase {
    var rng = SplitMix64(seed: 13)

    /// Tiles per row: below, at and past one vector of 8 and of 16, and two vectors and one tile.
    let tileCounts = [1, 5, 8, 9, 15, 16, 17, 23, 24, 33]

    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) } }

    func requireAVX512() throws {
        // The AVX-512 kernels are compiled for x86-64-v4 and cannot run on a CPU without it (or whose OS does not
        // save the AVX-512 registers): there only the AVX2 build exists to run, and nothing is left to compare.
        try XCTSkipUnless(TransformKernels.cpuRunsAVX512, "this CPU does not run AVX-512 (x86-64-v4) code: only the AVX2 kernels can run here")
    }

    /// Runs `kernel` into a copy of `initial` once with each build and compares every value bit for bit.
    func assertSameBothWays(_ initial: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line,
                            _ kernel: (TransformKernels, UnsafeMutablePointer<Float>) -> Void) {
        var results: [[Float]] = []
        for kernels in [TransformKernels.avx2, .avx512] {
            var out = initial
            out.withUnsafeMutableBufferPointer { kernel(kernels, $0.baseAddress!) }
            results.append(out)
        }
        XCTAssertNotEqual(results[0].map(\.bitPattern), initial.map(\.bitPattern), "\(what): nothing written", file: file, line: line)
        let differing = zip(results[0], results[1]).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(what): \(differing) of \(initial.count) values differ", file: file, line: line)
    }

    /// Two images `tiles` tiles wide, with the tile rows of a chunk that starts inside the first image and ends
    /// inside the second. Odd sides (a cropped last tile, odd tile counts) unless `even` (a ×2 upsampled input or
    /// a pooled output).
    func geometry(_ tiling: WinogradTiling, tiles: Int, even: Bool) -> (WinogradGeometry, Range<Int>) {
        let probe = tiling.geometry(batch: 1, height: 1, width: 1)
        let width = probe.tile * tiles - (even ? 0 : tiles % 2), height = even ? 4 * probe.tile : 4 * probe.tile - 1
        let g = tiling.geometry(batch: 2, height: height, width: width)
        return (g, 1..<(g.tileRows - 1))
    }

    func testInputTransformsAreBitwiseTheSameWithAVX512() throws {
        try requireAVX512()
        let channels = 3
        for tiling in [WinogradTiling.f2x2, .f4x4] {
            for tiles in tileCounts {
                for variant in ["plain", "upsampled", "normalised"] {
                    let upsampled = variant == "upsampled"
                    let (g, rows) = geometry(tiling, tiles: tiles, even: upsampled)
                    let x = random(2 * channels * (upsampled ? g.height * g.width / 4 : g.height * g.width))
                    let scale = random(2 * channels), shift = random(2 * channels)
                    let size = g.points * WinogradGeometry.matrixStride(channels * rows.count * g.tilesWide)
                    assertSameBothWays(random(size), "\(tiling) input, width \(g.width), \(variant)") { kernels, v in
                        scale.withUnsafeBufferPointer { scale in
                            shift.withUnsafeBufferPointer { shift in
                                let norm = variant == "normalised"
                                    ? NormalizedRead(scale: scale.baseAddress, shift: shift.baseAddress, swish: true) : nil
                                transformInput(tiling, x, channels: channels, g, rows: rows, upsampled: upsampled,
                                               normalization: norm, kernels: kernels, into: v)
                            }
                        }
                    }
                }
            }
        }
    }

    func testF4InverseTransformIsBitwiseTheSameWithAVX512() throws {
        try requireAVX512()
        let channels = 3
        let bias = random(channels)
        for tiles in tileCounts {
            for pooled in [false, true] {
                let (g, rows) = geometry(.f4x4, tiles: tiles, even: pooled)
                let m = random(g.points * WinogradGeometry.matrixStride(channels * rows.count * g.tilesWide))
                let planeSize = pooled ? g.height / 2 * (g.width / 2) : g.height * g.width
                assertSameBothWays(random(2 * channels * planeSize), "F(4×4) inverse, width \(g.width), pooled \(pooled)") { kernels, y in
                    bias.withUnsafeBufferPointer { bias in
                        WinogradF4.inverseOutput(m, channels: channels, g, rows: rows, bias: bias.baseAddress,
                                                 pooledTo2x: pooled, kernels: kernels, into: y)
                    }
                }
            }
        }
    }

    func testF4OutputGradientTransformIsBitwiseTheSameWithAVX512() throws {
        try requireAVX512()
        let channels = 3
        for tiles in tileCounts {
            let (g, rows) = geometry(.f4x4, tiles: tiles, even: false)
            let dy = random(2 * channels * g.height * g.width)
            let size = g.points * WinogradGeometry.matrixStride(channels * rows.count * g.tilesWide)
            assertSameBothWays(random(size), "F(4×4) output gradient, width \(g.width)") { kernels, out in
                WinogradF4.transformOutputGradient(dy, channels: channels, g, rows: rows, kernels: kernels, into: out)
            }
        }
    }

    func transformInput(_ tiling: WinogradTiling, _ x: [Float], channels: Int, _ g: WinogradGeometry, rows: Range<Int>,
                        upsampled: Bool, normalization: NormalizedRead?, kernels: TransformKernels,
                        into v: UnsafeMutablePointer<Float>) {
        switch tiling {
        case .f2x2: WinogradF2.transformInput(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampled,
                                            normalization: normalization, kernels: kernels, into: v)
        case .f4x4: WinogradF4.transformInput(x, channels: channels, g, rows: rows, upsampledFrom2x: upsampled,
                                              normalization: normalization, kernels: kernels, into: v)
        }
    }

    /// VAE_DIST_KERNELS chooses; a value it does not know, or AVX-512 on a CPU without it, is an error naming it.
    func testKernelsFromTheEnvironment() throws {
        let widest: TransformKernels = TransformKernels.cpuRunsAVX512 ? .avx512 : .avx2
        XCTAssertEqual(try TransformKernels.fromEnvironment([:]), widest)
        XCTAssertEqual(try TransformKernels.fromEnvironment(["VAE_DIST_KERNELS": ""]), widest)
        XCTAssertEqual(try TransformKernels.fromEnvironment(["VAE_DIST_KERNELS": "avx2"]), .avx2)
        XCTAssertThrowsError(try TransformKernels.fromEnvironment(["VAE_DIST_KERNELS": "sse"])) {
            XCTAssertTrue("\($0)".contains("VAE_DIST_KERNELS=sse"), "\($0)")
        }
        if TransformKernels.cpuRunsAVX512 {
            XCTAssertEqual(try TransformKernels.fromEnvironment(["VAE_DIST_KERNELS": "avx512"]), .avx512)
        } else {
            XCTAssertThrowsError(try TransformKernels.fromEnvironment(["VAE_DIST_KERNELS": "avx512"])) {
                XCTAssertTrue("\($0)".contains("does not run AVX-512"), "\($0)")
            }
        }
    }
}
