import Foundation

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
        var results = [Result<RGB8Image, Error>?](repeating: nil, count: paths.count)
        results.withUnsafeMutableBufferPointer { slots in
            DispatchQueue.concurrentPerform(iterations: paths.count) { i in
                slots[i] = Result {
                    let image = try loadResized(paths[i], size: size)
                    return keep ? image : RGB8Image(width: 0, height: 0)
                }
            }
        }
        var bytes: [UInt8] = []
        if keep { bytes.reserveCapacity(paths.count * size * size * 3) }
        var kept: [String] = [], failures: [ImageFailure] = []
        for (path, result) in zip(paths, results) {
            switch result! {
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
    private var pending: (indices: [Int], done: DispatchGroup, result: Result<[RGB8Image], Error>?)?
    private let lock = NSLock()

    public init(paths: [String], size: Int, fingerprint: String? = nil) {
        (self.paths, self.size, self.fingerprint) = (paths, size, fingerprint)
    }

    private func load(_ indices: [Int]) -> Result<[RGB8Image], Error> {
        Result { try indices.map { try loadResized(paths[$0], size: size) } }
    }

    public func batch(_ indices: [Int], upcoming: [Int]) throws -> Tensor {
        // Wait for any prefetch first: it writes into `pending`, which is replaced below.
        pending?.done.wait()
        let prefetched = lock.withLock { pending }
        pending = nil
        let images: [RGB8Image]
        if let p = prefetched, p.indices == indices, let result = p.result {
            images = try result.get()
        } else {
            images = try load(indices).get()
        }
        if !upcoming.isEmpty {
            let done = DispatchGroup()
            pending = (upcoming, done, nil)
            queue.async(group: done) { [self] in
                let r = load(upcoming)
                lock.withLock { pending?.result = r }
            }
        }
        return imageBatch(images)
    }
}
