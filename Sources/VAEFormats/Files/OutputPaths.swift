import Foundation
import VAECore

/// Says, without writing anything, why `path` cannot be made or written as an output directory: a file where a
/// directory should be, or no permission where it must be created or written. Lets a command fail before work
/// that would be wasted.
public func checkOutputDirectory(_ path: String) throws {
    guard !path.isEmpty else { throw cannotCreate(path, "the path is empty") }
    var parent = path.hasPrefix("/") ? "/" : "."
    for prefix in directoryPrefixes(path) {
        var info = stat()
        guard stat(prefix, &info) == 0 else {
            guard errno == ENOENT else { throw cannotCreate(path, "\(prefix): \(String(cString: strerror(errno)))") }
            guard access(parent, W_OK | X_OK) == 0 else { throw cannotCreate(path, "\(errnoReason(errno)) in \(parent)") }
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            let kind = info.st_mode & S_IFMT == S_IFREG ? "a file" : fileKindDescription(info.st_mode)
            throw cannotCreate(path, prefix == path ? "\(kind) of that name exists" : "\(prefix) is \(kind), not a directory")
        }
        parent = prefix
    }
    guard access(path, W_OK | X_OK) == 0 else {
        throw VAEDistError("cannot write to output directory \(path): \(errnoReason(errno))")
    }
}

/// Creates `path` and its missing parents (mkdir -p) after `checkOutputDirectory`, saying in words what is in the
/// way: Foundation's errors would print as `NSCocoaErrorDomain Code=… UserInfo={…}`.
public func createOutputDirectory(_ path: String) throws {
    try checkOutputDirectory(path)
    // EEXIST: made meanwhile by another process, or already there.
    for prefix in directoryPrefixes(path) where mkdir(prefix, 0o777) != 0 && errno != EEXIST {
        throw cannotCreate(path, errnoReason(errno))
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
        return errnoReason(Int32(underlying.code))
    }
    if ns.domain == NSPOSIXErrorDomain { return errnoReason(Int32(ns.code)) }
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

/// An errno in words, lower case as the rest of a message. The cases a user acts on differently are spelled out:
/// a read-only file system is not a matter of permissions.
public func errnoReason(_ code: Int32) -> String {
    switch code {
    case EACCES: return "permission denied"
    case EROFS: return "read-only file system"
    case ENOSPC: return "no space left on the device"
    case EDQUOT: return "disk quota exceeded"
    default: return String(cString: strerror(code))
    }
}

/// What a file-system entry is, from its `st_mode`: "a FIFO (named pipe)", "a character device", …
public func fileKindDescription(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: return "a regular file"
    case S_IFDIR: return "a folder"
    case S_IFLNK: return "a symbolic link"
    case S_IFIFO: return "a FIFO (named pipe)"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    default: return "a special file"
    }
}

/// The `st_mode` of what is at `path` (a final symbolic link not followed), nil when nothing is there.
public func fileModeIfPresent(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode : nil
}

/// `path` without trailing slashes, after refusing what can never be replaced by an output (`flag` names the
/// option in messages): an empty path, one ending in `.` or `..`, and a folder that is the working directory or
/// holds it (`/` among them). Replacing any of those would remove what the user is working in.
public func checkReplaceableOutputPath(_ path: String, flag: String) throws -> String {
    guard !path.isEmpty else { throw VAEDistError("\(flag) is empty: give the path to write to") }
    var trimmed = path
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    let last = (trimmed as NSString).lastPathComponent
    if trimmed == "/" || last == "." || last == ".." {
        let what = trimmed == "/" ? "is the root folder" : "ends in '\(last)'"
        throw VAEDistError("\(flag) '\(path)' \(what)" + (holdingWorkingDirectory(trimmed).flatMap { $0 == trimmed ? nil : " (here \($0))" } ?? "")
            + ": vae-dist never replaces a folder named that way; give the output a name of its own")
    }
    if let resolved = holdingWorkingDirectory(trimmed) {
        throw VAEDistError("\(flag) '\(path)' is \(resolved), the working directory or a folder holding it: vae-dist never "
            + "replaces it; give the output a name of its own")
    }
    return trimmed
}

/// The real path of `path` when it is the working directory or one of its ancestors, else nil.
private func holdingWorkingDirectory(_ path: String) -> String? {
    guard let resolvedPointer = realpath(path, nil) else { return nil }
    defer { free(resolvedPointer) }
    guard let cwdPointer = realpath(".", nil) else { return nil }
    defer { free(cwdPointer) }
    let resolved = String(cString: resolvedPointer), cwd = String(cString: cwdPointer)
    let holds = resolved == cwd || resolved == "/" || cwd.hasPrefix(resolved + "/")
    return holds ? resolved : nil
}
