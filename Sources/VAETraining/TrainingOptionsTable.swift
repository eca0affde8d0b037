import VAECore
import VAEFormats

/// One option of a training run, stated once: its name (the flag `--name` with its kebab-case twin, and the key in
/// a checkpoint's options), help, bound, where its value lives in `TrainingOptions`, and how a resume treats a
/// change. `TrainingOptions.table` holds them all, keyed by key path: the Launcher declares each flag from it
/// (ArgumentParser needs one property per flag, so a flag is `@Option(\.batchSize) var batchSize: Int`, and its
/// value goes in with `set`, which checks the bound), and the checkpoint coding and `resumeChanges` walk it.
/// A flag inside a group that is coded as one value (the optimizer's, the schedule's, the data selection's and
/// validation's settings) has no key or resume rule of its own: its group's entry, which has no flag, has them.
public struct TrainingOption: Sendable {
    /// snake_case, as the original tool spells its flags.
    public let name: String
    /// The flag's help; nil when train declares no flag from this entry: a group coded as one value, a value the
    /// trainer records, and --img_size, which every command that builds a model declares with its own default.
    public let help: String?
    public let path: PartialKeyPath<TrainingOptions> & Sendable
    /// How the value is coded in a checkpoint and compared on resume; nil for a flag coded within its group.
    private(set) var stored: Stored?
    /// Why the value in the options is refused (it is outside the option's bound), or nil.
    let refusal: @Sendable (TrainingOptions) -> String?

    public var flag: String { "--" + name }
    /// Whether the option has a key in a checkpoint's options.
    public var isCoded: Bool { stored != nil }
    public var resumeRule: ResumeRule? { stored?.rule }
    /// The value in `options` as resume messages word it (nil: unknown, for values older checkpoints lack).
    public let text: @Sendable (TrainingOptions) -> String?

    struct Stored: Sendable {
        let rule: ResumeRule
        /// What a resume message calls it: the flag, or the flags of a group.
        let label: String
        let encode: @Sendable (TrainingOptions, inout KeyedEncodingContainer<OptionKey>) throws -> Void
        let decode: @Sendable (KeyedDecodingContainer<OptionKey>, inout TrainingOptions) throws -> Void
    }

    struct OptionKey: CodingKey, Sendable {
        let stringValue: String
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// A bound of an option's values, in the words of its refusal ("--lr must be a positive number, got 0.0").
    public struct Bound<Value>: Sendable {
        let phrase: String
        let holds: @Sendable (Value) -> Bool

        /// `phrase` completes "--flag must …".
        public static func must(_ phrase: String, _ holds: @escaping @Sendable (Value) -> Bool) -> Bound {
            Bound(phrase: phrase, holds: holds)
        }

        /// Every integer option has one far beyond any real run: products and offsets derived from it stay far
        /// inside Int, so a typo such as 2^62 is refused instead of overflowing later.
        public static func range(_ range: ClosedRange<Int>) -> Bound<Int> {
            .must("be at least \(range.lowerBound) and at most \(range.upperBound)") { range.contains($0) }
        }
    }

    /// What an optional option's absence means in resume messages: a value of its own (compared like any other),
    /// or unknown (a field older checkpoints lack, not compared).
    public enum Absent: Sendable {
        case described(String)
        case unknown
    }

