import Foundation
import XCTest

/// Runs the `mpi-selftest` executable, built with the package, alone and under mpirun.
final class MPIRunTests: XCTestCase {
    private let groups = ["world", "allreduce", "broadcast", "gather", "bucket reducer", "signal agreement"]

    func testSelfTestAsSingleton() throws {
        let child = try ChildProcess(try selfTestBinary(), [])
        child.waitForExit(timeout: 30)
        assertAllChecksPassed(child, ranks: 1)
    }

    func testSelfTestUnderMpirun() throws {
        for ranks in 1...3 {
            let child = try ChildProcess(try mpirun(), ["-np", "\(ranks)", "--oversubscribe", try selfTestBinary().path])
            child.waitForExit(timeout: 60)
            assertAllChecksPassed(child, ranks: ranks)
        }
    }

    func testSignalToMpirunStopsAllRanksAtTheSameStep() throws {
        let child = try ChildProcess(try mpirun(), ["-np", "3", "--oversubscribe", try selfTestBinary().path,
                                                    "wait-for-signal"])
        guard child.waitForOutput("ready", timeout: 30) else {
            child.waitForExit(timeout: 5)
            return XCTFail("no 'ready' from the job:\n\(child.stdout)\n\(child.stderr)")
        }
        kill(child.process.processIdentifier, SIGUSR1)
        child.waitForExit(timeout: 30)
        XCTAssertEqual(child.process.terminationStatus, 0, child.stdout + child.stderr)
        let stops = child.stdout.split(separator: "\n").filter { $0.contains("stopping at step") }
        XCTAssertEqual(stops.count, 3, child.stdout)
        XCTAssertEqual(Set(stops.map { $0.split(separator: " ")[4] }).count, 1, "ranks disagree:\n\(child.stdout)")
        XCTAssertTrue(stops.allSatisfy { $0.hasSuffix("after signal \(SIGUSR1)") }, "mpirun did not forward SIGUSR1:\n\(child.stdout)")
        XCTAssertTrue(child.stdout.contains("all ranks stopped at step"), child.stdout)
    }

    func testAbortOnOneRankEndsTheWholeJob() throws {
        let child = try ChildProcess(try mpirun(), ["-np", "3", "--oversubscribe", try selfTestBinary().path, "abort"])
        child.waitForExit(timeout: 30)
        XCTAssertNotEqual(child.process.terminationStatus, 0)
        XCTAssertTrue(child.stderr.contains("rank 2 failed: deliberate failure for the test"), child.stderr)
        XCTAssertFalse(child.stdout.contains("passed a barrier"), child.stdout)
    }

    func testSecondInterruptEndsTheProcess() throws {
        let child = try ChildProcess(try selfTestBinary(), ["signal-twice"])
        child.waitForExit(timeout: 10)
        XCTAssertTrue(child.stdout.contains("first SIGINT recorded"), child.stdout + child.stderr)
        XCTAssertEqual(child.process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(child.process.terminationStatus, SIGINT)
    }

    private func assertAllChecksPassed(_ child: ChildProcess, ranks: Int, line: UInt = #line) {
        let output = child.stdout + child.stderr
        XCTAssertEqual(child.process.terminationStatus, 0, output, line: line)
        for group in groups {
            XCTAssertTrue(child.stdout.contains("ok \(group)\n"), "group '\(group)' with \(ranks) ranks:\n\(output)", line: line)
        }
        XCTAssertTrue(child.stdout.contains("mpi-selftest: all checks passed on \(ranks) ranks"), output, line: line)
    }

    /// `swift build` puts every product in one directory, the test bundle's too; look there first,
    /// then in the package's .build/debug.
    private func selfTestBinary() throws -> URL {
        var directories = [Bundle.main.bundleURL, Bundle(for: MPIRunTests.self).bundleURL.deletingLastPathComponent()]
        if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        directories.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in directories {
            let candidate = directory.appendingPathComponent("mpi-selftest")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw MissingPrerequisite("mpi-selftest not built; looked in \(directories.map(\.path))")
    }

    private func mpirun() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw MissingPrerequisite("mpirun not found on PATH (install openmpi-bin)")
    }
}

/// A missing prerequisite is a failure, not a skip: these tests are the only multi-rank coverage.
struct MissingPrerequisite: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
