import Foundation
import VAECore
import VAEFormats

/// Where training batches come from: images by dataset index, as [N, 3, S, S] in [-1, 1].
public protocol ImageSource: AnyObject {
    var count: Int { get }
    var size: Int { get }
    /// The batch for these dataset indices. `upcoming` are the indices of the next call, which a source may
    /// start loading in the background.
    func batch(_ indices: [Int], upcoming: [Int]) throws -> Tensor
    /// `ImageFolder.fingerprint` of the files, recorded in checkpoints so that a resume on other data is refused;
    /// nil when the images come from no files.
    var fingerprint: String? { get }
}

extension ImageSource {
    public var fingerprint: String? { nil }
}

/// Every image decoded and resized once, kept as uint8 (3·S² bytes each).
public final class CachedImages: ImageSource {
    public let size: Int
    public let count: Int
    /// count · S · S · 3 bytes, interleaved RGB per image.
    public private(set) var bytes: [UInt8]
    public let fingerprint: String?

    public init(size: Int, count: Int, bytes: [UInt8], fingerprint: String? = nil) {
        precondition(bytes.count == count * size * size * 3, "image cache of \(bytes.count) bytes for \(count) images of \(size)²")
        (self.size, self.count, self.bytes, self.fingerprint) = (size, count, bytes, fingerprint)
    }

    /// Decodes in parallel; returns the usable images' bytes (none unless `keep`), the paths kept, and the
    /// failures. With `keep` false it only validates, holding one image per thread at a time.
    public static func decode(_ paths: [String], size: Int, keep: Bool = true) -> (bytes: [UInt8], kept: [String], failures: [ImageFailure]) {
        let results = concurrentMap(paths.count) { i in
            Result<RGB8Image, Error> {
                let image = try loadResized(paths[i], size: size)
                return keep ? image : RGB8Image(width: 0, height: 0)
            }
        }
        var bytes: [UInt8] = []
        if keep { bytes.reserveCapacity(paths.count * size * size * 3) }
        var kept: [String] = [], failures: [ImageFailure] = []
        for (path, result) in zip(paths, results) {
            switch result {
            case .success(let image):
                bytes += image.pixels
                kept.append(path)
            case .failure(let error):
                failures.append(ImageFailure(path: path, error: error))
            }
        }
        return (bytes, kept, failures)
    }

    public func image(_ index: Int) -> RGB8Image {
        let n = size * size * 3
        return RGB8Image(width: size, height: size, pixels: Array(bytes[index * n..<(index + 1) * n]))
    }

    public func batch(_ indices: [Int], upcoming: [Int]) throws -> Tensor {
        imageBatch(indices.map(image))
    }
}

/// Images loaded on demand (for datasets that do not fit in memory): while a step computes, a background
/// thread decodes the next step's images, so the step does not wait on decoding.
public final class StreamingImages: ImageSource {
    public let size: Int
    public let paths: [String]
    public var count: Int { paths.count }
    public let fingerprint: String?
    private let queue = DispatchQueue(label: "vae-dist.prefetch")
    /// The decode running in the background for the step that comes next, if any.
    private var pending: Prefetch?

    public init(paths: [String], size: Int, fingerprint: String? = nil) {
        (self.paths, self.size, self.fingerprint) = (paths, size, fingerprint)
    }

    private static func load(_ indices: [Int], paths: [String], size: Int) -> Result<[RGB8Image], Error> {
        Result { try indices.map { try loadResized(paths[$0], size: size) } }
    }

    public func batch(_ indices: [Int], upcoming: [Int]) throws -> Tensor {
        let prefetched = pending
        pending = nil
        prefetched?.done.wait()
        let images: [RGB8Image]
        if let p = prefetched, p.indices == indices, let result = p.result {
            images = try result.get()
        } else {
            images = try Self.load(indices, paths: paths, size: size).get()
        }
        if !upcoming.isEmpty {
            let prefetch = Prefetch(indices: upcoming)
            pending = prefetch
            let (paths, size) = (paths, size)
            queue.async(group: prefetch.done) { prefetch.result = Self.load(upcoming, paths: paths, size: size) }
        }
        return imageBatch(images)
    }
}

/// One background decode. Its result is written by the prefetch thread before `done` is left and read only after
/// `done` is waited on (the group orders the two), which the compiler cannot see.
private final class Prefetch: @unchecked Sendable {
    let indices: [Int]
    let done = DispatchGroup()
    var result: Result<[RGB8Image], Error>?

    init(indices: [Int]) { self.indices = indices }
}