    /// An option coded at the top level of a checkpoint's options under `name` (with `resume`), or, without
    /// `resume`, a flag coded within its group.
    init<Value: Codable & Sendable>(_ path: WritableKeyPath<TrainingOptions, Value> & Sendable, _ name: String, help: String?,
                                    bound: Bound<Value>? = nil, resume: ResumeRule? = nil, label: String? = nil,
                                    required: Bool = false, describe: @escaping @Sendable (Value) -> String? = { "\($0)" }) {
        (self.name, self.help, self.path) = (name, help, path)
        text = { describe($0[keyPath: path]) }
        let flag = "--" + name
        refusal = { options in
            let value = options[keyPath: path]
            guard let bound, !bound.holds(value) else { return nil }
            return "\(flag) must \(bound.phrase), got \(describe(value) ?? "\(value)")"
        }
        let key = OptionKey(name)
        stored = resume.map { rule in
            Stored(rule: rule, label: label ?? flag,
                   encode: { options, container in try container.encode(options[keyPath: path], forKey: key) },
                   decode: { container, options in
                       // Options added in later versions are absent from older checkpoints: those keep their defaults.
                       if required {
                           options[keyPath: path] = try container.decode(Value.self, forKey: key)
                       } else if let value = try container.decodeIfPresent(Value.self, forKey: key) {
                           options[keyPath: path] = value
                       }
                   })
        }
    }

    /// An optional option: absent from the checkpoint when nil; the bound applies to a value given.
    init<Wrapped: Codable & Sendable>(_ path: WritableKeyPath<TrainingOptions, Wrapped?> & Sendable, _ name: String, help: String?,
                                      bound: Bound<Wrapped>? = nil, resume: ResumeRule? = nil, label: String? = nil,
                                      absent: Absent) {
        let some = bound.map { bound in Bound<Wrapped?>.must(bound.phrase) { $0.map(bound.holds) ?? true } }
        self.init(path, name, help: help, bound: some, resume: resume, label: label, describe: { value in
            if let value { return "\(value)" }
            if case .described(let text) = absent { return text }
            return nil
        })
        // Written only when set, as Codable writes an optional.
        let key = OptionKey(name)
        stored = stored.map { s in
            Stored(rule: s.rule, label: s.label,
                   encode: { options, container in try container.encodeIfPresent(options[keyPath: path], forKey: key) },
                   decode: s.decode)
        }
    }

