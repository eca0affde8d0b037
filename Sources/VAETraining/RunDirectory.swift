import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// How a run starts in its output directory (`--resume`, `--overwrite`).
public enum RunStart: Equatable, Sendable {
    /// A new run; `overwrite` allows removing another run's outputs found in the directory.
    case fresh(overwrite: Bool)
    /// `--resume PATH`.
    case resume(path: String)
    /// `--resume auto`: the newest readable checkpoint of the directory's own run.
    case resumeLatest
    /// `--resume PATH` with a checkpoint of the original PyTorch tool (`OriginalRun`): a new run that continues it.
    case continueOriginal(path: String)
}

/// The output directory of one training run. Rank 0 holds an exclusive lock (flock) on OUTPUT/.vae-dist.lock
/// for the run's life (`RunLock`): a second run into the directory is refused, and a run that died frees it by
/// itself. The lock file names the holder (pid, host, start), OUTPUT/.vae-dist-run the run's identity, which every
/// checkpoint carries too, so that a run never mixes with another's checkpoints.
public final class RunDirectory {
    public let path: String
    public let runID: String
    /// The checkpoint to continue from (read on rank 0, its bytes sent to every rank), nil for a fresh start.
    public let resumeFrom: (contents: TrainingCheckpoint.Contents, path: String)?
    /// Rank 0's; released (its file removed) when the run ends.
    private let lock: RunLock?

    private init(path: String, runID: String, resumeFrom: (contents: TrainingCheckpoint.Contents, path: String)?, lock: RunLock?) {
        (self.path, self.runID, self.resumeFrom, self.lock) = (path, runID, resumeFrom, lock)
    }

    /// Call when the run fails before training starts: a folder this start created is removed again if it holds
    /// nothing but what the start put there (`RunLock.discardFailedStart`).
    public func discardFailedStart(log: (String) -> Void) {
        lock?.discardFailedStart(log: log)
    }

    /// Creates and locks the directory on rank 0, removes temporary files of killed writes, decides the run's
    /// identity and checkpoint; every rank gets the same outcome or the same error. Nothing is decoded or trained
    /// before, so directory problems show at once. Only rank 0 looks into the directory and reads the checkpoint:
    /// the others may run on hosts whose --output_dir is a private, empty folder.
    public static func begin(_ outputDir: String, start: RunStart, replicas: ReplicaGroup,
                             log: (String) -> Void) throws -> RunDirectory {
        var lock: RunLock?
        var rootResume: ResumePoint?
        let decided = try replicas.rootOnly { () throws -> (runID: String, checkpoint: String?) in
            // --overwrite removes files: never in the working directory or a folder holding it.
            if start == .fresh(overwrite: true) { _ = try checkReplaceableOutputPath(outputDir, flag: "--output_dir") }
            let held = try RunLock.acquire(outputDir)
            do {
                let removed = removeLeftoverTemporaryFiles(under: outputDir)
                if !removed.isEmpty {
                    log("removed \(removed.count) temporary file(s) left by interrupted writes:\n" + removed.map { "  " + $0 }.joined(separator: "\n"))
                }
                let decision = try decide(outputDir, start: start, previousRun: held.previousRunID, log: log)
                rootResume = decision.resume
                try held.claim(runID: decision.runID)
                lock = held
                return (decision.runID, decision.resume?.path)
            } catch {
                held.discardFailedStart(log: log)
                throw error
            }
        }
        let runID = try replicas.broadcast(decided?.runID ?? "", from: 0)
        let checkpoint = try replicas.broadcast(decided?.checkpoint, from: 0)
        var contents = rootResume?.contents
        if let checkpoint {
            let bytes = try replicas.fromRoot("checkpoint \(checkpoint)", log: log) { rootResume!.bytes }
            rootResume = nil
            if contents == nil { contents = try TrainingCheckpoint.read(bytes: bytes, path: checkpoint) }
        }
        return RunDirectory(path: outputDir, runID: runID, resumeFrom: contents.map { ($0, checkpoint!) }, lock: lock)
    }

    /// A checkpoint chosen on rank 0: its path, its bytes as read (what the other ranks receive) and their contents.
    private struct ResumePoint {
        let path: String
        let bytes: [UInt8]
        let contents: TrainingCheckpoint.Contents

        init(path: String) throws {
            self.path = path
            bytes = try readRegularFile(path)
            contents = try TrainingCheckpoint.read(bytes: bytes, path: path)
        }
    }

