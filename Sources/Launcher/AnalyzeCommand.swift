import ArgumentParser
import Foundation
import VAEAnalysis
import VAECore
import VAEFormats
import VAEJobs
import VAETraining

extension AnalysisMethod: ExpressibleByArgument {}
extension AnalysisLayers: ExpressibleByArgument {}

/// The original tool's `--mode`.
enum AnalysisMode: String, CaseIterable, ExpressibleByArgument {
    case single, folder
}

/// Options shared by `analyze` and `analyze-folder`.
struct AnalysisOptions: ParsableArguments {
    @Option(help: "Metrics to report: l2 (l2_value, l2_per_element), cosine (cosine_value) or both.")
    var method: AnalysisMethod = .both

    @Option(help: ArgumentHelp("Weights: \(weightsFileKinds)."))
    var checkpoint: String?

    @Flag(name: snakeAndKebab("allow_random_weights"),
          help: "Analyse randomly initialised weights when no --checkpoint is given (differences then reflect noise, not what a trained VAE sees).")
    var allowRandomWeights = false

    @Option(help: "Seed of the random weights (with --allow_random_weights), and of analyze-folder's bootstrap resamples and permutations.")
    var seed: UInt64 = 0

    @Option(help: "Output directory: results go to OUTPUT/single or OUTPUT/batch.")
    var output = "outputs"

    @OptionGroup var modelOptions: ModelOptions<AnalysisDefaults>

    @Option(help: "Layers to compare, in forward order: encoder (encoder.conv_in … encoder.conv_out, then the moments quant_conv), decoder or both.")
    var layers: AnalysisLayers = .decoder

    @Option(name: snakeAndKebab("bootstrap_samples", "bootstrap"),
            help: "Bootstrap resamples of a folder's confidence intervals, ranking and group differences (drawn from --seed; --bootstrap is the old spelling). Default: \(AnalysisSettings().bootstrap).")
    var bootstrapSamples: Int?
    static let bootstrapRange = 1...1_000_000

    @Option(name: snakeAndKebab("ci_level"),
            help: "Confidence level of a folder's intervals (percentile bootstrap), between 0.5 and 0.999. Default: \(AnalysisSettings().level).")
    var ciLevel: Double?
    static let ciLevelRange = 0.5...0.999

    @Option(name: snakeAndKebab("group_by"),
            help: ArgumentHelp("Groups of pairs for analyze-folder: folder (the pair's sub-folder of positive/, e.g. benign/ and malignant/ as make-pairs --recursive writes), regex:PATTERN (on the pair's name; the key is the first capture group, else the match) or none. Default: folder when the pairs are in sub-folders, else none.", valueName: "folder|regex:PATTERN|none"))
    var groupBy: String?

    @Option(name: snakeAndKebab("cluster_by"),
            help: ArgumentHelp("Resample clusters of pairs (e.g. patients) instead of pairs in every bootstrap and group permutation: regex:PATTERN on the pair's name (the key is the first capture group, else the match).", valueName: "regex:PATTERN"))
    var clusterBy: String?

    @Option(help: "Random permutations of a group comparison's p-value (every split is enumerated when there are at most this many). Default: \(AnalysisSettings().permutations).")
    var permutations: Int?
    static let permutationsRange = 100...10_000_000

    @Flag(help: quietHelp)
    var quiet = false

    func validate() throws {
        try checkOutputPathGiven(output, flag: "--output")
        if let bootstrapSamples { try checkRange(bootstrapSamples, Self.bootstrapRange, flag: "--bootstrap_samples") }
        if let permutations { try checkRange(permutations, Self.permutationsRange, flag: "--permutations") }
        if let ciLevel, !Self.ciLevelRange.contains(ciLevel) {
            throw ValidationError("--ci_level must be at least \(Self.ciLevelRange.lowerBound) and at most \(Self.ciLevelRange.upperBound) (a fraction: 0.95 for 95 % intervals), got \(ciLevel)")
        }
        _ = try groupChoice
        _ = try clusterKey
        if checkpoint == nil && !allowRandomWeights {
            throw ValidationError("""
                no --checkpoint given. With random weights the layer differences are meaningless: every decoder \
                layer differs by noise, not by what the images show. Pass --checkpoint W.safetensors (\(weightsFileKinds)), \
                or --allow_random_weights to analyse an untrained model anyway.
                """)
        }
    }

    /// `--group_by`, refused by name when it is not folder, regex:PATTERN with a valid pattern, or none.
    var groupChoice: GroupChoice {
        get throws {
            do { return try groupBy.map { try GroupChoice(parsing: $0, flag: "--group_by") } ?? .automatic } catch { throw ValidationError("\(error)") }
        }
    }

