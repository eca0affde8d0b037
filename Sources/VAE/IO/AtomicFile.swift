import Foundation

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
/// a temporary file beside it, fsync, then rename (a crash never leaves a half-written file).
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    let tmp = path + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw IOFailure("cannot create \(tmp): \(String(cString: strerror(errno)))") }
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
        throw IOFailure("cannot write \(path): \(String(cString: strerror(err)))")
    }
    guard rename(tmp, path) == 0 else {
        let e = errno
        unlink(tmp)
        throw IOFailure("cannot rename \(tmp) to \(path): \(String(cString: strerror(e)))")
    }
}

public func writeFileAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Array(text.utf8), to: path)
}

/// A failure to read or write a file, with a message meant for the user.
public struct IOFailure: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ message: String) { description = message }
}
