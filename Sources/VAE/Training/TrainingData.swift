import Foundation

extension ReplicaGroup {
    /// Runs `body` on rank 0 only and makes its failure everyone's: the message is broadcast and every rank
    /// throws it, so no rank is left waiting in a collective for a rank that gave up.
    func rootOnly<T>(_ body: () throws -> T) throws -> T? {
        var value: T?
        var status: [UInt8] = []
        if rank == 0 {
            do { value = try body() } catch { status = Array("\(error)".utf8) }
        }
        broadcast(&status, from: 0)
        if !status.isEmpty { throw TrainingFailure(description: String(decoding: status, as: UTF8.self)) }
        return value
    }
}

public enum TrainingData {
    /// Lists and validates the training images on rank 0 (every unreadable file is listed with its reason),
    /// then gives every rank the same dataset: decoded once on rank 0 and broadcast as uint8 when cached,
    /// otherwise the list of usable files, loaded on demand by each rank.
    public static func prepare(_ options: TrainingOptions, replicas: ReplicaGroup, log: (String) -> Void) throws -> ImageSource {
        let root = try replicas.rootOnly { () throws -> (paths: [String], bytes: [UInt8], fingerprint: String) in
            let listed = try ImageFolder.list(options.trainDir, option: "--train_dir")
            let (bytes, kept, failures) = CachedImages.decode(listed, size: options.imgSize, keep: options.cacheImages)
            if !failures.isEmpty {
                let lines = failures.map { "  " + $0.line }.joined(separator: "\n")
                guard options.skipBadImages else {
                    throw TrainingFailure(description: "\(failures.count) of \(listed.count) images in --train_dir cannot be used:\n\(lines)\nFix or remove them, or pass --skip_bad_images to train without them.")
                }
                log("skipping \(failures.count) unreadable images (--skip_bad_images):\n\(lines)")
            }
            guard !kept.isEmpty else { throw TrainingFailure(description: "--train_dir \(options.trainDir): no readable images") }
            log("\(kept.count) training images from \(options.trainDir) at \(options.imgSize)×\(options.imgSize)")
            return (kept, bytes, ImageFolder.fingerprint(kept))
        }
        // The fingerprint, then the paths, one a line.
        var list = Array(([root?.fingerprint ?? ""] + (root?.paths ?? [])).joined(separator: "\n").utf8)
        replicas.broadcast(&list, from: 0)
        let lines = String(decoding: list, as: UTF8.self).split(separator: "\n").map(String.init)
        let (fingerprint, paths) = (lines[0], Array(lines.dropFirst()))
        guard options.cacheImages else { return StreamingImages(paths: paths, size: options.imgSize, fingerprint: fingerprint) }
        var bytes = root?.bytes ?? []
        replicas.broadcast(&bytes, from: 0)
        return CachedImages(size: options.imgSize, count: paths.count, bytes: bytes, fingerprint: fingerprint)
    }
}