    /// The run id, and the checkpoint to continue from if any.
    private static func decide(_ outputDir: String, start: RunStart, previousRun: String?,
                               log: (String) -> Void) throws -> (runID: String, resume: ResumePoint?) {
        let (found, unreadable) = TrainingCheckpoint.candidates(in: outputDir)
        switch start {
        case .fresh(let overwrite):
            if !found.isEmpty || !unreadable.isEmpty {
                guard overwrite else {
                    let newest = found.first.map { " (newest: \($0.path), epoch \($0.epoch))" } ?? ""
                    throw VAEDistError("--output_dir \(outputDir) holds the checkpoints of an earlier run\(newest); continue that run with --resume auto, start a new run there with --overwrite (its outputs are removed), or choose another --output_dir")
                }
                log("--overwrite: removed \(try removePreviousOutputs(outputDir)) file(s) of the earlier run in \(outputDir)")
            }
            return (UUID().uuidString, nil)
        case .resume(let path):
            let resume = try ResumePoint(path: path)
            let contents = resume.contents
            if let other = found.first(where: { $0.runID != contents.runID }) {
                throw VAEDistError("--output_dir \(outputDir) holds checkpoints of another run (e.g. \(other.path), run \(other.runID ?? "unknown")) than \(path) (run \(contents.runID ?? "unknown")); resuming there would mix two runs: choose another --output_dir")
            }
            return (contents.runID ?? UUID().uuidString, resume)
        case .resumeLatest:
            for line in unreadable { log("--resume auto: skipping \(line)") }
            for candidate in found {
                if let previousRun, candidate.runID != previousRun {
                    log("--resume auto: skipping \(candidate.path): written by another run (\(candidate.runID ?? "no run id"), this directory's run is \(previousRun))")
                    continue
                }
                do {
                    let resume = try ResumePoint(path: candidate.path)
                    return (resume.contents.runID ?? UUID().uuidString, resume)
                } catch {
                    log("--resume auto: skipping \(error)\n  trying the previous checkpoint")
                }
            }
            guard found.isEmpty && unreadable.isEmpty else {
                throw VAEDistError("--resume auto: no readable checkpoint of this directory's run in \(outputDir) (see the skipped files above); start a new run there with --overwrite, or give --resume PATH")
            }
            log("--resume auto: no checkpoint in \(outputDir), starting fresh")
            return (UUID().uuidString, nil)
        case .continueOriginal(let path):
            try OriginalRun.checkOutputDirectory(outputDir, checkpoint: path)
            return (UUID().uuidString, nil)
        }
    }

    /// The files a run writes at the top of its output directory.
    static let runOutputs: Set<String> = ["vae_final.safetensors", "vae_final.pt", "vae_final_ema.safetensors",
                                          "vae_best.safetensors", "vae_best.pt",
                                          "training_history.json", "training_curves.png", "training_curves.pdf",
                                          "metrics.jsonl", "validation_images.txt"]

    /// Whether `name` (in checkpoints/ or reconstructions/) is named as the trainer names its files there:
    /// `vae_epoch_E[_step_S].safetensors|.pt`, `[val_]recon_epoch_E.png|.pdf`.
    static func isRunFileName(_ name: String, in folder: String) -> Bool {
        func digits(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        switch folder {
        case "checkpoints":
            guard name.hasPrefix("vae_epoch_"), let suffix = [".safetensors", ".pt"].first(where: name.hasSuffix) else { return false }
            let position = name.dropFirst("vae_epoch_".count).dropLast(suffix.count)
            let parts = position.split(separator: "_", omittingEmptySubsequences: false)
            return (parts.count == 1 && digits(parts[0])) || (parts.count == 3 && digits(parts[0]) && parts[1] == "step" && digits(parts[2]))
        case "reconstructions":
            let grid = name.hasPrefix("val_") ? name.dropFirst("val_".count) : Substring(name)
            guard grid.hasPrefix("recon_epoch_"), grid.hasSuffix(".png") || grid.hasSuffix(".pdf") else { return false }
            return digits(grid.dropFirst("recon_epoch_".count).dropLast(".png".count))  // .png and .pdf alike
        default:
            return runOutputs.contains(name)
        }
    }

    /// What an earlier run wrote, and only that: the files named as the trainer names its checkpoints, final
    /// weights, history, curves and reconstruction grids. Anything else in the directory stays; one of those names
    /// held by something other than a file (a FIFO, a device, a folder) is the user's, and is refused.
    private static func removePreviousOutputs(_ outputDir: String) throws -> Int {
        let fm = FileManager.default
        func files(_ sub: String) -> [String] {
            let dir = (outputDir as NSString).appendingPathComponent(sub)
            return ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted().filter { isRunFileName($0, in: sub) }
                .map { (dir as NSString).appendingPathComponent($0) }
        }
        let paths = files("checkpoints") + files("reconstructions") + files("")
        for path in paths {
            guard let mode = fileModeIfPresent(path) else { continue }
            guard [S_IFREG, S_IFLNK].contains(mode & S_IFMT) else {
                throw VAEDistError("--overwrite: \(path) is \(fileKindDescription(mode)), which no run writes; move it away or choose another --output_dir")
            }
        }
        for path in paths {
            guard unlink(path) == 0 || errno == ENOENT else {
                throw VAEDistError("--overwrite: cannot remove \(path): \(errnoReason(errno))")
            }
        }
        return paths.count
    }
}
