import Foundation
@testable import Launcher
import VAETraining
import XCTest

/// Train's flags are declared from `TrainingOptions.table`: every flag of the table is accepted by `train` in both
/// spellings and lands in its field of the run's options; train's --help shows the core flags first, under their
/// heading. In-process through `VAEDist.parseAsRoot`, which runs every `validate()`.
final class TrainFlagsTests: XCTestCase {
    /// Per flag of the table: the arguments that set it to a value other than its default (the flag last; those
    /// before it make it valid), and that value as the table words it.
    static let samples: [String: (arguments: [String], value: String)] = [
        "train_dir": (["imgs"], "imgs"), "output_dir": (["out2"], "out2"), "batch_size": (["16"], "16"), "epochs": (["7"], "7"),
        "lr": (["0.5"], "0.5"), "kl_weight": (["0.25"], "0.25"), "save_interval": (["3"], "3"), "seed": (["42"], "42"),
        "kl_reduction": (["mean"], "mean"), "momentum": (["0.5"], "0.5"), "dampening": (["0.25"], "0.25"), "nesterov": ([], "true"),
        "lr_schedule": (["cosine"], "cosine"), "warmup_steps": (["5"], "5"), "min_lr": (["5e-05"], "5e-05"),
        "lr_step_size": (["4"], "4"), "lr_gamma": (["0.5"], "0.5"), "grad_clip": (["1.5"], "1.5"), "ema_decay": (["0.5"], "0.5"),
        "grad_accum": (["3"], "3"), "num_recon": (["4"], "4"), "init_weights": (["w.safetensors"], "w.safetensors"),
        "skip_bad_images": ([], "true"), "cache_images": (["false"], "false"), "recursive": ([], "true"),
        "train_list": (["list.txt"], "list.txt"), "augment": (["hflip"], "hflip"), "val_dir": (["val"], "val"),
        "val_fraction": (["0.25"], "0.25"), "val_interval": (["2"], "2"), "keep_best": ([], "true"), "log_every": (["9"], "9"),
        "save_format": (["pt"], "pt"), "tensorboard": (["false"], "false"),
    ]

    /// What a flag needs beside it to be valid.
    static let context: [String: [String]] = [
        "momentum": ["--optimizer", "sgd"], "dampening": ["--optimizer", "sgd", "--momentum", "0.5"],
        "nesterov": ["--optimizer", "sgd", "--momentum", "0.5"], "keep_best": ["--val_fraction", "0.2"],
    ]

    func train(_ arguments: [String]) throws -> Train {
        try XCTUnwrap(try VAEDist.parseAsRoot(["train"] + arguments) as? Train)
    }

    func testEveryFlagOfTheTableSetsItsOptionInBothSpellings() throws {
        let flags = TrainingOptions.table.filter { $0.help != nil }
        XCTAssertEqual(Set(flags.map(\.name)), Set(Self.samples.keys), "every flag of the table has a sample here, and only those")
        for option in flags {
            let sample = try XCTUnwrap(Self.samples[option.name])
            XCTAssertNotEqual(option.text(.defaults), sample.value, "\(option.name): the sample is not the default")
            let spellings = Set([option.name, option.name.replacingOccurrences(of: "_", with: "-")])
            for spelling in spellings {
                let images = option.name == "train_dir" ? [] : option.name == "train_list" ? [] : ["--train_dir", "images"]
                let arguments = images + (Self.context[option.name] ?? []) + ["--" + spelling] + sample.arguments
                let options = try train(arguments).trainingOptions()
                XCTAssertEqual(option.text(options), sample.value, "train \(arguments.joined(separator: " "))")
            }
        }
    }

    /// A value outside an option's bound is refused by the parse (exit 64), naming the flag.
    func testValuesOutsideTheBoundsAreRefusedByName() {
        for (flag, value, text) in [("--lr", "0", "--lr must be a positive number, got 0.0"),
                                    ("--kl_weight", "-1", "--kl_weight must be non-negative, got -1.0"),
                                    ("--grad_clip", "-1", "--grad_clip must be ≥ 0, got -1.0"),
                                    ("--ema-decay", "1", "--ema_decay must lie in (0, 1), got 1.0"),
                                    ("--val_fraction", "1", "--val_fraction must lie in [0, 1), got 1.0"),
                                    ("--num_recon", "65", "--num_recon must be at least 0 and at most 64, got 65")] {
            do {
                _ = try VAEDist.parseAsRoot(["train", "--train_dir", "images", "\(flag)=\(value)"])
                XCTFail("\(flag) \(value) was accepted")
            } catch {
                XCTAssertEqual(VAEDist.exitCode(for: error).rawValue, 64, "\(flag) \(value)")
                XCTAssertEqual(VAEDist.message(for: error), text)
            }
        }
    }

    /// The help opens with the flags a run is mostly given, under their own heading; the generic OPTIONS heading
    /// keeps only --version and --help, last.
    func testTrainHelpShowsTheCoreFlagsFirstUnderTheirHeading() {
        for columns in [80, 120] {
            let help = VAEDist.helpMessage(for: Train.self, columns: columns)
            let headings = help.split(separator: "\n").filter { $0.hasSuffix(":") && $0.uppercased() == $0 && !$0.hasPrefix(" ") }
            XCTAssertEqual(headings, ["CORE OPTIONS:", "MODEL AND COMPUTE:", "RUN, CHECKPOINTS AND IMAGES:", "OPTIMIZATION:",
                                      "DATA, VALIDATION AND LOGGING:", "OPTIONS:"], "\(columns) columns")
            let core = help.components(separatedBy: "CORE OPTIONS:")[1].components(separatedBy: "MODEL AND COMPUTE:")[0]
            for flag in ["--train_dir", "--output_dir", "--batch_size", "--epochs", "--lr ", "--kl_weight", "--save_interval", "--resume"] {
                XCTAssertTrue(core.contains(flag), "\(flag) is a core flag at \(columns) columns")
            }
            let generic = help.components(separatedBy: "\nOPTIONS:")[1]
            XCTAssertEqual(generic.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("-") },
                           ["--version               Show the version.", "-h, --help              Show help information."])
        }
    }

    /// No help text holds a run of spaces inside a line of prose (a line continuation turned into spaces): a run
    /// is only allowed right after a line's first word, where a discussion lays out two columns.
    func testNoHelpTextHasARunOfSpacesInsideProse() throws {
        var dump = ""
        do { _ = try VAEDist.parseAsRoot(["--experimental-dump-help"]) } catch { dump = VAEDist.message(for: error) }
        var texts: [String] = []
        func collect(_ value: Any) {
            if let text = value as? String { texts.append(text) }
            (value as? [String: Any])?.values.forEach(collect)
            (value as? [Any])?.forEach(collect)
        }
        collect(try JSONSerialization.jsonObject(with: Data(dump.utf8)))
        XCTAssertGreaterThan(texts.count, 100)
        for text in texts {
            for line in text.split(separator: "\n") {
                let words = line.drop { $0 == " " }
                let rest = words.drop { $0 != " " }.drop { $0 == " " }
                XCTAssertFalse(rest.contains("  "), "a run of spaces in: '\(line)'")
            }
        }
        let bench = VAEDist.helpMessage(for: Bench.self, columns: 120)
        XCTAssertFalse(bench.contains("stored with the weights"), "bench takes no weights")
    }
}
