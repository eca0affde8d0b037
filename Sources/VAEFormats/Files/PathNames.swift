/// The folder part of `path`, as NSString's `deletingLastPathComponent` gives it: "" for a bare name, "/" for a
/// name at the root, trailing and doubled slashes dropped. Not that property itself: Foundation on Linux (Swift
/// 6.3) traps (SIGILL) on a one-character name such as "a", "a/" or ".", which any flag naming an output can be.
public func parentFolder(_ path: String) -> String {
    var name = Substring(path)
    while name.count > 1, name.hasSuffix("/") { name = name.dropLast() }
    guard let slash = name.lastIndex(of: "/") else { return "" }
    var folder = name[..<slash]
    while folder.count > 1, folder.hasSuffix("/") { folder = folder.dropLast() }
    return folder.isEmpty ? "/" : String(folder)
}
