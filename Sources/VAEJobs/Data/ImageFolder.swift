import Foundation
import VAECore
import VAEFormats

/// A folder of training images: png/jpg/jpeg files in any case, not recursive (as the original trainer),
/// other files ignored, sorted by name so every rank sees the same list.
public enum ImageFolder {
    public static func list(_ dir: String, option: String) throws -> [String] {
        let images = try imageNames(in: dir, option: option).map { (dir as NSString).appendingPathComponent($0) }
        guard !images.isEmpty else {
            throw VAEDistError("\(option) \(dir): no images (png, jpg or jpeg) in the directory")
        }
        return images
    }

    /// The image file names in `dir`, sorted; empty if it holds none.
    public static func imageNames(in dir: String, option: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
            throw VAEDistError("\(option) \(dir): no such directory")
        }
        guard isDir.boolValue else { throw VAEDistError("\(option) \(dir): not a directory") }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir)
        } catch {
            throw VAEDistError("\(option) \(dir): cannot list the directory: \(fileErrorReason(error))")
        }
        return names.filter(isImageFile).sorted()
    }

    /// What identifies a training set across runs: how many images and a hash of their sorted file names and sizes
    /// (not of their folder: a data set moved elsewhere is the same data set).
    public static func fingerprint(_ paths: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for path in paths.sorted() {
            var info = stat()
            let size = stat(path, &info) == 0 ? Int(info.st_size) : -1
            for byte in "\((path as NSString).lastPathComponent)\u{0}\(size)\n".utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return "\(paths.count) images, names and sizes hash \(String(hash, radix: 16))"
    }
}

/// An image that could not be used, and why.
public struct ImageFailure: Equatable, Sendable {
    public let path: String
    /// Without the path (errors from decoding start with it): `line` names it once.
    public let reason: String

    init(path: String, error: Error) {
        let message = "\(error)"
        self.path = path
        reason = message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
    }

    public var line: String { "\(path): \(reason)" }
}
