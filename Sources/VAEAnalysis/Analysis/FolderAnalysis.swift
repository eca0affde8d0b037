import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// One pair of a folder analysis: the same file name under positive/ and negative/ (or the same path in their
/// sub-folders, e.g. positive/benign/ and negative/benign/).
public struct ImagePair: Equatable, Sendable {
    /// The pair's sub-folder and its name in the aggregates: the file's stem, or its whole name when two
    /// pairs share a stem (case1.png and case1.jpg) or the stem is `.` or `..` (`...png`); behind the file's
    /// sub-folders of positive/ when it is in one (`benign/benign (3)`).
    public let name: String
    public let positive: String
    public let negative: String
    /// The lesion's mask file(s) (several are merged); empty without masks.
    public var masks: [String] = []
}

/// DIR/positive (images with the finding) and DIR/negative (the same images without it), paired by
/// identical file names (in sub-folders: identical paths, such as make-pairs --recursive writes for classes)
/// and sorted by name.
public struct PairFolder: Equatable, Sendable {
    public let pairs: [ImagePair]
    /// Images without a namesake in the other sub-folder, as paths.
    public let unpaired: [String]

    /// `masks`: the mask folder (`--masks`); without it DIR/masks/ is used when it exists, else BUSI-style
    /// `<stem>_mask.<ext>` (and `<stem>_mask_N.<ext>`) files beside the positives, if there are any.
    public static func scan(_ folder: String, masks maskFolder: String? = nil, option: String = "--folder") throws -> PairFolder {
        let layout = "expected \(folder)/positive (images with the finding) and \(folder)/negative (the same images without it), paired by identical file names"
        guard isDirectory(folder) else { throw VAEDistError("\(option) \(folder): no such directory; \(layout)") }
        let positiveDir = (folder as NSString).appendingPathComponent("positive")
        let negativeDir = (folder as NSString).appendingPathComponent("negative")
        for dir in [positiveDir, negativeDir] where !isDirectory(dir) {
            throw VAEDistError("\(option) \(folder): no \((dir as NSString).lastPathComponent)/ sub-folder; \(layout)")
        }
        // Paths relative to positive/ and negative/: a mask's image is the same path without _mask.
        let positiveFiles = try TrainingImages.recursiveImageNames(in: positiveDir, option: option)
        let positives = positiveFiles.filter { MaskFiles.maskedStem($0, among: positiveFiles) == nil }
        let negativeFiles = try TrainingImages.recursiveImageNames(in: negativeDir, option: option)
        let negatives = negativeFiles.filter { MaskFiles.maskedStem($0, among: negativeFiles) == nil }
        let common = Set(positives).intersection(negatives)
        let names = positives.filter(common.contains)
        guard !names.isEmpty else {
            throw VAEDistError("\(option) \(folder): no pairs: no file name is in both positive/ (\(positives.count) images) and negative/ (\(negatives.count) images); \(layout)")
        }
        // Pair names become folder names: never `.` or `..` (outputStem), so nothing is written outside OUTPUT.
        let stems = names.map { name in
            (name.lastIndex(of: "/").map { String(name[...$0]) } ?? "") + outputStem(of: name)
        }
        let sharedStems = Set(Dictionary(grouping: stems, by: { $0 }).filter { $0.value.count > 1 }.keys)
        var pairs = zip(names, stems).map { name, stem in
            ImagePair(name: sharedStems.contains(stem) ? name : stem,
                      positive: (positiveDir as NSString).appendingPathComponent(name),
                      negative: (negativeDir as NSString).appendingPathComponent(name))
        }
        try MaskFiles.attach(to: &pairs, files: names, folder: folder, maskFolder: maskFolder, positiveFiles: positiveFiles)
        let unpaired = positives.filter { !common.contains($0) }.map { (positiveDir as NSString).appendingPathComponent($0) }
            + negatives.filter { !common.contains($0) }.map { (negativeDir as NSString).appendingPathComponent($0) }
        return PairFolder(pairs: pairs, unpaired: unpaired)
    }

