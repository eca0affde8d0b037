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

/// Rank 0's record of a run: metrics.jsonl (one JSON object per line; `pandas.read_json(path, lines=True)`), a record
/// of `"kind": "step"` per optimizer step and of `"kind": "validation"` per validation, each with its `time` (ISO 8601,
/// UTC); and a log line every `every` steps, or about every 30 seconds when `every` is nil. Each record is one append
/// of a whole line; on resume the records past the checkpoint are dropped (rewritten atomically).
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
        let folder = parentFolder(path)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // A FIFO or device of that name is the user's, and reading it below would wait for a writer: refused at once.
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw VAEDistError("cannot write \(path): it is \(fileKindDescription(info.st_mode)), not a file vae-dist writes; "
                            + "move it away or choose another --output_dir")
        }
        // The earlier records as written (their times included); a line cut by a kill does not parse and goes.
        let kept = Self.lines(at: path).filter { line in
            (try? JSONDecoder().decode(RecordHeader.self, from: Data(line.utf8))).map { $0.globalStep <= globalStep } ?? false
        }
        try writeFileAtomically(Array(kept.map { $0 + "\n" }.joined().utf8), to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw VAEDistError("\(path): cannot open for appending") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    private static func lines(at path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The step records of a run (lines that do not parse, e.g. cut by a kill, are dropped).
    static func records(at path: String) -> [StepMetrics] {
        lines(at: path).compactMap { line in
            let data = Data(line.utf8)
            // Records of runs before validation records had no kind: all were steps.
            guard (try? JSONDecoder().decode(RecordHeader.self, from: data))?.kind ?? "step" == "step" else { return nil }
            return try? JSONDecoder().decode(StepMetrics.self, from: data)
        }
    }

    func record(_ metrics: StepMetrics, progress: StepProgress) throws {
        try append(kind: "step", metrics)
        let due = every.map { metrics.globalStep % $0 == 0 } ?? (Date().timeIntervalSince(lastLine) >= 30)
        guard due else { return }
        lastLine = Date()
        log(String(format: "epoch %d/%d  step %d/%d  loss %.5f (recon %.5f, kl %.4g)  lr %.3g  grad %.3g  %.2f img/s",
                   progress.epoch, progress.epochs, progress.step, progress.steps, metrics.loss, metrics.reconLoss,
                   metrics.klLoss, metrics.lr, metrics.gradNorm, progress.imagesPerSecond)
            + "  ETA \(formatDuration(progress.etaSeconds))")
    }

    /// The held-out metrics after `epoch` (1-based), at the run's optimizer step `globalStep`; `val_loss` weighs
    /// the KL as training does (what --keep_best ranks by).
    func recordValidation(_ metrics: ValidationMetrics, epoch: Int, globalStep: Int, klWeight: Double) throws {
        try append(kind: "validation", ValidationRecord(epoch: epoch, globalStep: globalStep, loss: metrics.total(klWeight: klWeight),
                                                        metrics: metrics))
    }

    private func append(kind: String, _ body: some Encodable) throws {
        var line = try encoder.encode(Record(kind: kind, time: timeFormatter.string(from: Date()), body: body))
        line.append(0x0A)
        try handle.write(contentsOf: line)
    }

    /// Makes the records so far durable (with each checkpoint).
    func flush() throws { try handle.synchronize() }

    private let timeFormatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    /// A line of metrics.jsonl: its kind and time beside the keys of `body`, in one flat object.
    private struct Record<Body: Encodable>: Encodable {
        let kind: String, time: String, body: Body
        enum CodingKeys: String, CodingKey { case kind, time }

        func encode(to encoder: Swift.Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encode(time, forKey: .time)
            try body.encode(to: encoder)
        }
    }

    /// What a record is, and where it stands in the run.
    private struct RecordHeader: Decodable {
        let kind: String?
        let globalStep: Int
        enum CodingKeys: String, CodingKey { case kind, globalStep = "global_step" }
    }
}

/// A validation line of metrics.jsonl. A PSNR or SSIM that is not a number (identical images give PSNR +∞) is
/// written as null, which JSON has, instead of failing the run.
struct ValidationRecord: Encodable {
    let epoch: Int, globalStep: Int, loss: Double
    let metrics: ValidationMetrics

    enum CodingKeys: String, CodingKey {
        case epoch, globalStep = "global_step", loss = "val_loss", reconLoss = "val_recon_loss", klLoss = "val_kl_loss"
        case psnr = "val_psnr", ssim = "val_ssim"
    }

    func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(globalStep, forKey: .globalStep)
        for (key, value) in [(CodingKeys.loss, loss), (.reconLoss, metrics.reconLoss), (.klLoss, metrics.klLoss),
                             (.psnr, metrics.psnr), (.ssim, metrics.ssim)] {
            if value.isFinite { try c.encode(value, forKey: key) } else { try c.encodeNil(forKey: key) }
        }
    }
}

/// 3h07m, 12m05s, 42s.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
