import Foundation
import VAECore
import VAEFormats

/// One optimizer step, as a line of metrics.jsonl.
public struct StepMetrics: Codable, Equatable, Sendable {
    public var epoch, step, globalStep: Int
    public var loss, reconLoss, klLoss: Double
    public var lr: Double
    public var gradNorm: Double
    public var imagesPerSecond: Double
    /// Seconds this step waited on the gradient all-reduce.
    public var commWait: Double

    enum CodingKeys: String, CodingKey {
        case epoch, step, globalStep = "global_step", loss, reconLoss = "recon_loss", klLoss = "kl_loss", lr
        case gradNorm = "grad_norm", imagesPerSecond = "images_per_second", commWait = "comm_wait"
    }
}

/// Rank 0's per-step record: metrics.jsonl (one JSON object per line; `pandas.read_json(path, lines=True)`)
/// and a log line every `every` steps, or about every 30 seconds when `every` is nil. Each record is one
/// append of a whole line; on resume the records past the checkpoint are dropped (rewritten atomically).
final class StepLog {
    private let handle: FileHandle
    private let every: Int?
    private let log: (String) -> Void
    private var lastLine = Date()
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    init(path: String, resumingAt globalStep: Int, every: Int?, log: @escaping (String) -> Void) throws {
        (self.every, self.log) = (every, log)
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // A FIFO or device of that name is the user's, and reading it below would wait for a writer: refused at once.
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw VAEDistError("cannot write \(path): it is \(fileKindDescription(info.st_mode)), not a file vae-dist writes; "
                            + "move it away or choose another --output_dir")
        }
        let kept = Self.records(at: path).filter { $0.globalStep <= globalStep }
        let encoder = self.encoder
        let lines = try kept.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
        try writeFileAtomically(Array(lines.utf8), to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw VAEDistError("\(path): cannot open for appending") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// The records of an earlier run (lines that do not parse, e.g. cut by a kill, are dropped).
    static func records(at path: String) -> [StepMetrics] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n")
            .compactMap { try? JSONDecoder().decode(StepMetrics.self, from: Data($0.utf8)) }
    }

    func record(_ metrics: StepMetrics, progress: StepProgress) throws {
        var line = try encoder.encode(metrics)
        line.append(0x0A)
        try handle.write(contentsOf: line)
        let due = every.map { metrics.globalStep % $0 == 0 } ?? (Date().timeIntervalSince(lastLine) >= 30)
        guard due else { return }
        lastLine = Date()
        log(String(format: "epoch %d/%d  step %d/%d  loss %.5f (recon %.5f, kl %.4g)  lr %.3g  grad %.3g  %.2f img/s",
                   progress.epoch, progress.epochs, progress.step, progress.steps, metrics.loss, metrics.reconLoss,
                   metrics.klLoss, metrics.lr, metrics.gradNorm, progress.imagesPerSecond)
            + "  ETA \(formatDuration(progress.etaSeconds))")
    }

    /// Makes the records so far durable (with each checkpoint).
    func flush() throws { try handle.synchronize() }
}

/// 3h07m, 12m05s, 42s.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
