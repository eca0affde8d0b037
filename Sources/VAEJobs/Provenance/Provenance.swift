import Foundation
import VAEFormats

/// How a result was made, as a methods section and a reviewer's rerun need it: written as `provenance` into every
/// JSON file vae-dist writes (analysis summaries and aggregates, training history, checkpoint metadata, bench).
/// The launcher fills in the build, command line, job shape and machine (`init`); the model is added once it is
/// decided (`model(_:weightsSHA256:)`); `ended` is stamped when each file is written (`json(ended:)`), so a file
/// written mid-run (a checkpoint) says when.
public struct Provenance: Decodable, Equatable, Sendable {
    /// vae-dist's version and the git commit it was built from ("unknown" outside a git checkout; "-modified" when
    /// the checkout had uncommitted changes).
    public var version: String
    public var commit: String
    /// The command as given (argv).
    public var commandLine: [String]
    public var ranks: Int
    public var threadsPerRank: Int
    /// The CPU model (rank 0's).
    public var cpu: String
    /// The convolutions' kernels (`TransformKernels`) and the OpenBLAS core (`BLASCore`) that ran.
    public var kernels: String
    public var blasCore: String
    /// The weights file and its SHA-256 (nil without weights).
    public var weights: String?
    public var weightsSHA256: String?
    /// Where the model config came from (`ModelSource.ConfigOrigin`); nil when no model is involved.
    public var configSource: String?
    /// UTC, ISO 8601.
    public var started: String
    public var ended: String?

    enum CodingKeys: String, CodingKey {
        case version, commit, commandLine = "command_line", ranks, threadsPerRank = "threads_per_rank", cpu, kernels
        case blasCore = "blas_core", weights, weightsSHA256 = "weights_sha256", configSource = "config_source", started, ended
    }

    public init(version: String, commit: String, commandLine: [String], ranks: Int, threadsPerRank: Int, cpu: String,
                kernels: String, blasCore: String, started: Date) {
        (self.version, self.commit, self.commandLine, self.ranks, self.threadsPerRank) = (version, commit, commandLine, ranks, threadsPerRank)
        (self.cpu, self.kernels, self.blasCore, self.started) = (cpu, kernels, blasCore, Self.timestamp(started))
    }

    /// With the model the job uses: its weights file (and `weightsSHA256`, computed where the file was read) and
    /// where its config came from.
    public func model(_ source: ModelSource, weightsSHA256: String?) -> Provenance {
        var copy = self
        copy.weights = source.weights?.path
        copy.weightsSHA256 = weightsSHA256
        copy.configSource = source.configOrigin.description
        return copy
    }

    /// With weights the job read itself (a checkpoint resumed from) and its config's origin.
    public func weights(_ path: String, sha256: String, configSource: String) -> Provenance {
        var copy = self
        (copy.weights, copy.weightsSHA256, copy.configSource) = (path, sha256, configSource)
        return copy
    }

    /// The record as written into a file at `ended`.
    public func json(ended: Date = Date()) -> JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        return .object([
            ("version", .string(version)), ("commit", .string(commit)),
            ("command_line", .array(commandLine.map(JSONValue.string))),
            ("ranks", .integer(ranks)), ("threads_per_rank", .integer(threadsPerRank)), ("cpu", .string(cpu)),
            ("kernels", .string(kernels)), ("blas_core", .string(blasCore)),
            ("weights", text(weights)), ("weights_sha256", text(weightsSHA256)), ("config_source", text(configSource)),
            ("started", .string(started)), ("ended", .string(Self.timestamp(ended))),
        ])
    }

    /// The command line as a shell would take it back: arguments with spaces or special characters single-quoted.
    public var shellCommand: String {
        commandLine.map { argument in
            let plain = !argument.isEmpty && argument.unicodeScalars.allSatisfy {
                CharacterSet.alphanumerics.contains($0) || "-_./=:,+@%".unicodeScalars.contains($0)
            }
            return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    /// UTC to the second, ISO 8601: 2026-12-06T07:10:44Z.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
