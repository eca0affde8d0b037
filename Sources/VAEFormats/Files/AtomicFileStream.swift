import Foundation
import VAECore

/// A file written piece by piece that readers see either as it was or whole: the bytes go to `PATH.tmp-PID`
/// beside it, and `commit()` fsyncs and renames it into place. A file of gigabytes (a PyTorch checkpoint) is thus
/// written without first being assembled in memory. Dropped without `commit()`, the temporary file is removed.
/// Only a regular file (or a symbolic link, which is replaced, not followed) is ever replaced: a FIFO, device or
/// folder of that name is the user's, and is refused.
public final class AtomicFileStream {
    public let path: String
    private let temporary: String
    private var descriptor: Int32
    /// Bytes written so far: the offset of the next byte.
    public private(set) var offset = 0
    /// Small writes are gathered to this size before they reach the kernel.
    private var pending: [UInt8] = []
    private static let pendingLimit = 1 << 20

    public init(path: String) throws {
        guard !path.isEmpty else { throw VAEDistError("cannot write a file with an empty path") }
        if let mode = fileModeIfPresent(path), ![S_IFREG, S_IFLNK].contains(mode & S_IFMT) {
            throw VAEDistError("cannot write \(path): it is \(fileKindDescription(mode)), not a file vae-dist writes; "
                            + "move it away or choose another output")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try createOutputDirectory(dir) }
        let tmp = path + temporarySuffix + "\(getpid())"
        // O_EXCL | O_NOFOLLOW: never write through whatever else stands under the temporary name; one of ours left by
        // an earlier process with this pid is removed first.
        var fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd < 0 && errno == EEXIST && unlink(tmp) == 0 {
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw VAEDistError("cannot create \(tmp): \(errnoReason(errno))") }
        (self.path, temporary, descriptor) = (path, tmp, fd)
    }

    deinit { discard() }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard descriptor >= 0 else { throw VAEDistError("cannot write \(path): the file was already closed") }
        offset += bytes.count
        if pending.count + bytes.count <= Self.pendingLimit {
            pending.append(contentsOf: bytes)
            return
        }
        try flush()
        try writeAll(bytes)
    }

    private func flush() throws {
        guard !pending.isEmpty else { return }
        try pending.withUnsafeBytes { try writeAll($0) }
        pending.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var written = 0
        while written < bytes.count {
            let n = Foundation.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = n < 0 ? errnoReason(errno) : "nothing was written"
                discard()
                throw VAEDistError("cannot write \(path): \(reason)")
            }
            written += n
        }
    }

    /// Makes the file durable and puts it at `path` in one step.
    public func commit() throws {
        try flush()
        guard fsync(descriptor) == 0 else {
            let reason = errnoReason(errno)
            discard()
            throw VAEDistError("cannot write \(path): \(reason)")
        }
        close(descriptor)
        descriptor = -1
        guard rename(temporary, path) == 0 else {
            let reason = errnoReason(errno)
            unlink(temporary)
            throw VAEDistError("cannot rename \(temporary) to \(path): \(reason)")
        }
        syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// Closes and removes the temporary file (a failed or abandoned write); `path` stays as it was.
    public func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporary)
    }
}

/// Temporary files are named `FILE.tmp-PID`; a process killed while writing leaves one behind.
let temporarySuffix = ".tmp-"
