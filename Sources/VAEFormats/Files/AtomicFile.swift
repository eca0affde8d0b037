import Foundation
import VAECore

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
/// a temporary file beside it, fsync, then rename (a crash never leaves a half-written file).
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try createOutputDirectory(dir) }
    let tmp = path + temporarySuffix + "\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw VAEDistError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
    var written = 0
    let ok: Bool = bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let n = write(fd, raw.baseAddress! + written, raw.count - written)
            if n <= 0 { return false }
            written += n
        }
        return fsync(fd) == 0
    }
    let err = errno
    close(fd)
    guard ok else {
        unlink(tmp)
        throw VAEDistError("cannot write \(path): \(String(cString: strerror(err)))")
    }
    guard rename(tmp, path) == 0 else {
        let e = errno
        unlink(tmp)
        throw VAEDistError("cannot rename \(tmp) to \(path): \(String(cString: strerror(e)))")
    }
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
