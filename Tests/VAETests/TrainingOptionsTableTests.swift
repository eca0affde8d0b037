import Foundation
import VAECore
import VAEFormats
@testable import VAETraining
import XCTest

/// `TrainingOptions.table` states each option once; the checkpoint coding and the resume rules derive from it. The
/// two `options` below are what the binary before the table wrote into two runs' checkpoints (`vae_final.safetensors`
/// metadata; the init_weights path shortened), with every option set differently in each: they must read and write
/// back byte for byte, and a resume that changes any one option must be treated as before.
final class TrainingOptionsTableTests: XCTestCase {
    static let runA = #"{"augment":"hflip","batch_size":2,"cache_images":false,"convolution":"winograd F(2x2, 3x3)","data":{"exclude":["*_x*"],"recursive":true},"dataset":"4 images, names and sizes hash fa31a5641f5a193b","ema_decay":0.9,"epochs":1,"grad_accum":2,"grad_clip":1,"img_size":16,"init_weights":"tiny\/weights.ldm.safetensors","kl_reduction":"mean","kl_weight":0.01,"log_every":1,"lr":0.001,"lr_schedule":{"gamma":0.5,"minLR":1e-05,"shape":"cosine","stepSizeEpochs":5,"warmupSteps":1},"num_recon":2,"optimizer":{"beta1":0.8,"beta2":0.99,"dampening":0.1,"eps":1e-08,"kind":"sgd","momentum":0.9,"nesterov":false,"weightDecay":0.001},"output_dir":"outA","save_format":"both","save_interval":1,"seed":5,"skip_bad_images":true,"tensorboard":false,"train_dir":"dataA\/train","validation":{"keep_best":true,"val_fraction":0.25,"val_interval":1}}"#
    static let runB = #"{"augment":"none","batch_size":3,"cache_images":true,"convolution":"winograd F(4x4, 3x3) (--fast_conv)","data":{"exclude":["*_mask*"],"recursive":false},"dataset":"5 images, names and sizes hash 9daacfc4f2fc990c","ema_decay":0.95,"epochs":2,"grad_accum":1,"grad_clip":2,"img_size":32,"kl_reduction":"sum","kl_weight":0.02,"log_every":2,"lr":0.002,"lr_schedule":{"gamma":0.25,"minLR":2e-05,"shape":"step","stepSizeEpochs":6,"warmupSteps":2},"num_recon":3,"optimizer":{"beta1":0.9,"beta2":0.999,"dampening":0,"eps":1e-08,"kind":"adamw","momentum":0,"nesterov":false,"weightDecay":0.01},"output_dir":"outB","save_format":"safetensors","save_interval":2,"seed":6,"skip_bad_images":false,"tensorboard":true,"train_dir":"dataB\/train","validation":{"keep_best":false,"val_dir":"dataA\/train","val_fraction":0,"val_interval":2}}"#

    /// Each key's resume rule and label as the binary before the table had them.
    static let rules: [String: (ResumeRule, String)] = [
        "train_dir": (.mayChange, "--train_dir"), "output_dir": (.mayChange, "--output_dir"), "batch_size": (.mustMatch, "--batch_size"),
        "epochs": (.mayChange, "--epochs"), "lr": (.mayChangeWithWarning, "--lr"), "kl_weight": (.mustMatch, "--kl_weight"),
        "img_size": (.mustMatch, "--img_size"), "save_interval": (.mayChange, "--save_interval"), "seed": (.mustMatch, "--seed"),
        "kl_reduction": (.mustMatch, "--kl_reduction"), "optimizer": (.mustMatch, "--optimizer and its settings"),
        "lr_schedule": (.mayChangeWithWarning, "--lr_schedule and its settings"), "grad_clip": (.mustMatch, "--grad_clip"),
        "ema_decay": (.mustMatch, "--ema_decay"), "grad_accum": (.mustMatch, "--grad_accum"), "num_recon": (.mayChange, "--num_recon"),
        "init_weights": (.mayChange, "--init_weights"), "skip_bad_images": (.mayChange, "--skip_bad_images"),
        "cache_images": (.mayChange, "--cache_images"), "data": (.mayChange, "--recursive/--exclude/--train_list"),
        "augment": (.mustMatch, "--augment"), "validation": (.mayChange, "--val_dir/--val_fraction/--val_interval/--keep_best"),
        "log_every": (.mayChange, "--log_every"), "dataset": (.mustMatch, "the data set (--train_dir after --skip_bad_images)"),
        "convolution": (.mayChangeWithWarning, "the convolution arithmetic (--fast_conv, --exact_conv)"),
        "save_format": (.mayChange, "--save_format"), "tensorboard": (.mayChange, "--tensorboard"),
    ]

