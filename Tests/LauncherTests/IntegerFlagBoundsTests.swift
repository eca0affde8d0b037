import Foundation
@testable import Launcher
import XCTest

/// Every integer flag of every command, found from the commands' own definitions (ArgumentParser's dump of them,
/// each option's type told by which values it parses): at its lower and upper bound, one inside and one outside
/// each, and at values past 2^31 and 2^63, parsing and validating ends with exit 0 (inside) or 64 (outside, naming the
/// flag), never a trap. The bounds are read from the refusal of the flag's extremes, so a new integer flag is
/// covered as soon as it is declared, and one without a stated upper bound fails here. In-process through
/// `VAEDist.parseAsRoot`, which runs every `validate()`.
final class IntegerFlagBoundsTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "flag-bounds-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Arguments with which each command validates, before the flag under test is added. A new command needs a line.
    func base(_ command: String) -> [String]? {
        switch command {
        case "train": return ["--train_dir", dir, "--output_dir", "\(dir!)/run"]
        // --mode folder: the folder's flags (--bootstrap_samples, --permutations) are refused for one pair.
        case "analyze": return ["--mode", "folder", "--folder", dir, "--allow_random_weights"]
        case "analyze-folder": return ["--folder", dir, "--allow_random_weights"]
        case "reconstruct": return ["--checkpoint", "w.safetensors", "--output", "\(dir!)/out", "x.png"]
        case "export": return ["--checkpoint", "w.safetensors", "--format", "ldm", "--output", "\(dir!)/e.safetensors"]
        case "synth-data": return ["--output", "\(dir!)/synth"]
        case "make-pairs": return ["--images", dir, "--output", "\(dir!)/pairs"]
        case "bench": return []
        default: return nil
        }
    }

    /// Flags that take every value of their type: seeds (any UInt64 is only hashed).
    static let unbounded: Set<String> = ["--seed"]

    /// The exit status and message of parsing and validating `arguments`.
    func outcome(_ arguments: [String]) -> (status: Int32, message: String) {
        do {
            _ = try VAEDist.parseAsRoot(arguments)
            return (0, "")
        } catch {
            return (VAEDist.exitCode(for: error).rawValue, VAEDist.message(for: error))
        }
    }

    /// Each command's options by their long names ("--batch_size") with their default as text, from ArgumentParser's
    /// own dump of the commands.
    func optionsByCommand() throws -> [(command: String, options: [(flag: String, defaultValue: String?)])] {
        var dump = ""
        do { _ = try VAEDist.parseAsRoot(["--experimental-dump-help"]) } catch { dump = VAEDist.message(for: error) }
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
        let tool = try XCTUnwrap(root["command"] as? [String: Any])
        let commands = try XCTUnwrap(tool["subcommands"] as? [[String: Any]]).filter { $0["commandName"] as? String != "help" }
        return commands.map { command in
            let arguments = command["arguments"] as? [[String: Any]] ?? []
            let options = arguments.filter { $0["kind"] as? String == "option" }.compactMap { argument -> (String, String?)? in
                let names = argument["names"] as? [[String: Any]] ?? []
                guard let long = names.first(where: { $0["kind"] as? String == "long" })?["name"] as? String else { return nil }
                return ("--" + long, argument["defaultValue"] as? String)
            }
            return (command["commandName"] as! String, options)
        }
    }

    /// An option is an integer when it parses 7 but not 0.5 (values as `--flag=value`, so that a negative one is
    /// not taken for a flag). Parsing is slow in debug builds: an option whose default is not an integer is not probed.
    func isInteger(_ prefix: [String], _ option: (flag: String, defaultValue: String?)) -> Bool {
        if let value = option.defaultValue, Int(value) == nil && UInt64(value) == nil { return false }
        func parses(_ value: String) -> Bool { !outcome(prefix + ["\(option.flag)=\(value)"]).message.contains("is invalid for") }
        return !parses("0.5") && parses("7")
    }

    /// The bound a refusal states: "at most 65536", "at least 1", "0 or more", "between 1 and 32768".
    func bound(in message: String, upper: Bool) -> Int? {
        let patterns = upper ? [#"at most (-?\d+)"#, #"between -?\d+ and (-?\d+)"#]
                             : [#"at least (-?\d+)"#, #"(-?\d+) or more"#, #"between (-?\d+) and"#]
        for pattern in patterns {
            let regex = try! NSRegularExpression(pattern: pattern)
            guard let match = regex.firstMatch(in: message, range: NSRange(message.startIndex..., in: message)),
                  let range = Range(match.range(at: 1), in: message) else { continue }
            return Int(message[range])
        }
        return nil
    }

    func testEveryIntegerFlagAtAndAroundItsBoundsExitsZeroOr64() throws {
        var checked = 0, flagsSeen: [String] = []
        var upperRows: [String: [String]] = [:]
        for (command, options) in try optionsByCommand() {
            let prefix = try XCTUnwrap(base(command).map { [command] + $0 }, "\(command): give it base arguments in this test")
            XCTAssertEqual(outcome(prefix).status, 0, "\(command)'s base arguments validate: \(outcome(prefix).message)")
            func expect(_ values: [(flag: String, value: String)], _ status: Int32, _ why: String) {
                let (got, message) = outcome(prefix + values.map { "\($0.flag)=\($0.value)" })
                XCTAssertEqual(got, status, "\(command) \(values) (\(why)): \(message)")
                if status == 64, got == 64, let flag = values.first?.flag {
                    XCTAssertTrue(message.contains(flag), "\(command) \(values): the refusal names the flag: \(message)")
                }
                checked += 1
            }
            // Values inside every bound are checked together (one parse per row), those outside one flag at a time.
            var atUpper: [(String, String)] = [], belowUpper: [(String, String)] = [], atLower: [(String, String)] = []
            for option in options where isInteger(prefix, option) {
                let flag = option.flag
                flagsSeen.append("\(command) \(flag)")
                let top = outcome(prefix + ["\(flag)=9223372036854775807"])
                guard top.status != 0 else {
                    XCTAssertTrue(Self.unbounded.contains(flag), "\(command) \(flag) accepts 2^63-1: state its bound (checkRange in validate())")
                    expect([(flag, "18446744073709551616")], 64, "beyond 64 bits")
                    continue
                }
                let upper = try XCTUnwrap(bound(in: top.message, upper: true), "\(command) \(flag): the refusal states the bound: \(top.message)")
                // "at least L and at most U" states both; otherwise the lowest value's refusal states the lower one.
                let lower = try XCTUnwrap(bound(in: top.message, upper: false) ?? bound(in: outcome(prefix + ["\(flag)=-9223372036854775808"]).message, upper: false),
                                          "\(command) \(flag): a refusal states the lower bound")
                XCTAssertLessThan(lower, upper, "\(command) \(flag)")
                atUpper.append((flag, "\(upper)"))
                belowUpper.append((flag, "\(upper - 1)"))
                atLower.append((flag, "\(lower)"))
                expect([(flag, "\(upper + 1)")], 64, "above the upper bound")
                expect([(flag, "\(lower - 1)")], 64, "below the lower bound")
                for edge in ["2147483648", "9223372036854775808"] where !(lower...upper).contains(Int(edge) ?? Int.max) {
                    expect([(flag, edge)], 64, "an edge of 32 or 64 bits")
                }
            }
            for (row, why) in [(atUpper, "every flag at its upper bound"), (belowUpper, "every flag one below it"),
                               (atLower, "every flag at its lower bound")] where !row.isEmpty {
                expect(row, 0, why)
            }
            upperRows[command] = atUpper.map { "\($0.0)=\($0.1)" }
        }
        try runAtUpperBounds(upperRows)
        print("integer flags: \(flagsSeen.count) (\(flagsSeen.joined(separator: ", "))), \(checked) parses checked")
        // The flags the issue found trapping are among those found.
        for known in ["train --batch_size", "train --grad_accum", "train --epochs", "bench --steps", "make-pairs --dilate", "analyze-folder --bootstrap_samples"] {
            XCTAssertTrue(flagsSeen.contains(known), known)
        }
    }

    /// Past validation: the binary itself, every integer flag of a command at its upper bound at once, on real inputs.
    /// Each run ends by itself at once (the memory estimate refuses such sizes before anything is decoded, with exit
    /// 1 and its message) and never by a signal. synth-data is left out: at its bounds it would write a million
    /// 4096-pixel images, and its sizes are checked by `PhantomOptions` (HostileInputTests).
    func runAtUpperBounds(_ rows: [String: [String]]) throws {
        let inputs = try temporaryDirectory("flag-bounds-inputs")
        defer { try? FileManager.default.removeItem(atPath: inputs) }
        let made = try VAEDistBinary.run(["synth-data", "--output", inputs, "--count", "2", "--pairs", "2", "--img_size", "32"])
        XCTAssertEqual(made.status, 0, made.output)
        let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml"), weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")
        let image = "\(inputs)/train/case_0001.png"
        let runnable: [String: [String]] = [
            "train": ["--train_dir", "\(inputs)/train", "--output_dir", "\(dir!)/run", "--config", config],
            "bench": ["--config", config],
            "analyze": ["--mode", "folder", "--folder", "\(inputs)/pairs", "--checkpoint", weights, "--output", "\(dir!)/a"],
            "analyze-folder": ["--folder", "\(inputs)/pairs", "--checkpoint", weights, "--output", "\(dir!)/af"],
            "reconstruct": ["--checkpoint", weights, "--output", "\(dir!)/r", image],
            "make-pairs": ["--images", "\(inputs)/pairs/positive", "--masks", "\(inputs)/pairs/masks", "--output", "\(dir!)/mp"],
        ]
        for (command, row) in rows.sorted(by: { $0.key < $1.key }) where !row.isEmpty && command != "synth-data" {
            let arguments = try XCTUnwrap(runnable[command], "\(command): give it real inputs in this test")
            let result = try VAEDistBinary.run([command] + arguments + row)
            XCTAssertTrue([0, 1, 64].contains(result.status), "\(command) \(row): ended with status \(result.status) (a signal?): \(result.output)")
            if result.status != 0 { XCTAssertTrue(result.stderr.contains("Error: ") || result.stderr.contains("Error:"), result.output) }
        }
    }
}
