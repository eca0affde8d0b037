import Foundation
import VAECore
import XCTest

/// Runs the built `vae-dist` (it sits beside the test bundle) and captures its output.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
    var output: String { stdout + stderr }
}

enum VAEDistBinary {
    static var productsDirectory: URL {
        Bundle.main.executableURL!.deletingLastPathComponent()
    }

    static var path: String { productsDirectory.appendingPathComponent("vae-dist").path }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func fixture(_ relative: String) -> String { fixtures.appendingPathComponent(relative).path }

    /// Runs `vae-dist args…`, or `mpirun -np N vae-dist args…` when `ranks` is given, to completion; in
    /// `directory` when given (tests of relative output paths run in a temporary folder, never in the checkout).
    @discardableResult
    static func run(_ args: [String], ranks: Int? = nil, environment: [String: String] = [:], in directory: String? = nil) throws -> CommandResult {
        try start(args, ranks: ranks, environment: environment, in: directory).finish()
    }

    /// Starts the command; `finish()` collects its output and status.
    static func start(_ args: [String], ranks: Int? = nil, environment: [String: String] = [:], in directory: String? = nil) throws -> RunningCommand {
        if let ranks {
            return try launch("/usr/bin/env", ["mpirun", "--oversubscribe", "-np", "\(ranks)", path] + args, environment: environment,
                              in: directory)
        }
        return try launch(path, args, environment: environment, in: directory)
    }

    /// Runs one of the repository's scripts (scripts/NAME) with this build's binary as VAE_DIST.
    static func runScript(_ name: String, _ args: [String], environment: [String: String] = [:]) throws -> CommandResult {
        let script = fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/\(name)").path
        return try launch("/bin/bash", [script] + args, environment: environment.merging(["VAE_DIST": path]) { a, _ in a }).finish()
    }

    static func launch(_ executable: String, _ args: [String], environment: [String: String],
                               in directory: String? = nil) throws -> RunningCommand {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        // An MPI singleton started in this test process (DistributedTests) leaves its job's PMIx/ORTE
        // variables in our environment; a child mpirun or vae-dist that inherited them would join that job.
        let jobVariables = ["PMIX_", "ORTE_", "OMPI_COMM_WORLD_", "OMPI_APP_CTX_", "OMPI_MCA_ess", "OMPI_MCA_orte_", "OMPI_MCA_pmix"]
        var env = ProcessInfo.processInfo.environment.filter { key, _ in !jobVariables.contains { key.hasPrefix($0) } }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        // The binary runs this process's OpenBLAS kernels, which it would otherwise raise to the CPU's best
        // (BLASCore): the tests compare its numbers with the library's in this process. BLASCoreCommandTests
        // unset it (an empty value removes a variable).
        env[BLASCore.environmentVariable] = env[BLASCore.environmentVariable] ?? BLASCore.running
        for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return RunningCommand(process: process, out: out, err: err)
    }
}

/// A started command whose output is drained in the background, so it never blocks on a full pipe.
final class RunningCommand {
    let process: Process
    private let group = DispatchGroup()
    private let outData = DataBox(), errData = DataBox()

    init(process: Process, out: Pipe, err: Pipe) {
        self.process = process
        let (o, e) = (outData, errData)
        DispatchQueue.global().async(group: group) { o.data = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { e.data = err.fileHandleForReading.readDataToEndOfFile() }
    }

    var isRunning: Bool { process.isRunning }
    var processIdentifier: Int32 { process.processIdentifier }

    func finish() -> CommandResult {
        group.wait()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData.data, as: UTF8.self),
                             stderr: String(decoding: errData.data, as: UTF8.self))
    }
}

/// Filled by one thread, read by another after a DispatchGroup wait (which orders the accesses).
private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// A fresh temporary directory per test.
func temporaryDirectory(_ name: String) throws -> String {
    let dir = NSTemporaryDirectory() + "vae-dist-\(name)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func assertMentions(_ text: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
    for part in parts {
        XCTAssertTrue(text.contains(part), "output should mention '\(part)':\n\(text)", file: file, line: line)
    }
}
