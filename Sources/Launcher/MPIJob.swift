import ArgumentParser
import Distributed
import Foundation
import Logging
import VAECore
import VAEJobs
import VAETraining

/// A command running on every MPI rank (or alone, as an MPI singleton): makes the rank's compute context, gives
/// the body the replica group and rank 0's console; failures are reported by `reportingFailures`.
struct MPIJob {
    let communicator: Communicator
    /// This rank's threads (--threads, else its share of the node's cores) and kernels: for the job's model, and
    /// bound while the body runs.
    let context: ComputeContext

    static func start(threads: Int?) throws -> MPIJob {
        try reportingFailures {
            let communicator = try Communicator()
            let locality = try communicator.nodeLocality()
            return MPIJob(communicator: communicator, context: try .launcher(threads: threads ?? locality.defaultThreadCount))
        }
    }

    /// This job's provenance record (the model is added once it is decided).
    var provenance: Provenance { .launcher(ranks: communicator.size, context: context) }

    func run(quiet: Bool = false, _ body: (MPIReplicaGroup, Console) throws -> Void) throws {
        let console = Console(isRoot: communicator.rank == 0, quiet: quiet)
        try reportingFailures(on: communicator) {
            let replicas = MPIReplicaGroup(communicator)
            if let placement = try replicas.placement(threads: context.threads) { console.say(placement) }
            try context.run { try body(replicas, console) }
        }
    }
}

/// Where a command's words go. Log lines (info, warnings) and progress go to stderr, results (tables, the final
/// summary) to stdout: redirected or piped, the two never mix, and in a terminal a result is printed whole after the
/// progress bar is cleared. Only rank 0 speaks (the other ranks' log would repeat it). `--quiet` leaves out progress
/// and info lines; warnings, errors and results remain.
struct Console {
    let isRoot: Bool
    let quiet: Bool

    /// A log line: a warning when it starts with "warning", else info.
    var say: (String) -> Void {
        let (isRoot, quiet) = (self.isRoot, self.quiet)
        return { message in
            guard isRoot else { return }
            let warning = message.hasPrefix("warning")
            guard warning || !quiet else { return }
            ProgressBar.clear()
            if warning { Self.logger.warning("\(message)") } else { Self.logger.info("\(message)") }
        }
    }

    /// A result: stdout, whole, on rank 0, also with --quiet.
    func result(_ text: String) {
        guard isRoot else { return }
        ProgressBar.clear()
        print(text)
        fflush(nil)
    }

    /// A progress display on rank 0 (none with --quiet or on other ranks): a bar on a terminal, else lines through `say`.
    func progress() -> ProgressBar? {
        isRoot && !quiet ? ProgressBar(say: say) : nil
    }

    private static let logger: Logger = {
        var logger = Logger(label: "vae-dist") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .info
        return logger
    }()
}

/// The progress display every command shares. On a terminal (stderr is one, and not under mpirun, whose ranks
/// write to a pseudo-terminal even when mpirun's output goes to a file) one line is redrawn in place, with a bar;
/// otherwise a line is logged at the first update, then at most every `lineInterval` seconds, and at the end.
final class ProgressBar {
    static let isTerminal = isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == nil
    /// Seconds between progress lines when not on a terminal.
    static let lineInterval = 10.0

    // Unsynchronised on purpose: only the thread driving the job draws and logs (jobs call back on it).
    nonisolated(unsafe) private static var drawn = false

    private let say: (String) -> Void
    private var lastLine: Date?

    init(say: @escaping (String) -> Void) { self.say = say }

    /// Shows `fraction` done: on a terminal `label ▕████▌   ▏  45%  detail` in place; otherwise the line `text`
    /// (default: label, percentage and detail) when one is due, or when `final`.
    func update(fraction: Double, label: String, detail: String, line text: String? = nil, final: Bool = false) {
        if Self.isTerminal {
            Self.draw(Self.render(fraction: fraction, label: label, detail: detail))
            if final { Self.finish() }
            return
        }
        let now = Date()
        guard final || lastLine.map({ now.timeIntervalSince($0) >= Self.lineInterval }) ?? true else { return }
        lastLine = now
        say(text ?? "\(label)  \(Self.percent(fraction))  \(detail)")
    }

    /// `label ▕████▌     ▏  45%  detail`: a bar of `width` cells, in eighths of a cell.
    static func render(fraction: Double, label: String, detail: String, width: Int = 20) -> String {
        let clamped = fraction.isFinite ? min(max(fraction, 0), 1) : 0
        let eighths = Int((clamped * Double(width * 8)).rounded(.down))
        let partial = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"][eighths % 8]
        let filled = String(repeating: "█", count: eighths / 8) + partial
        let bar = filled + String(repeating: " ", count: width - eighths / 8 - (partial.isEmpty ? 0 : 1))
        return "\(label) ▕\(bar)▏ \(percent(clamped))  \(detail)"
    }

    static func percent(_ fraction: Double) -> String { String(format: "%3.0f%%", 100 * fraction) }

    /// "ETA 1m02s", or "ETA ?" before there is a rate.
    static func eta(_ seconds: Double?) -> String { "ETA \(seconds.map(formatDuration) ?? "?")" }

    private static func draw(_ line: String) {
        drawn = true
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
    }

    /// Ends the bar's line, leaving it on screen.
    private static func finish() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\n".utf8))
        drawn = false
    }

    /// Erases the bar so that a log line or a result starts on a clean line.
    static func clear() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        drawn = false
    }
}
