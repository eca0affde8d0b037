import Foundation
import VAECore
import VAEFormats

/// Rank 0's hold on an output directory: an exclusive flock on OUTPUT/.vae-dist.lock, which names the holder (pid,
/// host, start) so that a second run can say who is writing there. The directory's run id is kept beside it in
/// OUTPUT/.vae-dist-run, which outlives the run (`--resume auto` continues only that run). At a clean end the lock
/// file is removed; after a crash it stays, harmless: a lock dies with its process.
final class RunLock {
    let directory: String
    let path: String
    private var descriptor: Int32
    /// The folders of the output path that this start created, innermost first.
    let createdFolders: [String]
    /// The run id the directory's previous run recorded, nil for a new directory.
    let previousRunID: String?

    static let lockName = ".vae-dist.lock"
    static let runRecordName = ".vae-dist-run"

    private init(directory: String, path: String, descriptor: Int32, createdFolders: [String], previousRunID: String?) {
        (self.directory, self.path, self.descriptor) = (directory, path, descriptor)
        (self.createdFolders, self.previousRunID) = (createdFolders, previousRunID)
    }

    deinit { release() }

    /// Creates the directory and locks it; refused, naming the holder, while another run holds it.
    static func acquire(_ outputDir: String) throws -> RunLock {
        var missing: [String] = []
        var folder = outputDir
        while !["", ".", "/"].contains(folder) && fileModeIfPresent(folder) == nil {
            missing.append(folder)
            folder = (folder as NSString).deletingLastPathComponent
        }
        try createOutputDirectory(outputDir)
        let lockPath = (outputDir as NSString).appendingPathComponent(lockName)
        while true {
            let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw VAEDistError("cannot create \(lockPath): \(errnoReason(errno))") }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let err = errno
                let holder = readHolder(fd)
                close(fd)
                guard err == EWOULDBLOCK else { throw VAEDistError("cannot lock \(lockPath): \(errnoReason(err))") }
                let who = holder.map { "pid \($0.pid) on host \($0.host), started \($0.started)" } ?? "just starting"
                throw VAEDistError("another vae-dist train (\(who)) is writing to \(outputDir); wait for it to end or choose another --output_dir")
            }
            // The holder before us may have removed the file at its end after we opened it: then this lock is on a
            // file no other run can find, and the one at the path is locked afresh.
            var locked = stat(), named = stat()
            guard fstat(fd, &locked) == 0, stat(lockPath, &named) == 0, locked.st_ino == named.st_ino, locked.st_dev == named.st_dev else {
                close(fd)
                continue
            }
            // A directory of an older vae-dist kept its run id in the lock file only.
            let previous = readRunRecord(outputDir) ?? readHolder(fd).flatMap { $0.runID.isEmpty ? nil : $0.runID }
            let lock = RunLock(directory: outputDir, path: lockPath, descriptor: fd, createdFolders: missing, previousRunID: previous)
            // Name this process at once, so that a run starting meanwhile can say who holds the directory.
            try lock.writeHolder(runID: previous ?? "")
            return lock
        }
    }

    /// Writes who holds the directory into the lock file.
    func writeHolder(runID: String) throws {
        let bytes = Array(try CheckpointMetadata.json(Holder(runID: runID)).utf8)
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress!, $0.count, 0) }
        guard written == bytes.count, ftruncate(descriptor, off_t(bytes.count)) == 0 else {
            throw VAEDistError("cannot write the lock file \(path): \(errnoReason(errno))")
        }
    }

    /// Records the run that owns the directory (and names it in the lock file).
    func claim(runID: String) throws {
        try writeHolder(runID: runID)
        try writeFileAtomically(try CheckpointMetadata.json(RunRecord(runID: runID)),
                                to: (directory as NSString).appendingPathComponent(Self.runRecordName))
    }

    /// A clean end: the lock file goes, then the lock. (A run that opened the file meanwhile finds it gone once it
    /// holds the lock, and locks a new one.)
    func release() {
        guard descriptor >= 0 else { return }
        unlink(path)
        close(descriptor)
        descriptor = -1
    }

    /// The files a start writes before training: removed when the start fails in a folder it created.
    private static let startFiles = [lockName, runRecordName, "metrics.jsonl", "validation_images.txt"]
    private static let startFolders = ["checkpoints", "reconstructions"]

    /// A failed start: when this start created the output folder, what it put there is removed, then the folder
    /// (and the parents it created) if nothing else is in it. A folder that existed before is left as it was, but
    /// for the lock file. Says what was removed.
    func discardFailedStart(log: (String) -> Void) {
        let created = !createdFolders.isEmpty
        if created {
            for name in Self.startFiles where name != Self.lockName {
                let file = (directory as NSString).appendingPathComponent(name)
                if fileModeIfPresent(file).map({ $0 & S_IFMT == S_IFREG }) == true { unlink(file) }
            }
            for name in Self.startFolders { rmdir((directory as NSString).appendingPathComponent(name)) }
        }
        release()
        let removed = createdFolders.prefix { rmdir($0) == 0 }
        if let outermost = removed.last {
            log("removed \(outermost), which this failed start had created")
        }
    }

    /// Who holds the directory, as written in the lock file.
    struct Holder: Codable {
        var runID: String
        var pid = Int(getpid())
        var host = ProcessInfo.processInfo.hostName
        var started = ISO8601DateFormatter().string(from: Date())

        init(runID: String) { self.runID = runID }

        enum CodingKeys: String, CodingKey { case runID = "run_id", pid, host, started }
    }

    struct RunRecord: Codable {
        var runID: String
        enum CodingKeys: String, CodingKey { case runID = "run_id" }
    }

    private static func readHolder(_ fd: Int32) -> Holder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { return nil }
        return try? JSONDecoder().decode(Holder.self, from: Data(buffer[0..<n]))
    }

    private static func readRunRecord(_ outputDir: String) -> String? {
        let path = (outputDir as NSString).appendingPathComponent(runRecordName)
        guard fileModeIfPresent(path).map({ $0 & S_IFMT == S_IFREG }) == true, let data = FileManager.default.contents(atPath: path),
              data.count < 4096, let record = try? JSONDecoder().decode(RunRecord.self, from: data), !record.runID.isEmpty else { return nil }
        return record.runID
    }
}
