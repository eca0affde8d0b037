import Foundation

/// A folder of training images: png/jpg/jpeg files in any case, not recursive (as the original trainer),
/// other files ignored, sorted by name so every rank sees the same list.
public enum ImageFolder {
    public static func list(_ dir: String, option: String) throws -> [String] {
        let images = try imageNames(in: dir, option: option).map { (dir as NSString).appendingPathComponent($0) }
        guard !images.isEmpty else {
            throw IOFailure("\(option) \(dir): no images (png, jpg or jpeg) in the directory")
        }
        return images
    }

    /// The image file names in `dir`, sorted; empty if it holds none.
    public static func imageNames(in dir: String, option: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
            throw IOFailure("\(option) \(dir): no such directory")
        }
        guard isDir.boolValue else { throw IOFailure("\(option) \(dir): not a directory") }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir)
        } catch {
            throw IOFailure("\(option) \(dir): cannot list the directory: \(fileErrorReason(error))")
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

/// Loads and resizes one image to S×S RGB8 (PIL bilinear), the unit both the cache and streaming use.
func loadResized(_ path: String, size: Int) throws -> RGB8Image {
    resizeBilinearPIL(try loadImage(path: path), width: size, height: size)
}

/// Writes images as normalised CHW floats into consecutive batch slots of `batch`.
func fillBatch(_ batch: Tensor, with images: [RGB8Image]) {
    let plane = batch.count / max(batch.shape[0], 1)
    for (slot, image) in images.enumerated() {
        let out = batch.data + slot * plane
        let hw = image.width * image.height
        image.pixels.withUnsafeBufferPointer { px in
            for i in 0..<hw {
                for c in 0..<3 { out[c * hw + i] = Float(px[3 * i + c]) / 255 * 2 - 1 }
            }
        }
    }
}