    func decode(_ json: String) throws -> TrainingOptions { try JSONDecoder().decode(TrainingOptions.self, from: Data(json.utf8)) }

    func object(_ json: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    /// Every stored field of TrainingOptions has exactly one coded entry (a field left out would be neither saved nor
    /// compared on resume), every coded entry a resume rule, and the keys are the ones checkpoints have always had.
    func testEveryFieldIsCodedOnceWithItsResumeRule() throws {
        let coded = TrainingOptions.table.filter(\.isCoded)
        XCTAssertEqual(Mirror(reflecting: TrainingOptions.defaults).children.count, coded.count)
        XCTAssertEqual(Set(coded.map(\.name)).count, coded.count, "coding keys are unique")
        XCTAssertEqual(Set(coded.map(\.name)), Set(Self.rules.keys))
        XCTAssertEqual(Set(try object(Self.runA).keys), Set(Self.rules.keys))
        for option in coded {
            XCTAssertEqual(option.resumeRule, Self.rules[option.name]?.0, option.name)
        }
        let flags = TrainingOptions.table.filter { $0.help != nil }
        XCTAssertEqual(Set(flags.map(\.name)).count, flags.count, "flag names are unique")
        // An entry is a flag, a coded value, or both; the key paths are unique (entries are found by them).
        XCTAssertTrue(TrainingOptions.table.allSatisfy { $0.help != nil || $0.isCoded })
        XCTAssertEqual(Set(TrainingOptions.table.map { $0.path as PartialKeyPath<TrainingOptions> }).count, TrainingOptions.table.count)
    }

    func testOptionsWrittenBeforeTheTableReadAndWriteBackByteForByte() throws {
        for json in [Self.runA, Self.runB] {
            let options = try decode(json)
            XCTAssertEqual(try CheckpointMetadata.json(options), json)
        }
        let a = try decode(Self.runA)
        XCTAssertEqual(a.optimizer.kind, .sgd)
        XCTAssertEqual(a.schedule.warmupSteps, 1)
        XCTAssertEqual(a.emaDecay, 0.9)
        XCTAssertEqual(a.data.exclude, ["*_x*"])
        XCTAssertNil(try decode(Self.runB).initWeights)
        // An optional left unset is absent, as Codable writes it.
        XCTAssertFalse(try CheckpointMetadata.json(TrainingOptions(trainDir: "x")).contains("ema_decay"))
    }

    /// Options added in later versions are absent from older checkpoints: those take their defaults; train_dir is
    /// the one key every checkpoint has.
    func testAbsentOptionsTakeTheirDefaultsAndTrainDirIsRequired() throws {
        XCTAssertEqual(try decode(#"{"train_dir":"x"}"#), TrainingOptions(trainDir: "x"))
        var older = try object(Self.runA)
        for key in ["tensorboard", "save_format", "dataset", "convolution", "log_every", "ema_decay"] { older[key] = nil }
        let read = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: older))
        XCTAssertEqual(read.tensorboard, true)
        XCTAssertEqual(read.saveFormat, .safetensors)
        XCTAssertNil(read.dataset)
        XCTAssertEqual(read.batchSize, 2)
        XCTAssertThrowsError(try decode(#"{"batch_size":2}"#)) { XCTAssertTrue("\($0)".contains("train_dir"), "\($0)") }
        XCTAssertThrowsError(try decode(#"{"train_dir":"x","batch_size":"two"}"#)) { XCTAssertTrue("\($0)".contains("batch_size"), "\($0)") }
    }

    /// Run A's options resumed with one option taken from run B, for every option: exactly that option is reported,
    /// refused, accepted or accepted with a warning by its rule, with both values.
    func testAResumeChangingAnyOneOptionFollowsItsRule() throws {
        let stored = try decode(Self.runA)
        let (a, b) = (try object(Self.runA), try object(Self.runB))
        for (key, (rule, label)) in Self.rules {
            var mixed = a
            mixed[key] = b[key]
            let given = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: mixed))
            let option = TrainingOptions.table.first { $0.isCoded && $0.name == key }!
            let line = "\(label): checkpoint \(option.text(stored)!), now \(option.text(given)!)"
            switch rule {
            case .mustMatch:
                XCTAssertThrowsError(try stored.resumeChanges(given: given, checkpoint: "c.safetensors"), key) { error in
                    let text = "\(error)"
                    XCTAssertTrue(text.contains("  " + line + "\n"), "\(key): \(text)")
                    XCTAssertEqual(text.components(separatedBy: "\n  ").count, 2, "\(key): one refusal: \(text)")
                }
            case .mayChange:
                XCTAssertEqual(try stored.resumeChanges(given: given, checkpoint: "c"), ["resume changes " + line], key)
            case .mayChangeWithWarning:
                XCTAssertEqual(try stored.resumeChanges(given: given, checkpoint: "c"),
                               ["warning: resume changes \(line); the run now differs from an uninterrupted one"], key)
            }
        }
        XCTAssertEqual(try stored.resumeChanges(given: stored, checkpoint: "c"), [])
        // The values as the binary before worded them.
        var given = stored
        (given.batchSize, given.emaDecay, given.klReduction) = (3, nil, .sum)
        assertMentions(message { _ = try stored.resumeChanges(given: given, checkpoint: "c") },
                       ["--batch_size: checkpoint 2, now 3", "--ema_decay: checkpoint 0.9, now none", "--kl_reduction: checkpoint mean, now sum"])
        given = stored
        given.logEvery = nil
        XCTAssertEqual(try stored.resumeChanges(given: given, checkpoint: "c"), ["resume changes --log_every: checkpoint 1, now about every 30 s"])
    }

    /// `set` refuses a value outside the option's bound in the words every flag's refusal uses; inside, it sets.
    func testSetRefusesValuesOutsideTheBoundByFlag() throws {
        var o = TrainingOptions.defaults
        try o.set(\.batchSize, 65_536)
        XCTAssertEqual(o.batchSize, 65_536)
        for (attempt, text) in [({ try o.set(\.batchSize, 0) }, "--batch_size must be at least 1 and at most 65536, got 0"),
                                ({ try o.set(\.lr, 0) }, "--lr must be a positive number, got 0.0"),
                                ({ try o.set(\.emaDecay, 1) }, "--ema_decay must lie in (0, 1), got 1.0"),
                                ({ try o.set(\.validation.fraction, 1) }, "--val_fraction must lie in [0, 1), got 1.0"),
                                ({ try o.set(\.logEvery, 0) }, "--log_every must be at least 1 and at most 1000000000, got 0")] as [(() throws -> Void, String)] {
            XCTAssertEqual(message(attempt), text)
        }
        XCTAssertEqual(o.batchSize, 65_536, "a refused value leaves the options as they were")
        try o.set(\.emaDecay, nil)
        XCTAssertNil(o.emaDecay)
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        XCTFail("expected an error")
        return ""
    }

    func assertMentions(_ text: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        for part in parts { XCTAssertTrue(text.contains(part), "'\(text)' should mention '\(part)'", file: file, line: line) }
    }
}
