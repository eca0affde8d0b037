import Foundation
import VAECore
import XCTest

/// The BLAS guard end to end: the built `vae-dist` runs OpenBLAS kernels no lower than this CPU runs (restarting
/// itself on better ones where the library chose lower, as Debian's OpenBLAS 0.3.21 does on CPUs newer than it), says
/// so once, keeps a user's `OPENBLAS_CORETYPE`, and does the same on every rank under mpirun.
///
/// This test process is not the launcher and never restarts: `BLASCore.running` here is the library's own choice.
final class BLASCoreCommandTests: XCTestCase {
    let sgemm = ["bench", "--mode", "sgemm", "--steps", "1", "--threads", "1", "--json"]

    func blasCore(_ r: CommandResult, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.output,
                                 file: file, line: line)
        return try XCTUnwrap(json["blas_core"] as? String, r.stdout, file: file, line: line)
    }

    func occurrences(of text: String, in output: String) -> Int { output.components(separatedBy: text).count - 1 }

    /// What the guard does in a fresh vae-dist process on this machine: restart on a core, or keep the library's.
    var decision: BLASCore.Decision {
        BLASCore.decide(reported: BLASCore.running, cpu: .current, userChoice: nil, available: BLASCore.availableCores())
    }

    /// The binary as a user starts it: without the OPENBLAS_CORETYPE the runner passes to the other tests.
    let unset = [BLASCore.environmentVariable: ""]

    func requireNoCoretypeHere() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment[BLASCore.environmentVariable] != nil,
                      "OPENBLAS_CORETYPE is set for the tests: vae-dist keeps it, as it must")
    }

    func testBenchReportsACoreNotBelowWhatTheCPURuns() throws {
        try requireNoCoretypeHere()
        let r = try VAEDistBinary.run(sgemm, environment: unset)
        let core = try blasCore(r)
        // The best core this library has for this CPU: what the guard sets in place of the lowest x86-64 core.
        if case .set(let best) = BLASCore.decide(reported: "Prescott", cpu: .current, userChoice: nil,
                                                 available: BLASCore.availableCores()) {
            let level = try XCTUnwrap(BLASCore.level(ofCore: core), "\(core) is not an x86-64 core")
            XCTAssertGreaterThanOrEqual(level, try XCTUnwrap(BLASCore.level(ofCore: best)),
                                        "bench ran \(core); this CPU (\(BLASCore.CPU.current.description)) runs \(best)")
        }
        let help = try VAEDistBinary.run(["bench", "--help"], environment: unset)
        XCTAssertEqual(help.status, 0, help.output)
        switch decision {
        case .set(let better):
            XCTAssertEqual(core, better)
            XCTAssertEqual(occurrences(of: "vae-dist: OpenBLAS chose its \(BLASCore.running) kernels", in: r.stderr), 1, r.stderr)
            assertMentions(r.stderr, ["restarted on its \(better) kernels"])
            assertMentions(help.stdout, ["BLAS core here: \(better) (set by vae-dist; the library chose \(BLASCore.running))"])
            // --quiet keeps only warnings, errors and results: the restart happens, its info line does not.
            let quiet = try VAEDistBinary.run(["analyze", "--quiet", "--img1", "a.png", "--img2", "b.png"], environment: unset)
            XCTAssertEqual(quiet.status, 64, quiet.output)
            assertMentions(quiet.stderr, ["no --checkpoint given"])
            XCTAssertFalse(quiet.stderr.contains("vae-dist: OpenBLAS chose"), quiet.stderr)
        case .keep:
            XCTAssertEqual(core, BLASCore.running)
            XCTAssertFalse(r.stderr.contains("vae-dist: OpenBLAS chose"), r.stderr)
            assertMentions(help.stdout, ["BLAS core here: \(core) (OpenBLAS's choice)"])
        }
    }

    /// A user's OPENBLAS_CORETYPE is run as given: no restart, no line, and bench says where the core came from.
    func testAUsersCoretypeIsKept() throws {
        try XCTSkipUnless(BLASCore.availableCores().contains("Haswell") && BLASCore.CPU.current.level >= .avx2,
                          "this OpenBLAS has no Haswell kernels, or this CPU does not run them")
        let r = try VAEDistBinary.run(sgemm, environment: [BLASCore.environmentVariable: "Haswell"])
        XCTAssertEqual(try blasCore(r), "Haswell")
        XCTAssertFalse(r.stderr.contains("vae-dist: OpenBLAS chose"), r.stderr)
        let text = try VAEDistBinary.run(Array(sgemm.dropLast()), environment: [BLASCore.environmentVariable: "Haswell"])
        XCTAssertEqual(text.status, 0, text.output)
        assertMentions(text.stdout, ["OpenBLAS core Haswell (OPENBLAS_CORETYPE from the environment)"])
    }

    /// Under mpirun every rank restarts on the better core (OPENBLAS_VERBOSE=2 has OpenBLAS print "Core: NAME" each
    /// time it loads: twice per rank) and only rank 0 says so.
    func testEveryRankRestartsOnTheBetterCore() throws {
        try requireNoCoretypeHere()
        guard case .set(let better) = decision else {
            throw XCTSkip("OpenBLAS's own choice (\(BLASCore.running)) fits this CPU: nothing to restart")
        }
        let r = try VAEDistBinary.run(sgemm, ranks: 2, environment: unset.merging(["OPENBLAS_VERBOSE": "2"]) { a, _ in a })
        XCTAssertEqual(try blasCore(r), better)
        XCTAssertEqual(occurrences(of: "Core: \(BLASCore.running)\n", in: r.stderr), 2, r.stderr)
        XCTAssertEqual(occurrences(of: "Core: \(better)\n", in: r.stderr), 2, r.stderr)
        XCTAssertEqual(occurrences(of: "vae-dist: OpenBLAS chose", in: r.stderr), 1, r.stderr)
    }
}