    /// A setting made of several flags, coded as one value and compared whole on resume.
    init<Value: Codable & Sendable>(group path: WritableKeyPath<TrainingOptions, Value> & Sendable, _ name: String,
                                    resume: ResumeRule, label: String) {
        self.init(path, name, help: nil, resume: resume, label: label, describe: { (try? CheckpointMetadata.json($0)) ?? "\($0)" })
    }
}

extension TrainingOptions {
    /// Every option of a run, in the order of checkpoints' coding errors and resume messages. A field of
    /// `TrainingOptions` missing here is neither saved nor compared: a test walks the fields.
    public static let table: [TrainingOption] = [
        .init(\.trainDir, "train_dir", help: "Folder of training images (png/jpg/jpeg; --recursive for sub-folders).",
              resume: .mayChange, required: true),
        .init(\.outputDir, "output_dir", help: "Where outputs go.", resume: .mayChange),
        .init(\.batchSize, "batch_size", help: "Global batch size (split over ranks).", bound: .range(1...65_536), resume: .mustMatch),
        .init(\.epochs, "epochs", help: "Number of epochs.", bound: .range(1...1_000_000), resume: .mayChange),
        .init(\.lr, "lr", help: "Learning rate (the base of --lr_schedule).", bound: .must("be a positive number") { $0 > 0 && $0.isFinite },
              resume: .mayChangeWithWarning),
        .init(\.klWeight, "kl_weight", help: "Weight of the KL term.", bound: .must("be non-negative") { $0 >= 0 && $0.isFinite },
              resume: .mustMatch),
        .init(\.imgSize, "img_size", help: nil, resume: .mustMatch),
        .init(\.saveInterval, "save_interval", help: "Checkpoint and reconstruction grid every N epochs.", bound: .range(1...1_000_000),
              resume: .mayChange),
        // Every UInt64 is a valid seed: it is only hashed with (epoch, sample).
        .init(\.seed, "seed", help: "Seed of initialisation, data order and noise.", resume: .mustMatch),
        .init(\.klReduction, "kl_reduction", help: "sum (ldm: KL summed over the latent) or mean (divided by the latent elements of one sample).",
              resume: .mustMatch),
        // --optimizer, --adam_betas and --weight_decay are read together (torch's defaults depend on the optimizer).
        .init(group: \.optimizer, "optimizer", resume: .mustMatch, label: "--optimizer and its settings"),
        .init(\.optimizer.momentum, "momentum", help: "SGD momentum."),
        .init(\.optimizer.dampening, "dampening", help: "SGD dampening of the momentum."),
        .init(\.optimizer.nesterov, "nesterov", help: "SGD with Nesterov momentum (needs --momentum > 0 and --dampening 0)."),
        .init(group: \.schedule, "lr_schedule", resume: .mayChangeWithWarning, label: "--lr_schedule and its settings"),
        .init(\.schedule.shape, "lr_schedule", help: "constant, cosine (to --min_lr at the last step) or step (× --lr_gamma every --lr_step_size epochs)."),
        .init(\.schedule.warmupSteps, "warmup_steps", help: "Optimizer steps of linear warm-up from lr/N to lr.",
              bound: .range(0...1_000_000_000)),
        .init(\.schedule.minLR, "min_lr", help: "The learning rate's floor for the cosine and step schedules."),
        .init(\.schedule.stepSizeEpochs, "lr_step_size", help: "Epochs between decays of the step schedule.", bound: .range(1...1_000_000)),
        .init(\.schedule.gamma, "lr_gamma", help: "Factor of each decay of the step schedule."),
        .init(\.gradClip, "grad_clip", help: "Clip the global gradient norm to this value (0: off), after the all-reduce.",
              bound: .must("be ≥ 0") { $0 >= 0 && $0.isFinite }, resume: .mustMatch),
        .init(\.emaDecay, "ema_decay",
              help: "Keep an exponential moving average of the weights with this decay (e.g. 0.999); saved as vae_final_ema.safetensors.",
              bound: .must("lie in (0, 1)") { $0 > 0 && $0 < 1 }, resume: .mustMatch, absent: .described("none")),
        .init(\.gradAccum, "grad_accum", help: "Micro-batches of --batch_size per optimizer step: the step sees batch_size × N images.",
              bound: .range(1...65_536), resume: .mustMatch),
        .init(\.numRecon, "num_recon", help: "Training images shown in the reconstruction grids.", bound: .range(0...64), resume: .mayChange),
        // Its effect is in the weights the run started from, which the checkpoint holds.
        .init(\.initWeights, "init_weights",
              help: "Start from these weights (\(ModelSource.acceptedWeights)) instead of random initialisation; without --config their stored config is used.",
              resume: .mayChange, absent: .described("none")),
        // Its effect on the data, and --train_dir's, is in the data set's fingerprint.
        .init(\.skipBadImages, "skip_bad_images", help: "Log and skip unreadable images instead of stopping.", resume: .mayChange),
        .init(\.cacheImages, "cache_images", help: "Keep decoded images in memory (true) or load them on demand with prefetching (false).",
              resume: .mayChange),
        // --exclude (comma-separated on the command line, a list here) is read with the group.
        .init(group: \.data, "data", resume: .mayChange, label: "--recursive/--exclude/--train_list"),
        .init(\.data.recursive, "recursive", help: "Also take images from the sub-folders of --train_dir (e.g. BUSI's benign/, malignant/, normal/)."),
        .init(\.data.trainList, "train_list", help: "A file with one image path per line (relative to the file's folder), instead of --train_dir.",
              absent: .described("none")),
        .init(\.augment, "augment", help: "none, or hflip: mirror half the samples, decided per (seed, epoch, sample).", resume: .mustMatch),
        .init(group: \.validation, "validation", resume: .mayChange, label: "--val_dir/--val_fraction/--val_interval/--keep_best"),
        .init(\.validation.directory, "val_dir", help: "Folder of held-out images, reconstructed every --val_interval epochs.",
              absent: .described("none")),
        .init(\.validation.fraction, "val_fraction",
              help: "Hold out this share of the training images (a seeded split, listed in validation_images.txt).",
              bound: .must("lie in [0, 1)") { (0..<1).contains($0) }),
        .init(\.validation.interval, "val_interval", help: "Validate every N epochs (and after the last).", bound: .range(1...1_000_000)),
        .init(\.validation.keepBest, "keep_best", help: "Keep vae_best.safetensors, the checkpoint of the lowest validation loss."),
        .init(\.logEvery, "log_every", help: "A progress line every N optimizer steps (default: about every 30 s).",
              bound: .range(1...1_000_000_000), resume: .mayChange, absent: .described("about every 30 s")),
        .init(\.dataset, "dataset", help: nil, resume: .mustMatch, label: "the data set (--train_dir after --skip_bad_images)",
              absent: .unknown),
        .init(\.convolution, "convolution", help: nil, resume: .mayChangeWithWarning,
              label: "the convolution arithmetic (--fast_conv, --exact_conv)", absent: .unknown),
        .init(\.saveFormat, "save_format",
              help: "Checkpoint files: safetensors (read by every vae-dist command), pt (the original tool's torch.save layout, checkpoints/vae_epoch_N.pt and vae_final.pt, for its resume snippet; resumable here too) or both.",
              resume: .mayChange),
        .init(\.tensorboard, "tensorboard",
              help: "Write TensorBoard event files to --output_dir/tensorboard (true; open with `tensorboard --logdir OUTPUT/tensorboard`) or not (false).",
              resume: .mayChange),
    ]

