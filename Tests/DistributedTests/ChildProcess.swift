import Foundation
import XCTest

/// A program run to completion with its output captured in files, so a test can watch the output
/// grow (to wait for "ready") without pipes filling up.
final class ChildProcess {
    let process = Process()
    private let stdoutURL: URL
    private let stderrURL: URL

    init(_ executable: URL, _ arguments: [String]) throws {
        let stem = FileManager.default.temporaryDirectory
            .appendingPathComponent("child-\(getpid())-\(UUID().uuidString)").path
        stdoutURL = URL(fileURLWithPath: stem + ".out")
        stderrURL = URL(fileURLWithPath: stem + ".err")
        for url in [stdoutURL, stderrURL] where !FileManager.default.createFile(atPath: url.path, contents: nil) {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ChildProcess.mpiEnvironment()
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
    }

    deinit {
        if process.isRunning { process.interrupt() }
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }

    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// Waits until stdout contains `text`; false if the process ended or time ran out first.
    func waitForOutput(_ text: String, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if !process.isRunning { return stdout.contains(text) }
            usleep(20_000)
        }
        return false
    }

    /// Waits for the process to end; kills it and fails the test if it outlives `timeout`.
    func waitForExit(timeout: TimeInterval, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            XCTFail("\(process.executableURL?.path ?? "") \(process.arguments ?? []) still running after \(timeout) s",
                    file: file, line: line)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// This process's environment for a child that starts its own MPI job: without the variables an
    /// MPI singleton in this test process added (they would make mpirun think it runs inside a job),
    /// and with Open MPI's consent to run as root.
    static func mpiEnvironment() -> [String: String] {
        let inherited = ["PMIX_", "ORTE_", "OMPI_COMM_WORLD_", "OMPI_APP_CTX_", "OMPI_MCA_ess", "OMPI_MCA_orte_",
                         "OMPI_MCA_pmix"]
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !inherited.contains { key.hasPrefix($0) }
        }
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        return environment
    }
}
