import ArgumentParser
import Distributed
import Foundation
import Logging
import VAECore
import VAEJobs
import VAETraining

/// A command running on every MPI rank (or alone, as an MPI singleton): sets threads, gives the body the
/// replica group and a rank-0 logger; failures are reported by `reportingFailures`.
struct MPIJob {
    let communicator: Communicator

    static func start(threads: Int?) throws -> MPIJob {
        try reportingFailures {
            let communicator = try Communicator()
            let locality = try communicator.nodeLocality()
            Threads.set(threads ?? locality.defaultThreadCount)
            return MPIJob(communicator: communicator)
        }
    }

    func run(_ body: (MPIReplicaGroup, @escaping (String) -> Void) throws -> Void) throws {
        var logger = Logger(label: "vae-dist")
        logger.logLevel = .info
        let rank = communicator.rank
        let say: (String) -> Void = { message in
            guard rank == 0 else { return }
            ProgressLine.clear()
            logger.info("\(message)")
        }
        try reportingFailures(on: communicator) {
            let replicas = MPIReplicaGroup(communicator)
            if let placement = try replicas.placement(threads: Threads.count) { say(placement) }
            try body(replicas, say)
        }
    }
}

/// The one-line progress display on rank 0: redrawn in place on a terminal, silent otherwise
/// (the trainer logs a line every --log_every steps and per epoch). Under mpirun a rank's stdout is a pseudo-terminal even when mpirun's
/// own output goes to a file, so there it counts as not a terminal.
enum ProgressLine {
    static let isTerminal = isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == nil

    // Unsynchronised on purpose: only the thread driving the job draws and logs (the trainer calls back on it).
    nonisolated(unsafe) private static var drawn = false

    static func show(_ p: StepProgress) {
        guard isTerminal else { return }
        drawn = true
        let line = String(format: "epoch %d/%d  step %d/%d  loss %.5f  %.2f img/s",
                          p.epoch, p.epochs, p.step, p.steps, p.loss, p.imagesPerSecond) + "  ETA \(formatDuration(p.etaSeconds))"
        print("\r\u{1B}[2K" + line, terminator: "")
        fflush(nil)
    }

    /// Erases the progress line so that a log message starts on a clean line.
    static func clear() {
        guard drawn else { return }
        print("\r\u{1B}[2K", terminator: "")
        fflush(nil)
        drawn = false
    }
}
