import Foundation
import XCTest

/// `vae-dist bench --mode sgemm` (the GEMM ceiling that scripts/bench.sh sets the convolutions' GEMM rate against)
/// and the bench's own options.
final class BenchCommandTests: XCTestCase {
    /// One 2048³ product per thread, side by side: with 2 threads a step does two.
    func testSgemmModeReportsTheRateOfA2048CubedProductPerThread() throws {
        let r = try VAEDistBinary.run(["bench", "--mode", "sgemm", "--steps", "1", "--threads", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(json["mode"] as? String, "sgemm")
        let gflop = try XCTUnwrap(json["gflop_per_step"] as? Double)
        let seconds = try XCTUnwrap(json["seconds_per_step"] as? Double)
        let rate = try XCTUnwrap(json["gflops_per_second"] as? Double)
        XCTAssertEqual(gflop, 2 * 2 * pow(2048, 3) / 1e9, accuracy: 1e-9)
        XCTAssertGreaterThan(seconds, 0)
        XCTAssertEqual(rate, gflop / seconds, accuracy: 1e-6 * rate)
        // The ceiling is the better of our kernel and OpenBLAS on the same products; the arithmetic peak by formula beside them.
        let ceiling = try XCTUnwrap(json["ceiling"] as? [String: Any], r.stdout)
        let own = try XCTUnwrap(ceiling["own_kernel_gflops"] as? Double, r.stdout)
        let blas = try XCTUnwrap(ceiling["openblas_gflops"] as? Double, r.stdout)
        XCTAssertEqual(rate, max(own, blas), accuracy: 1e-6 * rate)
        let peak = try XCTUnwrap(ceiling["peak"] as? [String: Any], r.stdout)
        XCTAssertEqual(peak["cores"] as? Int, min(2, ProcessInfo.processInfo.activeProcessorCount))
        XCTAssertEqual(peak["fma_ports"] as? Int, 2)
        XCTAssertTrue([8, 16].contains(peak["lanes"] as? Int ?? 0), r.stdout)
        XCTAssertFalse((peak["clock_source"] as? String ?? "").isEmpty, r.stdout)
        // Beside them the FMA rate the same 2 threads measure, and the clock it implies.
        let fma = try XCTUnwrap(ceiling["measured_fma"] as? [String: Any], r.stdout)
        let fmaRate = try XCTUnwrap(fma["gflops"] as? Double, r.stdout)
        XCTAssertGreaterThan(fmaRate, 0)
        XCTAssertEqual(fma["threads"] as? Int, 2)
        XCTAssertEqual(fma["cores"] as? Int, peak["cores"] as? Int)
        XCTAssertEqual(fma["fma_ports"] as? Int, 2)
        XCTAssertEqual(fma["kernels"] as? String, json["kernels"] as? String)
        let lanes = try XCTUnwrap(fma["lanes"] as? Int, r.stdout)
        XCTAssertEqual(lanes, json["kernels"] as? String == "avx512" ? 16 : 8)
        XCTAssertEqual(fma["chains"] as? Int, lanes == 16 ? 16 : 12)
        XCTAssertEqual(fma["repeats"] as? Int, 5)
        let cores = try XCTUnwrap(fma["cores"] as? Int)
        XCTAssertEqual(try XCTUnwrap(fma["implied_megahertz"] as? Double, r.stdout), fmaRate * 1000 / Double(cores * 2 * lanes * 2),
                       accuracy: 1e-6 * fmaRate)
        XCTAssertNotNil(fma["checksum"] as? Double, r.stdout)
        // Who chose the BLAS core, beside its name.
        let status = try XCTUnwrap(json["blas_core_status"] as? String, r.stdout)
        XCTAssertTrue(status.hasPrefix(try XCTUnwrap(json["blas_core"] as? String) + " ("), status)

        let text = try VAEDistBinary.run(["bench", "--mode", "sgemm", "--steps", "1", "--threads", "1"])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.stdout.hasPrefix("sgemm 2048×2048×2048, one product per thread, 1 thread(s): "), text.stdout)
        XCTAssertTrue(text.stdout.contains("GFLOP/s (median of 1)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("\n  our kernel (avx"), text.stdout)
        XCTAssertTrue(text.stdout.contains("\n  OpenBLAS ("), text.stdout)
        XCTAssertTrue(text.stdout.contains("\n  ceiling: ours "), text.stdout)
        XCTAssertTrue(text.stdout.contains(", measured FMA peak "), text.stdout)
        XCTAssertTrue(text.stdout.contains(" MHz), formula peak "), text.stdout)
        XCTAssertTrue(text.stdout.contains("GFLOP/s = 1 thread(s) at once, each 1"), text.stdout)
        XCTAssertTrue(text.stdout.contains("% of the measured FMA peak"), text.stdout)
        XCTAssertTrue(text.stdout.contains("\n  formula peak: "), text.stdout)
        XCTAssertTrue(text.stdout.contains("FMA ports (assumed)"), text.stdout)
    }

    func testGradAccumIsForTrainingOnly() throws {
        let r = try VAEDistBinary.run(["bench", "--mode", "analyze", "--grad_accum", "2", "--steps", "1"])
        XCTAssertEqual(r.status, 64, r.output)
        XCTAssertTrue(r.output.contains("--grad_accum applies to --mode train only"), r.output)
        let zero = try VAEDistBinary.run(["bench", "--grad_accum", "0"])
        XCTAssertEqual(zero.status, 64, zero.output)
        XCTAssertTrue(zero.output.contains("--grad_accum must be at least 1"), zero.output)
    }
}
