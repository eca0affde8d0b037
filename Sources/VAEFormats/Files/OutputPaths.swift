import Foundation
import VAECore

/// Says, without writing anything, why `path` cannot be made or written as an output directory: a file where a
/// directory should be, or no permission where it must be created or written. Lets a command fail before work
/// that would be wasted.
public func checkOutputDirectory(_ path: String) throws {
    var parent = path.hasPrefix("/") ? "/" : "."
    for prefix in directoryPrefixes(path) {
        var info = stat()
        guard stat(prefix, &info) == 0 else {
            guard errno == ENOENT else { throw cannotCreate(path, "\(prefix): \(String(cString: strerror(errno)))") }
            guard access(parent, W_OK | X_OK) == 0 else { throw cannotCreate(path, "permission denied in \(parent)") }
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw cannotCreate(path, prefix == path ? "a file of that name exists" : "\(prefix) is a file, not a directory")
        }
        parent = prefix
    }
    guard access(path, W_OK | X_OK) == 0 else {
        throw VAEDistError("cannot write to output directory \(path): \(String(cString: strerror(errno)))")
    }
}

/// Creates `path` and its missing parents (mkdir -p) after `checkOutputDirectory`, saying in words what is in the
/// way: Foundation's errors would print as `NSCocoaErrorDomain Code=… UserInfo={…}`.
public func createOutputDirectory(_ path: String) throws {
    try checkOutputDirectory(path)
    // EEXIST: made meanwhile by another process, or already there.
    for prefix in directoryPrefixes(path) where mkdir(prefix, 0o777) != 0 && errno != EEXIST {
        throw cannotCreate(path, errno == EACCES ? "permission denied" : String(cString: strerror(errno)))
    }
}

/// "a/b/c" → ["a", "a/b", "a/b/c"]; an absolute path's prefixes are absolute.
private func directoryPrefixes(_ path: String) -> [String] {
    var prefix = path.hasPrefix("/") ? "/" : ""
    return (path as NSString).pathComponents.filter { $0 != "/" }.map { component in
        prefix = (prefix as NSString).appendingPathComponent(component)
        return prefix
    }
}

private func cannotCreate(_ path: String, _ reason: String) -> VAEDistError {
    VAEDistError("cannot create output directory \(path): \(reason)")
}

/// A file-system error in words, for messages that name the file themselves.
public func fileErrorReason(_ error: Error) -> String {
    if let failure = error as? VAEDistError { return failure.description }
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    if ns.domain == NSCocoaErrorDomain {
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
        case .fileReadNoSuchFile, .fileNoSuchFile: return "no such file or directory"
        case .fileWriteFileExists: return "a file of that name exists"
        case .fileWriteOutOfSpace: return "no space left on the device"
        case .fileWriteVolumeReadOnly: return "read-only file system"
        default: break
        }
    }
    return ns.localizedDescription
}

/// The name under which outputs of the input file `fileName` are written: its stem, or the whole file name when
/// the stem is empty, `.` or `..` (from `.png`, `..png`, `...png`), which would name the folder itself or its parent.
public func outputStem(of fileName: String) -> String {
    let name = (fileName as NSString).lastPathComponent
    let stem = (name as NSString).deletingPathExtension
    return ["", ".", ".."].contains(stem) ? name : stem
}
