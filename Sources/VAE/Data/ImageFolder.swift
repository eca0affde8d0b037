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
            throw IOFailure("\(option) \(dir): cannot list the directory (\(error.localizedDescription))")
        }
        return names.filter(isImageFile).sorted()
    }
}

/// An image that could not be used, and why.
public struct ImageFailure: Equatable, Sendable {
    public let path: String
    public let reason: String
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