    /// The table's entry of the option at `path`. Asking for a path the table lacks is a programming error.
    public static func option(_ path: PartialKeyPath<TrainingOptions>) -> TrainingOption {
        guard let option = table.first(where: { $0.path == path }) else { preconditionFailure("\(path) is not in TrainingOptions.table") }
        return option
    }

    /// Sets the option at `path` to `value`, or throws its refusal when the value is outside the option's bound.
    public mutating func set<Value>(_ path: WritableKeyPath<TrainingOptions, Value>, _ value: Value) throws {
        var changed = self
        changed[keyPath: path] = value
        if let why = Self.option(path).refusal(changed) { throw VAEDistError(why) }
        self = changed
    }

    /// The defaults of a run (a `train_dir` is the one thing every run gives).
    public static let defaults = TrainingOptions(trainDir: "")
}

extension TrainingOptions: Codable {
    public init(from decoder: Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: TrainingOption.OptionKey.self)
        self = .defaults
        for option in Self.table { try option.stored?.decode(container, &self) }
    }

    public func encode(to encoder: Swift.Encoder) throws {
        var container = encoder.container(keyedBy: TrainingOption.OptionKey.self)
        for option in Self.table { try option.stored?.encode(self, &container) }
    }
}

extension TrainingOptions {
    /// Compares the options `given` for a resume with these, stored in `checkpoint`: throws one error listing every
    /// option that must not change, stored and given value side by side; returns the accepted changes as log lines.
    /// A data set or arithmetic unknown on either side (older checkpoints, sources without files) is not compared.
    /// (Threads and ranks are not options of the run: they may always change. The model config is checked against
    /// the checkpoint's.)
    public func resumeChanges(given: TrainingOptions, checkpoint: String) throws -> [String] {
        var refused: [String] = [], accepted: [String] = []
        for option in Self.table {
            guard let stored = option.stored, let old = option.text(self), let new = option.text(given), old != new else { continue }
            let line = "\(stored.label): checkpoint \(old), now \(new)"
            switch stored.rule {
            case .mustMatch: refused.append(line)
            case .mayChange: accepted.append("resume changes " + line)
            case .mayChangeWithWarning:
                accepted.append("warning: resume changes \(line); the run now differs from an uninterrupted one")
            }
        }
        guard refused.isEmpty else {
            throw VAEDistError("cannot resume from \(checkpoint): these settings change the training itself and must stay as they were:\n"
                            + refused.map { "  " + $0 }.joined(separator: "\n")
                            + "\nGive the checkpoint's values, or start a new run in another --output_dir.")
        }
        return accepted
    }
}
