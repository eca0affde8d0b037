import Foundation

/// Creates `path` and its missing parents (mkdir -p) and checks it can be written, saying in words what is in the
/// way: Foundation's errors would print as `NSCocoaErrorDomain Code=… UserInfo={…}`.
public func createOutputDirectory(_ path: String) throws {
    let failure = { (reason: String) in IOFailure("cannot create output directory \(path): \(reason)") }
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in (path as NSString).pathComponents where component != "/" {
        prefix = (prefix as NSString).appendingPathComponent(component)
        var info = stat()
        if stat(prefix, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw failure(prefix == path ? "a file of that name exists" : "\(prefix) is a file, not a directory")
            }
            continue
        }
        guard errno == ENOENT else { throw failure("\(prefix): \(String(cString: strerror(errno)))") }
        // EEXIST: another process created it meanwhile, which is fine if it is a directory (checked next loop).
        if mkdir(prefix, 0o777) != 0 && errno != EEXIST {
            throw failure(errno == EACCES ? "permission denied" : String(cString: strerror(errno)))
        }
    }
    guard access(path, W_OK | X_OK) == 0 else {
        throw IOFailure("cannot write to output directory \(path): \(String(cString: strerror(errno)))")
    }
}

/// A file-system error in words, for messages that name the file themselves.
public func fileErrorReason(_ error: Error) -> String {
    if let failure = error as? IOFailure { return failure.description }
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
