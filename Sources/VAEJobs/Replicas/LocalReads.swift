import Foundation
import VAECore

extension ReplicaGroup {
    /// For data every rank reads where it runs (streamed training images): each rank checks that it can open every
    /// file of `paths` as a regular file of the size rank 0 sees (so not another version of it), before any work
    /// starts. Every rank's problems are listed together, by rank and host, and every replica throws that one
    /// error; `what` names the files and `remedy` says what to do.
    public func requireEveryRankReads(_ paths: [String], what: String, remedy: String) throws {
        guard size > 1 else { return }
        let sizes = try broadcast(rank == 0 ? paths.map { Self.regularFileSize($0).size ?? -1 } : [], from: 0)
        var problems: [String] = []
        if rank != 0 {
            for (path, expected) in zip(paths, sizes) {
                let (found, reason) = Self.regularFileSize(path)
                if let found, found != expected, expected >= 0 {
                    problems.append("\(path): \(found) bytes here, \(expected) on rank 0 (another version of the file)")
                } else if found == nil {
                    problems.append("\(path): \(reason ?? "cannot be read")")
                }
            }
        }
        let shown = 20
        let report = problems.isEmpty ? [] : ["rank \(rank) (host \(localHostName)): \(problems.count) of \(paths.count) files cannot be used there:"]
            + problems.prefix(shown).map { "  " + $0 } + (problems.count > shown ? ["  … and \(problems.count - shown) more"] : [])
        let reports = try gather(report, to: 0)
        _ = try rootOnly {
            let lines = (reports ?? []).flatMap { $0 }
            guard lines.isEmpty else {
                throw VAEDistError("\(what): every rank reads them where it runs, and some cannot:\n"
                                + lines.map { "  " + $0 }.joined(separator: "\n") + "\n\(remedy)")
            }
        }
    }

    /// The size of the regular file at `path`, or why it cannot be read (opened as a reader would: FIFOs refused).
    static func regularFileSize(_ path: String) -> (size: Int?, reason: String?) {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return (nil, "cannot read the file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return (nil, "cannot read the file: not a regular file") }
        return (Int(status.st_size), nil)
    }

}

/// This host's name as gethostname(2) gives it (no DNS look-up, which could stall on a node without a resolver),
/// for messages that say where a rank runs.
public var localHostName: String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
