import Foundation
import VAECore

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
/// a temporary file beside it, fsync, then rename (a crash never leaves a half-written file). Only a regular file
/// (or a symbolic link, which is replaced, not followed) is ever replaced: a FIFO, device or folder of that name is
/// the user's, and is refused.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
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
    var written = 0
    let ok: Bool = bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let n = write(fd, raw.baseAddress! + written, raw.count - written)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            written += n
        }
        return fsync(fd) == 0
    }
    let err = errno
    close(fd)
    guard ok else {
        unlink(tmp)
        throw VAEDistError("cannot write \(path): \(errnoReason(err))")
    }
    guard rename(tmp, path) == 0 else {
        let e = errno
        unlink(tmp)
        throw VAEDistError("cannot rename \(tmp) to \(path): \(errnoReason(e))")
    }
    syncDirectory(dir)
}

/// Makes a rename in `directory` ("" for the working directory) durable (the new entry survives a crash); best
/// effort, as not every file system supports it.
func syncDirectory(_ directory: String) {
    let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}

/// Temporary files are named `FILE.tmp-PID`; a process killed while writing leaves one behind.
private let temporarySuffix = ".tmp-"

/// Removes the temporary files that killed writes left under `directory` (recursively), only files named like ours;
/// returns their paths. Call it only while no other process writes there (the run lock is held).
@discardableResult
public func removeLeftoverTemporaryFiles(under directory: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
    var removed: [String] = []
    for case let relative as String in walker {
        guard let range = relative.range(of: temporarySuffix, options: .backwards),
              relative[range.upperBound...].allSatisfy(\.isASCII), Int(relative[range.upperBound...]) != nil else { continue }
        let path = (directory as NSString).appendingPathComponent(relative)
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, unlink(path) == 0 else { continue }
        removed.append(path)
    }
    return removed
}

public func writeFileAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Array(text.utf8), to: path)
}
