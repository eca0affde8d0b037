import Foundation
import VAECore

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
/// a temporary file beside it, fsync, then rename (a crash never leaves a half-written file). Only a regular file
/// (or a symbolic link, which is replaced, not followed) is ever replaced (`AtomicFileStream`).
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let file = try AtomicFileStream(path: path)
    try file.write(bytes)
    try file.commit()
}

/// Makes a rename in `directory` ("" for the working directory) durable (the new entry survives a crash); best
/// effort, as not every file system supports it.
func syncDirectory(_ directory: String) {
    let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}

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
