import ArgumentParser
import Foundation
@testable import Launcher
import XCTest

/// Every integer flag of every command, found from the commands' own definitions (ArgumentParser's dump of them,
/// each option's type told by which values it parses): at its lower and upper bound, one inside and one outside
/// each, and at values near 2^31, 2^32 and 2^63, parsing and validating ends with exit 0 (inside) or 64 (outside,
/// naming the flag), never a trap. The bounds are read from the refusal of the flag's extremes, so a new integer
/// flag is covered as soon as it is declared, and one without a stated upper bound fails here. In-process through
/// `VAEDist.parseAsRoot` (which runs every `validate()`): the whole grid takes well under a second.
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
        case "analyze": return ["--img1", "a.png", "--img2", "b.png", "--allow_random_weights"]
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

    /// Each command's options by their long names ("--batch_size"), from ArgumentParser's own dump of the commands.
    func optionsByCommand() throws -> [(command: String, flags: [String])] {
        var dump = ""
        do { _ = try VAEDist.parseAsRoot(["--experimental-dump-help"]) } catch { dump = VAEDist.message(for: error) }
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
        let tool = try XCTUnwrap(root["command"] as? [String: Any])
        let commands = try XCTUnwrap(tool["subcommands"] as? [[String: Any]]).filter { $0["commandName"] as? String != "help" }
        return commands.map { command in
            let arguments = command["arguments"] as? [[String: Any]] ?? []
            let flags = arguments.filter { $0["kind"] as? String == "option" }.compactMap { argument -> String? in
                let names = argument["names"] as? [[String: Any]] ?? []
                return names.first { $0["kind"] as? String == "long" }.flatMap { $0["name"] as? String }.map { "--" + $0 }
            }
            return (command["commandName"] as! String, flags)
        }
    }

    /// An option is an integer when it parses 7 but not 0.5; unsigned when it does not parse -1 either.
    func integerKind(_ prefix: [String], _ flag: String) -> (integer: Bool, unsigned: Bool) {
        func parses(_ value: String) -> Bool { !outcome(prefix + [flag, value]).message.contains("is invalid for") }
        guard parses("7") && !parses("0.5") else { return (false, false) }
        return (true, !parses("-1"))
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
        let edges: [String] = ["2147483647", "2147483648", "-2147483649", "4294967296", "9223372036854775807", "-9223372036854775808",
                               "9223372036854775808", "18446744073709551616", "4611686018427387904", "-1", "0"]
        var checked = 0, flagsSeen: [String] = []
        for (command, flags) in try optionsByCommand() {
            let prefix = try XCTUnwrap(base(command).map { [command] + $0 }, "\(command): give it base arguments in this test")
            XCTAssertEqual(outcome(prefix).status, 0, "\(command)'s base arguments validate: \(outcome(prefix).message)")
            for flag in flags {
                let kind = integerKind(prefix, flag)
                guard kind.integer else { continue }
                flagsSeen.append("\(command) \(flag)")
                func expect(_ value: String, _ status: Int32, _ why: String) {
                    let (got, message) = outcome(prefix + [flag, value])
                    XCTAssertEqual(got, status, "\(command) \(flag) \(value) (\(why)): \(message)")
                    if status == 64 && got == 64 {
                        XCTAssertTrue(message.contains(flag), "\(command) \(flag) \(value): the refusal names the flag: \(message)")
                    }
                    checked += 1
                }
                let top = outcome(prefix + [flag, kind.unsigned ? "18446744073709551615" : "9223372036854775807"])
                guard top.status != 0 else {
                    XCTAssertTrue(Self.unbounded.contains(flag), "\(command) \(flag) accepts the largest value of its type: state its bound (checkRange in validate())")
                    expect("18446744073709551616", 64, "beyond the type")
                    expect("-1", kind.unsigned ? 64 : 0, "negative")
                    continue
                }
                let upper = try XCTUnwrap(bound(in: top.message, upper: true), "\(command) \(flag): the refusal states the bound: \(top.message)")
                let bottom = outcome(prefix + [flag, kind.unsigned ? "0" : "-9223372036854775808"])
                let lower = bottom.status == 0 ? (kind.unsigned ? 0 : Int.min)
                    : try XCTUnwrap(bound(in: bottom.message, upper: false), "\(command) \(flag): the refusal states the lower bound: \(bottom.message)")
                let inside = Int(lower)...upper
                expect("\(upper)", 0, "the upper bound")
                expect("\(upper + 1)", 64, "above the upper bound")
                if upper - 1 >= lower { expect("\(upper - 1)", 0, "below the upper bound") }
                if lower > Int.min {
                    expect("\(lower)", 0, "the lower bound")
                    expect("\(lower - 1)", 64, "below the lower bound")
                    if lower + 1 <= upper { expect("\(lower + 1)", 0, "above the lower bound") }
                }
                for value in edges {
                    expect(value, Int(value).map(inside.contains) == true ? 0 : 64, "an edge")
                }
            }
        }
        print("integer flags: \(flagsSeen.count) (\(flagsSeen.joined(separator: ", "))), \(checked) values checked")
        // The flags the issue found trapping are among those found.
        for known in ["train --batch_size", "train --grad_accum", "train --epochs", "bench --steps", "make-pairs --dilate", "analyze-folder --bootstrap"] {
            XCTAssertTrue(flagsSeen.contains(known), known)
        }
    }
}