    var clusterKey: PairKey? {
        get throws {
            do { return try clusterBy.map { try PairKey(parsing: $0, flag: "--cluster_by", allowFolder: false) } } catch { throw ValidationError("\(error)") }
        }
    }

    /// The settings and the model (decided by `ModelSource`: --config, else the config stored with the weights,
    /// else the SD v1 VAE). The memory is checked as soon as the config is known, with the `images` kept decoded.
    /// With `replicas`, rank 0 reads the weights and config and every rank receives them (other hosts need not
    /// have the files).
    /// The model runs on `job`'s compute context; the job's provenance record gets its weights, their hash and the
    /// config's origin.
    func loadModel(images: Int, replicas: ReplicaGroup? = nil, job: MPIJob, say: (String) -> Void) throws -> (AnalysisSettings, AutoencoderKL) {
        let shared = try replicas.map { try $0.modelSource(checkpoint: checkpoint, option: "--checkpoint", config: modelOptions.config, log: say) }
        let source = try shared?.source ?? ModelSource(checkpoint: checkpoint, config: modelOptions.config)
        try source.config.checkImageSize(modelOptions.imgSize, option: "--img_size")
        try MemoryEstimate.require(config: source.config, imageSize: modelOptions.imgSize, batch: 2, work: .inference, cachedImages: images)
        var settings = AnalysisSettings(method: method, imageSize: modelOptions.imgSize, checkpoint: checkpoint, seed: seed,
                                        config: source.configOrigin == .sdV1Default ? nil : source.configOrigin.description)
        let hash = try shared.map(\.weightsSHA256) ?? source.weights.map { try SHA256.hex(file: $0.path) }
        settings.provenance = job.provenance.model(source, weightsSHA256: hash)
        let model = try settings.makeModel(source, arithmetic: modelOptions.arithmetic(for: .inference), context: job.context,
                                           weights: shared?.weights, log: say)
        if checkpoint == nil {
            say("warning: random weights (--allow_random_weights, seed \(seed)): the differences are meaningless, they say nothing about what a trained VAE sees")
        }
        return (settings, model)
    }

    /// `analyze-folder`: rank 0 prints the tables of the means once every rank is done.
    func runFolder(_ folder: String, masks: String?) throws {
        let mpi = try modelOptions.startJob()
        try mpi.run(quiet: quiet) { replicas, console in
            let say = console.say
            // The pairs are not listed yet: the job checks again with the images this rank keeps.
            var (settings, model) = try loadModel(images: 0, replicas: replicas, job: mpi, say: say)
            if let bootstrapSamples { settings.bootstrap = bootstrapSamples }
            if let ciLevel { settings.level = ciLevel }
            if let permutations { settings.permutations = permutations }
            settings.groupBy = try groupChoice
            settings.clusterBy = try clusterKey
            settings.layers = layers
            let output = (self.output as NSString).appendingPathComponent("batch")
            var job = FolderAnalysisJob(model: model, settings: settings, outputDirectory: output, replicas: replicas,
                                        maskFolder: masks, log: say)
            let progress = AnalysisProgress(console)
            job.progress = { progress.pairs($0) }
            job.stage = { progress.stage($0, $1) }
            if let result = try job.run(folder: folder) {
                let groups = result.groups.map { "\n\n" + AggregateReport.groupTables($0) } ?? ""
                console.result(AggregateReport.rankingTables(result.statistics) + groups
                               + "\nanalysed \(result.pairs.count) pair(s) on \(replicas.size) rank(s); results in \(output)")
            }
        }
    }

