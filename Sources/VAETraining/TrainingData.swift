import Foundation
import VAECore
import VAEJobs

/// The images of a run: what it trains on and what it holds out.
public struct TrainingSets {
    public let train: ImageSource
    public let validation: ImageSource?
    /// The held-out files, in the order the validation source indexes them.
    public let validationPaths: [String]
    /// The training files, in the order the training source indexes them (empty for images from no files).
    public let trainPaths: [String]

    public init(train: ImageSource, validation: ImageSource? = nil, validationPaths: [String] = [], trainPaths: [String] = []) {
        (self.train, self.validation, self.validationPaths, self.trainPaths) = (train, validation, validationPaths, trainPaths)
    }
}

/// What training holds in memory beside its images, so that `TrainingData.prepare` checks the memory as soon as
/// the images are listed, before any is decoded, and caches them only where they fit.
public struct TrainingMemory: Sendable {
    public let config: VAEConfig
    /// The largest share of a (micro-)batch one rank computes.
    public let batch: Int
    /// Bytes available here (nil: unknown, accepted).
    public let available: Double?

    public init(config: VAEConfig, options: TrainingOptions, ranks: Int, available: Double? = MemoryEstimate.availableBytes()) {
        self.config = config
        batch = (options.batchSize + ranks - 1) / ranks
        self.available = available
    }
}

public enum TrainingData {
    /// Lists and validates the images on rank 0 (every unreadable file is listed with its reason), splits off
    /// the validation set, then gives every rank the same data: decoded once on rank 0 and broadcast as uint8
    /// when cached (the other hosts need not have the images), otherwise the lists of usable files, loaded on
    /// demand by each rank, which first checks that it can read them all. With `memory`, the run's memory is checked
    /// once the files are listed, before any is decoded (`MemoryEstimate.trainingImageCache`): refused when training
    /// cannot fit, and streamed (saying so) when the cache would not fit beside it.
    public static func prepare(_ options: TrainingOptions, replicas: ReplicaGroup, memory: TrainingMemory? = nil,
                               log: (String) -> Void) throws -> TrainingSets {
        let size = options.imgSize
        let root = try replicas.rootOnly { () throws -> (sets: [(paths: [String], bytes: [UInt8])], cached: Bool) in
            let source = options.data.trainList.map { "--train_list \($0)" } ?? "--train_dir \(options.trainDir)"
            let listing = try TrainingImages.list(directory: options.trainDir, selection: options.data, option: "--train_dir")
            if !listing.excluded.isEmpty {
                log("left out \(listing.excluded.count) file(s) matching --exclude \(options.data.exclude.joined(separator: ","))")
            }
            let held = try options.validation.directory.map {
                try TrainingImages.list(directory: $0, selection: DataSelection(), option: "--val_dir").paths
            }
            var keep = options.cacheImages
            if let memory {
                let decision = try MemoryEstimate.trainingImageCache(
                    config: memory.config, imageSize: size, batch: memory.batch, imageCount: listing.paths.count + (held?.count ?? 0),
                    cache: keep, available: memory.available)
                keep = decision.cache
                decision.notice.map(log)
            }
            var train = try usable(listing.paths, source: source, options: options, keep: keep, log: log)
            var validation: (paths: [String], bytes: [UInt8]) = ([], [])
            if let dir = options.validation.directory, let held {
                validation = try usable(held, source: "--val_dir \(dir)", options: options, keep: keep, log: log)
            } else if options.validation.fraction > 0 {
                let (kept, held) = try TrainingImages.split(train.paths, fraction: options.validation.fraction, seed: options.seed)
                validation = subset(train, held, size: size, keep: keep)
                train = subset(train, kept, size: size, keep: keep)
            }
            log("\(train.paths.count) training images from \(source) at \(size)×\(size)"
                + (validation.paths.isEmpty ? "" : "; \(validation.paths.count) held out for validation"))
            return ([train, validation], keep)
        }
        let keep = try replicas.broadcast(root.map { $0.cached ? 1 : 0 } ?? 0, from: 0) == 1
        let train = try share(root?.sets[0], replicas: replicas, size: size, cached: keep)
        let validation = try share(root?.sets[1], replicas: replicas, size: size, cached: keep)
        if !keep {
            // Streamed images are read by every rank on its own host: one that cannot says so now, not mid-epoch.
            try replicas.requireEveryRankReads(train.paths + validation.paths, what: "the training images (streamed)",
                                               remedy: "Give every host the images at the same paths (a shared file system or a copy), "
                                                     + "or train with --cache_images true: rank 0 then decodes them and sends them to every rank.")
        }
        return TrainingSets(train: train.source, validation: validation.paths.isEmpty ? nil : validation.source,
                            validationPaths: validation.paths, trainPaths: train.paths)
    }

    /// The decodable images of `paths` (their bytes when cached); unreadable ones stop the run or, with
    /// --skip_bad_images, are logged and left out.
    private static func usable(_ paths: [String], source: String, options: TrainingOptions, keep: Bool,
                               log: (String) -> Void) throws -> (paths: [String], bytes: [UInt8]) {
        let (bytes, kept, failures) = CachedImages.decode(paths, size: options.imgSize, keep: keep)
        if !failures.isEmpty {
            let lines = failures.map { "  " + $0.line }.joined(separator: "\n")
            guard options.skipBadImages else {
                throw VAEDistError("\(failures.count) of \(paths.count) images in \(source) cannot be used:\n\(lines)\nFix or remove them, or pass --skip_bad_images to train without them.")
            }
            log("skipping \(failures.count) unreadable images (--skip_bad_images):\n\(lines)")
        }
        guard !kept.isEmpty else { throw VAEDistError("\(source): no readable images") }
        return (kept, bytes)
    }

    /// The images of `set` whose paths are in `chosen`, in `chosen`'s order.
    private static func subset(_ set: (paths: [String], bytes: [UInt8]), _ chosen: [String], size: Int,
                               keep: Bool) -> (paths: [String], bytes: [UInt8]) {
        guard keep else { return (chosen, []) }
        let n = 3 * size * size
        let index = Dictionary(uniqueKeysWithValues: set.paths.enumerated().map { ($1, $0) })
        return (chosen, chosen.flatMap { set.bytes[index[$0]! * n..<(index[$0]! + 1) * n] })
    }

    /// Rank 0's list (and bytes) on every rank, as an image source carrying the files' fingerprint.
    private static func share(_ set: (paths: [String], bytes: [UInt8])?, replicas: ReplicaGroup, size: Int,
                              cached: Bool) throws -> (paths: [String], source: ImageSource) {
        let fingerprint = try replicas.broadcast(set.map { $0.paths.isEmpty ? "" : ImageFolder.fingerprint($0.paths) } ?? "", from: 0)
        let paths = try replicas.broadcast(set?.paths ?? [], from: 0)
        guard cached else { return (paths, StreamingImages(paths: paths, size: size, fingerprint: fingerprint)) }
        var bytes = set?.bytes ?? []
        replicas.broadcast(&bytes, from: 0)
        return (paths, CachedImages(size: size, count: paths.count, bytes: bytes, fingerprint: fingerprint))
    }
}
