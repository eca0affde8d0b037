import Foundation
import VAEFormats
import XCTest

/// The collectives and failure reports under mpirun: pair names travel intact between ranks, and a failure is
/// reported once, with the rank when only one rank failed.
extension AnalyzeCommandTests {
    /// Three pairs over two ranks: rank 1 analyses the last, whose name holds a newline, and sends it to rank 0.
    func testPairNamesWithNewlinesAndSpacesCrossRanksIntact() throws {
        let names = ["a", "b c", "c\nd"]
        for (index, name) in names.enumerated() {
            try writePNG(pattern(seed: index, blob: true), to: "\(dir!)/odd/positive/\(name).png")
            try writePNG(pattern(seed: index, blob: false), to: "\(dir!)/odd/negative/\(name).png")
        }
        let out = "\(dir!)/odd-out"
        let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/odd", "--output", out, "--bootstrap", "50"] + modelArgs,
                                      ranks: 2)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(try readAggregates("\(out)/batch").pairs, names)
        for name in names { _ = try parseJSON("\(out)/batch/\(name)/layer_differences.json") }
    }

    func testAFailureOfEveryRankIsReportedOnceByRankZero() throws {
        let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/missing", "--output", "\(dir!)/out"] + modelArgs, ranks: 2)
        XCTAssertEqual(r.status, 1, r.output)
        let message = "Error: --folder \(dir!)/missing: no such directory"
        XCTAssertEqual(r.stderr.components(separatedBy: message).count - 1, 1, r.stderr)
        XCTAssertFalse(r.output.contains("failed:"), "no rank aborts the job:\n\(r.output)")
    }

    /// Rank 1 cannot write its pair's folder (a file has its name): the job ends, naming rank 1, without hanging.
    func testAFailureOfOneRankEndsTheJobNamingTheRank() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/out/batch", withIntermediateDirectories: true)
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: "\(dir!)/out/batch/case_3"))
        let r = try VAEDistBinary.run(["analyze-folder", "--folder", "\(dir!)/pairs", "--output", "\(dir!)/out"] + modelArgs, ranks: 2)
        XCTAssertNotEqual(r.status, 0, r.output)
        assertMentions(r.stderr, ["rank 1 failed: ", "case_3"])
        XCTAssertFalse(r.stderr.contains("rank 0 failed"), r.stderr)
    }
}

extension TrainCommandTests {
    /// Every rank sees the same summed loss; rank 0, which knows the checkpoints, reports it once.
    func testANonFiniteLossUnderMpirunIsReportedOnce() throws {
        let r = try VAEDistBinary.run(args("diverged", epochs: 3, extra: ["--lr", "1e30"]), ranks: 2)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertEqual(r.stderr.components(separatedBy: "Error: the loss became non-finite").count - 1, 1, r.stderr)
        XCTAssertFalse(r.output.contains("failed:"), "no rank aborts the job:\n\(r.output)")
    }
}