    /// `analyze`: one pair, on rank 0 (other ranks have nothing to do).
    func runSingle(image1: String, image2: String, mask: String?) throws {
        let mpi = try modelOptions.startJob()
        try mpi.run(quiet: quiet) { replicas, console in
            let say = console.say
            if replicas.size > 1 { say("one pair: ranks 1…\(replicas.size - 1) have nothing to do (use analyze-folder to spread pairs)") }
            guard replicas.rank == 0 else { return }
            var (settings, model) = try loadModel(images: mask == nil ? 2 : 3, job: mpi, say: say)
            settings.layers = layers
            let output = (self.output as NSString).appendingPathComponent("single")
            let progress = AnalysisProgress(console)
            let name = (image1 as NSString).lastPathComponent
            let analysis = try analyzePair(image1: image1, image2: image2, mask: mask.map { [$0] } ?? [],
                                           settings: settings, model: model, outputDirectory: output,
                                           stage: { progress.stage(name, $0) })
            console.result(AnalysisReport.topTables(analysis.layers, method: method) + "\nresults in \(output)")
        }
    }
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare how every decoder layer responds to two images (e.g. a tumour image and the same image with the tumour masked).",
        discussion: """
            Both images are resized to img_size, encoded together, and the posterior mode decoded; each decoder \
            layer's output for image 1 is compared with image 2's: l2_value = ‖a − b‖₂, l2_per_element = \
            l2_value/√numel, cosine_value = 1 − cos(a, b).

            Writes to OUTPUT/single: layer_differences.json (per layer, decoder order), summary.json (inputs, \
            weights, top 5 layers per metric), layer_differences_plot.png, reconstructed_images.png and \
            difference_maps.png (per-pixel ‖a − b‖ of the top 5 layers by l2_value over image 1), each figure \
            also as PDF.

            --mask PATH (the lesion of image 1, white on black) adds per layer lesion_energy_fraction (share of \
            Σ(a − b)² inside the mask, resized to the layer by area averaging), lesion_enrichment (energy share / \
            area share: 1 = no localisation) and energy_per_area_inside/outside; lesion_area_fraction (context: the \
            same at every layer, never ranked). A share of no difference (0/0) is undefined (null); the \
            difference maps show the mask's contour.

            --mode folder --folder DIR runs analyze-folder (the original tool's spelling).
            """)

    @Option(help: "First image (e.g. with the tumour).")
    var img1: String?

    @Option(help: "Second image (e.g. the tumour masked).")
    var img2: String?

    @Option(help: "single (--img1/--img2) or folder (--folder). Default: folder when --folder is given, else single.")
    var mode: AnalysisMode?

    @Option(help: "Folder with positive/ and negative/ sub-folders (with --mode folder).")
    var folder: String?

    @Option(help: "The lesion mask of --img1 (white = lesion): adds the lesion metrics.")
    var mask: String?

    @Option(help: "With --mode folder: the folder of lesion masks (see analyze-folder --masks).")
    var masks: String?

    @OptionGroup var options: AnalysisOptions

    var resolvedMode: AnalysisMode { mode ?? (folder != nil ? .folder : .single) }

    func validate() throws {
        switch resolvedMode {
        case .single:
            if img1 == nil || img2 == nil { throw ValidationError("--mode single needs --img1 and --img2 (or use --mode folder --folder DIR)") }
            if folder != nil { throw ValidationError("--folder is for --mode folder; --mode single compares --img1 with --img2") }
            if masks != nil { throw ValidationError("--masks is for --mode folder; give --mask PATH for one pair") }
            if options.groupBy != nil || options.clusterBy != nil {
                throw ValidationError("--group_by and --cluster_by are for a folder of pairs (--mode folder or analyze-folder); one pair has no groups")
            }
            if options.bootstrapSamples != nil || options.ciLevel != nil || options.permutations != nil {
                throw ValidationError("--bootstrap_samples, --ci_level and --permutations are for a folder of pairs (--mode folder or analyze-folder); one pair has no intervals or p-values")
            }
        case .folder:
            if folder == nil { throw ValidationError("--mode folder needs --folder DIR (with positive/ and negative/ inside)") }
            if img1 != nil || img2 != nil { throw ValidationError("--img1/--img2 are for --mode single; --mode folder reads pairs from --folder") }
            if mask != nil { throw ValidationError("--mask is for --mode single; give --masks DIR for a folder") }
        }
    }

    func run() throws {
        switch resolvedMode {
        case .single: try options.runSingle(image1: img1!, image2: img2!, mask: mask)
        case .folder: try options.runFolder(folder!, masks: masks)
        }
    }
}