    /// The warning for unpaired images, nil when every image has its pair.
    public var unpairedWarning: String? {
        guard !unpaired.isEmpty else { return nil }
        return "warning: \(unpaired.count) image(s) have no file of the same name in the other sub-folder and are skipped:\n"
            + unpaired.map { "  \($0)" }.joined(separator: "\n")
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

/// The outcome of a folder analysis, on rank 0.
public struct FolderResult {
    /// In pair-name order.
    public let pairs: [(name: String, layers: [LayerDifference])]
    public let aggregates: [LayerAggregate]
    public let statistics: FolderStatistics
    /// With groups (`--group_by`), each group's statistics and their comparisons.
    public let groups: GroupStatistics?
    /// The folder-wide files.
    public let files: [String]
}

/// `vae-dist analyze-folder`: every pair of a folder, spread over the replicas; rank 0 writes the aggregates.
public struct FolderAnalysisJob {
    public let model: AutoencoderKL
    public let settings: AnalysisSettings
    /// OUTPUT/batch: a sub-folder per pair, the aggregates beside them.
    public let outputDirectory: String
    public let replicas: ReplicaGroup
    /// `--masks`: where the lesion masks are (nil: found in the folder, if there are any).
    public let maskFolder: String?
    /// Progress and warnings, shown on rank 0.
    public let log: (String) -> Void
    /// The whole job's progress after each round of pairs (every rank's pairs done, summed), on rank 0.
    public var progress: (FolderProgress) -> Void = { _ in }
    /// The stages of the pair this rank is analysing (with its name).
    public var stage: (String, PairStage) -> Void = { _, _ in }

    public init(model: AutoencoderKL, settings: AnalysisSettings, outputDirectory: String, replicas: ReplicaGroup,
                maskFolder: String? = nil, log: @escaping (String) -> Void) {
        self.maskFolder = maskFolder
        self.model = model
        self.settings = settings
        self.outputDirectory = outputDirectory
        self.replicas = replicas
        self.log = log
    }

    /// Lists the pairs on rank 0, checks every image can be read (all unreadable files are listed before any
    /// work starts, and the run fails), analyses this rank's share and gathers the metrics to rank 0, which
    /// writes the aggregates and returns the result; other ranks return nil.
    public func run(folder: String) throws -> FolderResult? {
        let pairs = try listPairs(folder)
        // A contiguous, balanced block of pairs per rank (ranks beyond the pair count get none).
        let share = { (rank: Int) in Array(pairs[SampleOrder.share(of: pairs.count, rank: rank, ranks: self.replicas.size)]) }
        // Before any image is decoded: each rank keeps its pairs' images and masks (the most any rank keeps).
        _ = try replicas.rootOnly {
            let kept = (0..<replicas.size).map { share($0).reduce(0) { $0 + 2 + $1.masks.count } }.max() ?? 0
            try MemoryEstimate.require(config: model.config, imageSize: settings.imageSize, batch: 2, work: .inference, cachedImages: kept)
        }
        let mine = share(replicas.rank)
        let inputs = try loadInputs(mine, total: pairs.count)

        var analysed: [AnalysedPair] = []
        let started = Date()
        // In rounds of one pair per rank, after which the ranks add up the pairs done: rank 0 shows the whole job's
        // progress. Pairs at one size take about the same time, so the ranks seldom wait for each other.
        let rounds = (0..<replicas.size).map { share($0).count }.max() ?? 0
        for round in 0..<rounds {
            if round < mine.count {
                let (pair, input) = (mine[round], inputs[round])
                let images = (input.positive, input.negative)
                let mask = pair.masks.isEmpty ? nil : try LesionMask.merging(input.masks, files: pair.masks)
                let analysis = PairAnalysis(images: images, mask: mask, layers: settings.layers, with: model,
                                            stage: { stage(pair.name, $0) })
                try AnalysisReport.writePair(analysis, images: images, inputs: (pair.positive, pair.negative), title: pair.name,
                                             settings: settings, model: model,
                                             to: (outputDirectory as NSString).appendingPathComponent(pair.name))
                analysed.append(AnalysedPair(layers: analysis.layers,
                                             images: try ReportPairImages(name: pair.name, analysis: analysis, images: images)))
            }
            var done = [Double(analysed.count)]
            replicas.sum(&done)
            if replicas.rank == 0 {
                progress(FolderProgress(done: Int(done[0]), total: pairs.count, ranks: replicas.size,
                                        seconds: Date().timeIntervalSince(started)))
            }
        }

        let gathered = try replicas.gather(analysed, to: 0)
        return try replicas.rootOnly { () throws -> FolderResult in
            let all = Array((gathered ?? []).joined())
            guard all.count == pairs.count else {
                throw VAEDistError("gathered the metrics of \(all.count) pairs, expected \(pairs.count)")
            }
            let layers = all.map(\.layers)
            let results = zip(pairs, layers).map { (name: $0.name, layers: $1) }
            let keys = try partition(pairs.map(\.name))
            let clusters = keys.clusters.map(keyIndices)
            let statistics = FolderStatistics(pairs: results, method: settings.method, resamples: settings.bootstrap,
                                              seed: settings.seed, level: settings.level, clusters: clusters)
            let groups = keys.groups.map { groups in
                GroupStatistics(pairs: results, groups: groups.keys, rule: groups.rule, method: settings.method,
                                resamples: settings.bootstrap, seed: settings.seed, level: settings.level,
                                permutations: settings.permutations, clusters: clusters)
            }
            for left in statistics.leftOut { log("warning: \(left.description)") }
            let files = try AggregateReport.write(pairs: results, statistics: statistics, groups: groups, clusters: keys.clusters,
                                                  settings: settings, model: model, to: outputDirectory)
            let report = try HTMLReport.write(pairs: results, statistics: statistics, groups: groups, plots: files.filter { $0.hasSuffix(".png") },
                                              images: all.map(\.images),
                                              settings: settings, to: outputDirectory)
            return FolderResult(pairs: results, aggregates: aggregateLayers(layers), statistics: statistics, groups: groups,
                                files: files + [report])
        }
    }

    /// The pairs, found on rank 0 and sent to every rank.
    private func listPairs(_ folder: String) throws -> [ImagePair] {
        let found = try replicas.rootOnly { () throws -> PairFolder in
            let found = try PairFolder.scan(folder, masks: maskFolder)
            if let warning = found.unpairedWarning { log(warning) }
            log("\(found.pairs.count) pair(s) in \(folder), over \(replicas.size) rank(s)")
            // Groups and clusters are checked before any image is decoded.
            let keys = try partition(found.pairs.map(\.name))
            if let groups = keys.groups {
                let counts = Dictionary(grouping: groups.keys, by: { $0 }).mapValues(\.count)
                log("groups by \(groups.rule.description): " + counts.keys.sorted().map { "\($0) (\(counts[$0]!) pairs)" }.joined(separator: ", ")
                    + (counts.count == 1 ? "; one group, so nothing to compare" : ""))
            }
            if let clusters = keys.clusters {
                log("the bootstrap resamples \(Set(clusters).count) clusters by \(settings.clusterBy!.description), not pairs")
            }
            return found
        }
        return try replicas.broadcast(found?.pairs ?? [], from: 0)
    }

    /// Each pair's group (`--group_by`, nil without groups) and cluster (`--cluster_by`). A cluster lies in one
    /// group: groups are compared by resampling and permuting whole clusters.
    func partition(_ names: [String]) throws -> (groups: (rule: PairKey, keys: [String])?, clusters: [String]?) {
        let rule = settings.groupBy.rule(for: names)
        let groups = try rule.map { rule in (rule, try rule.keys(of: names, flag: "--group_by")) }
        let clusters = try settings.clusterBy.map { try $0.keys(of: names, flag: "--cluster_by") }
        if let groups, let clusters {
            var groupOf: [String: String] = [:]
            for (cluster, group) in zip(clusters, groups.1) {
                if let other = groupOf[cluster], other != group {
                    throw VAEDistError("--cluster_by \(settings.clusterBy!.description): cluster \(cluster) has pairs in groups \(other) and \(group); a cluster must lie in one group of --group_by \(groups.0.description), since groups are compared by resampling and permuting whole clusters")
                }
                groupOf[cluster] = group
            }
        }
        return (groups.map { (rule: $0.0, keys: $0.1) }, clusters)
    }

    /// One pair's images at the analysis size, each file decoded once for the analysis and its pictures.
    private struct PairInputs {
        let positive: RGB8Image, negative: RGB8Image
        let masks: [RGB8Image]
    }

    /// Every rank decodes and resizes its pairs' images and keeps them (3·S² bytes each); rank 0 collects the
    /// failures and, if there are any, every rank stops with the full list.
    private func loadInputs(_ mine: [ImagePair], total: Int) throws -> [PairInputs] {
        var failures: [String] = []
        var inputs: [PairInputs] = []
        // Each rank reads its pairs where it runs: name the rank and host, whose copy of the folder may differ.
        let place = replicas.size > 1 ? "rank \(replicas.rank) (host \(localHostName)): " : ""
        for pair in mine {
            let images = ([pair.positive, pair.negative] + pair.masks).compactMap { path -> RGB8Image? in
                do { return try loadResized(path, size: settings.imageSize) } catch { failures.append("  \(place)\(error)"); return nil }
            }
            if images.count == 2 + pair.masks.count {
                inputs.append(PairInputs(positive: images[0], negative: images[1], masks: Array(images.dropFirst(2))))
            }
        }
        let gathered = try replicas.gather(failures, to: 0)
        _ = try replicas.rootOnly {
            let lines = Array((gathered ?? []).joined())
            guard lines.isEmpty else {
                throw VAEDistError("cannot read these images, so no pair was analysed (fix or remove the pairs, \(total) in all):\n"
                                + lines.joined(separator: "\n"))
            }
        }
        return inputs
    }
}

/// A folder analysis' progress over every rank: pairs done of the total, after `seconds`.
public struct FolderProgress: Sendable {
    public let done: Int, total: Int, ranks: Int
    public let seconds: Double

    /// Seconds left at the rate so far (nil before the first pair is done).
    public var etaSeconds: Double? { done > 0 ? seconds / Double(done) * Double(total - done) : nil }
}