struct AnalyzeFolder: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze-folder",
        abstract: "Analyse every image pair of a folder (positive/ vs negative/, paired by file name), spread over MPI ranks.",
        discussion: """
            Run as `vae-dist analyze-folder …` or `mpirun -np N vae-dist analyze-folder …`: pairs are sorted by \
            name and split into contiguous blocks over the ranks; each rank writes its pairs' OUTPUT/batch/<stem>/ \
            (the files of analyze), rank 0 writes OUTPUT/batch/aggregated_results.json (per layer mean and std, \
            ddof 0, over pairs, with a percentile bootstrap confidence interval of the mean at --ci_level, the \
            median and IQR), \
            aggregated_differences.png (means with their CIs), pair_metrics.csv (one row per pair and layer) and \
            layer_ranking.csv (layers by mean, marking those the pairs cannot tell from the top layer by a paired \
            bootstrap), and report.html (one self-contained page: plots, ranking, a sortable row per pair with \
            thumbnails). The aggregates do not depend on the rank count.

            Lesion masks (white = lesion) add the lesion metrics of analyze --mask to every file: from --masks \
            DIR (the image's file name or stem), else DIR/masks/ (as vae-dist synth-data writes), else BUSI-style \
            <stem>_mask.<ext> / <stem>_mask_N.<ext> files beside the positives (several are merged). Once masks \
            are found, every pair needs one. With masks, lesion_enrichment.csv and the report add per layer the \
            pooled enrichment ((Σ energy inside / Σ energy) / (Σ lesion area / Σ area) over the pairs, with its \
            bootstrap CI) and the Spearman correlation of the pairs' enrichment with their lesion area; the \
            lesion area is context, shown once per pair and never ranked.

            Pairs in sub-folders of positive/ (positive/benign/…, as make-pairs --recursive writes) are grouped by \
            their sub-folder; --group_by regex:PATTERN groups by name. Each group gets its own statistics, and every \
            two groups are compared per metric and layer: the difference of means with a bootstrap interval, a \
            permutation p-value and Holm's adjustment over the layers (group_summary.csv, group_comparisons.csv, \
            group_differences.png, "groups" and "group_comparisons" in aggregated_results.json, a group column in \
            pair_metrics.csv). --cluster_by regex:PATTERN resamples clusters (e.g. patients) instead of pairs.

            A value undefined for a pair (a share of no difference, 0/0, e.g. for identical images) is recorded as \
            undefined (JSON null, an empty CSV cell) and every aggregate, median and bootstrap is over the pairs \
            where the metric is defined, with its n; the log and report name each pair left out and why.

            Images without a namesake in the other sub-folder are listed and skipped. If any image of a pair \
            cannot be read, every unreadable file is listed and nothing is analysed.
            """)

    @Option(help: "Folder with positive/ (e.g. with tumours) and negative/ (the same images masked) sub-folders.")
    var folder: String

    @Option(help: "Folder of lesion masks named like the images (default: FOLDER/masks/ or BUSI-style <stem>_mask files).")
    var masks: String?

    @OptionGroup var options: AnalysisOptions

    func run() throws {
        try options.runFolder(folder, masks: masks)
    }
}

/// `--quiet` of train, analyze, analyze-folder and reconstruct.
let quietHelp: ArgumentHelp = "No progress or info lines: only warnings, errors and the results (tables, the final summary)."

/// The progress of analyze and analyze-folder on rank 0: the pairs done of all, over every rank (folder), and the
/// stages of the pair in work once it has taken a few seconds (a 512 px pair takes half a minute on a few cores).
final class AnalysisProgress {
    /// Seconds a pair runs before its stages are shown on a terminal (as lines: `ProgressBar.lineInterval`).
    static let stageDelay = 3.0

    private let pairsBar: ProgressBar?
    private let stageBar: ProgressBar?
    private var folder: FolderProgress?
    private var pairStarted = Date()

    init(_ console: Console) {
        (pairsBar, stageBar) = (console.progress(), console.progress())
    }

    func pairs(_ p: FolderProgress) {
        folder = p
        pairsBar?.update(fraction: Double(p.done) / Double(max(p.total, 1)), label: "pairs \(p.done)/\(p.total)",
                         detail: "\(formatDuration(p.seconds)) elapsed  \(ProgressBar.eta(p.etaSeconds))",
                         line: "pairs \(p.done)/\(p.total) done on \(p.ranks) rank(s), \(formatDuration(p.seconds)) elapsed, \(ProgressBar.eta(p.etaSeconds))",
                         final: p.done == p.total)
    }

    func stage(_ pair: String, _ s: PairStage) {
        if s.done == 0 { pairStarted = Date() }
        let seconds = Date().timeIntervalSince(pairStarted)
        guard seconds >= (ProgressBar.isTerminal ? Self.stageDelay : ProgressBar.lineInterval) else { return }
        let what = "\(pair): \(s.what) (\(s.done)/\(s.total)), \(formatDuration(seconds))"
        if let folder, ProgressBar.isTerminal {
            // One line on a terminal: the folder's bar, with the stage of rank 0's pair beside it.
            pairsBar?.update(fraction: Double(folder.done) / Double(max(folder.total, 1)), label: "pairs \(folder.done)/\(folder.total)",
                             detail: "\(ProgressBar.eta(folder.etaSeconds))  · \(what)")
            return
        }
        stageBar?.update(fraction: Double(s.done) / Double(s.total), label: pair, detail: "\(s.what) (\(s.done)/\(s.total)), \(formatDuration(seconds))",
                         line: what)
    }
}
