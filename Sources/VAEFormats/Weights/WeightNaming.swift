import Foundation
import VAECore

/// How a checkpoint names the VAE's tensors.
public enum WeightNaming: Sendable, Equatable {
    /// ldm's `AutoencoderKL`: Stable Diffusion's checkpoints and vae-dist's own files.
    case ldm
    /// diffusers' `AutoencoderKL` (`down_blocks`, `resnets`, `to_q`, …).
    case diffusers
}

/// Top-level modules of an `AutoencoderKL`; keys under any other root (an ldm training file's `loss.*`,
/// a full SD checkpoint's UNet and text encoder) are not VAE weights.
let vaeRoots: Set<String> = ["encoder", "decoder", "quant_conv", "post_quant_conv"]

/// Where a full Stable Diffusion checkpoint keeps its VAE.
private let stableDiffusionVAEPrefix = "first_stage_model."

/// Whether a tensor of some checkpoint can be a VAE weight (directly or inside a full SD checkpoint): readers
/// decode only these, so a multi-gigabyte SD file costs the VAE's share of memory.
public func isVAEKey(_ name: String) -> Bool {
    let name = name.hasPrefix(stableDiffusionVAEPrefix) ? name.dropFirst(stableDiffusionVAEPrefix.count) : Substring(name)
    return vaeRoots.contains { name.hasPrefix($0 + ".") }
}

/// Whether a tensor can be a VAE weight as it is or behind a wrapper prefix (`WrapperPrefix`: `module.`, `vae.`, …):
/// what readers decode.
public func mayBeVAEKey(_ name: String) -> Bool {
    isVAEKey(name) || WrapperPrefix.split(name) != nil
}

/// The VAE tensors of a checkpoint under ldm names, the naming the file had, whether they came from a full
/// Stable Diffusion checkpoint (`first_stage_model.*`), and the wrapper prefix removed from their names, if any.
public struct LDMTensors {
    public let tensors: [String: SafeTensors.Entry]
    public let naming: WeightNaming
    public let fromFullStableDiffusion: Bool
    /// "module.", "vae.", "model._orig_mod.", … (`WrapperPrefix`); nil when the names were used as they are.
    public var strippedPrefix: String? = nil

    /// "diffusers names", "ldm names", "ldm names under first_stage_model. (a full SD checkpoint)",
    /// "ldm names, prefix module. stripped".
    public var namingDescription: String {
        var text: String
        switch naming {
        case .diffusers: text = "diffusers names"
        case .ldm: text = fromFullStableDiffusion ? "ldm names under first_stage_model. (a full SD checkpoint)" : "ldm names"
        }
        if let strippedPrefix { text += ", prefix \(printable(strippedPrefix)) stripped" }
        return text
    }
}

public func ldmTensors(from file: SafeTensors, path: String) throws -> LDMTensors {
    try ldmTensors(from: file.tensors, path: path)
}

/// The VAE tensors of `tensors` under ldm names, whatever the file's naming, with the naming it had.
/// A full SD checkpoint (keys `first_stage_model.*`) contributes only its VAE. diffusers' linear attention
/// weights [C, C] become ldm's 1×1 convolutions [C, C, 1, 1]. A diffusers key with no ldm counterpart keeps
/// its name, so that `matchParameters` reports it as unexpected.
/// Without VAE keys as they are, the names may sit behind a wrapper (`WrapperPrefix`: `module.`, `vae.`, …): given
/// the model's parameter names (`expected`), the prefix is stripped when, and only when, that leaves every one of
/// them; otherwise the file is refused as holding no VAE tensors.
public func ldmTensors(from tensors: [String: SafeTensors.Entry], path: String, expected: Set<String>? = nil,
                       modelDescription: String = "") throws -> LDMTensors {
    let isFullStableDiffusion = tensors.keys.contains { $0.hasPrefix(stableDiffusionVAEPrefix) }
    var vae: [String: SafeTensors.Entry] = [:]
    for (name, entry) in tensors {
        var name = name
        if isFullStableDiffusion {
            guard name.hasPrefix(stableDiffusionVAEPrefix) else { continue }
            name.removeFirst(stableDiffusionVAEPrefix.count)
        }
        guard isVAEKey(name) else { continue }
        vae[name] = entry
    }
    guard !vae.isEmpty else {
        return try WrapperPrefix.unwrap(tensors, path: path, expected: expected, modelDescription: modelDescription) {
            try ldmTensors(fromVAE: $0, path: path)
        }
    }
    return try ldmTensors(fromVAE: vae, path: path, fromFullStableDiffusion: isFullStableDiffusion)
}

/// `vae` (only VAE keys) under ldm names, with the naming it had.
private func ldmTensors(fromVAE vae: [String: SafeTensors.Entry], path: String, fromFullStableDiffusion isFullStableDiffusion: Bool = false) throws -> LDMTensors {
    switch try detectNaming(vae.keys, path: path) {
    case .ldm:
        return LDMTensors(tensors: vae, naming: .ldm, fromFullStableDiffusion: isFullStableDiffusion)
    case .diffusers:
        return LDMTensors(tensors: try renameDiffusers(vae, path: path), naming: .diffusers,
                          fromFullStableDiffusion: isFullStableDiffusion)
    }
}

/// The error for a file without VAE weights (a UNet, a text encoder, …), with a sample of what it holds.
func noVAETensors(path: String, names: [String], note: String? = nil) -> VAEDistError {
    let sample = names.sorted().prefix(5).map(printable).joined(separator: ", ")
    return VAEDistError("\(path): no VAE tensors found: expected keys under encoder., decoder., quant_conv. and "
                     + "post_quant_conv. (or the same under first_stage_model.); the file has "
                     + "\(names.count) tensor\(names.count == 1 ? "" : "s")\(sample.isEmpty ? "" : ", e.g. \(sample)")"
                     + (note.map { "; \($0)" } ?? ""))
}

/// diffusers and ldm share conv_in, conv_out and the quant convs, so only the block containers tell them apart;
/// a file with none of them is read as ldm, which names those shared tensors identically.
private func detectNaming(_ names: Dictionary<String, SafeTensors.Entry>.Keys, path: String) throws -> WeightNaming {
    let diffusersContainers: Set<String> = ["down_blocks", "up_blocks", "mid_block", "conv_norm_out"]
    let ldmContainers: Set<String> = ["down", "up", "mid", "norm_out"]
    var diffusersExample: String?, ldmExample: String?
    for name in names.sorted() {
        let parts = name.split(separator: ".")
        guard parts.count > 1 else { continue }
        let container = String(parts[1])
        if diffusersContainers.contains(container) { diffusersExample = diffusersExample ?? name }
        if ldmContainers.contains(container) { ldmExample = ldmExample ?? name }
    }
    if let ldmExample, let diffusersExample {
        throw VAEDistError("\(path): mixes ldm names (e.g. \(printable(ldmExample))) with diffusers names (e.g. \(printable(diffusersExample))); "
                        + "a checkpoint must use one naming")
    }
    return diffusersExample == nil ? .ldm : .diffusers
}

private func renameDiffusers(_ tensors: [String: SafeTensors.Entry], path: String) throws -> [String: SafeTensors.Entry] {
    // diffusers numbers decoder levels from the lowest resolution, ldm from the highest: up_blocks.K = up[n-1-K].
    let encoderLevels = levelCount(tensors.keys, container: "encoder.down_blocks.")
    let decoderLevels = levelCount(tensors.keys, container: "decoder.up_blocks.")
    if let encoderLevels, let decoderLevels, encoderLevels != decoderLevels {
        throw VAEDistError("\(path): the encoder has \(encoderLevels) down_blocks but the decoder \(decoderLevels) "
                        + "up_blocks; an AutoencoderKL has as many of each as ch_mult has entries")
    }
    let renamer = DiffusersRenamer(decoderLevels: decoderLevels ?? 0)
    var renamed: [String: SafeTensors.Entry] = [:]
    var sourceOf: [String: String] = [:]
    for name in tensors.keys.sorted() {
        let entry = tensors[name]!
        let (ldmName, isAttentionProjection) = renamer.ldmName(name) ?? (name, false)
        if let earlier = sourceOf[ldmName] {
            throw VAEDistError("\(path): \(printable(earlier)) and \(printable(name)) both stand for \(printable(ldmName)); keep only one of them")
        }
        sourceOf[ldmName] = name
        if isAttentionProjection && entry.shape.count == 2 {
            renamed[ldmName] = SafeTensors.Entry(shape: entry.shape + [1, 1], values: entry.values)
        } else {
            renamed[ldmName] = entry
        }
    }
    return renamed
}

/// 1 + the highest K among keys `<container>K.…`, nil when there are none.
private func levelCount(_ names: Dictionary<String, SafeTensors.Entry>.Keys, container: String) -> Int? {
    let levels = names.compactMap { name -> Int? in
        guard name.hasPrefix(container) else { return nil }
        return index(name.dropFirst(container.count).prefix { $0 != "." })
    }
    return levels.max().map { $0 + 1 }
}

private func index<S: StringProtocol>(_ text: S) -> Int? {
    guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return Int(text)
}

/// diffusers `AutoencoderKL` names ⇄ ldm names. One table serves loading (diffusers → ldm) and export
/// (ldm → diffusers): each rule pairs a run of name components on both sides, "#" standing for a block index.
struct DiffusersRenamer {
    /// diffusers numbers decoder levels from the lowest resolution, ldm from the highest: up_blocks.K = up[n-1-K].
    let decoderLevels: Int

    private enum Side { case diffusers, ldm }

    /// The ldm name, and whether it is an attention q/k/v/proj_out weight (linear in diffusers); nil if unknown.
    func ldmName(_ name: String) -> (String, Bool)? { rename(name, from: .diffusers) }

    /// The current diffusers name, and whether it is an attention weight diffusers keeps linear ([C, C] rather
    /// than ldm's [C, C, 1, 1]); nil if ldm has no such tensor.
    func diffusersName(_ name: String) -> (String, Bool)? { rename(name, from: .ldm) }

    private func rename(_ name: String, from side: Side) -> (String, Bool)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let root = parts.first else { return nil }
        let scope: Scope
        switch root {
        case "encoder": scope = .encoder
        case "decoder": scope = .decoder
        default: return (name, false)  // quant_conv and post_quant_conv are named alike
        }
        return translate(parts.dropFirst(), from: side, in: scope).map { (([root] + $0.parts).joined(separator: "."), $0.isLinear) }
    }

    /// Where in a name a rule applies: what the components before it have opened.
    private enum Scope: Hashable { case encoder, decoder, encoderLevel, decoderLevel, resnet, attention, projection, leaf }

    private enum IndexMap { case same, reversedDecoderLevel }

    private struct Rule {
        let diffusers: [String], ldm: [String], next: Scope
        var index = IndexMap.same
        /// diffusers before 0.14 (`query`, `proj_attn`): read, never written.
        var readOnly = false
    }

    private static let rules: [Scope: [Rule]] = {
        let body = [
            Rule(diffusers: ["conv_in"], ldm: ["conv_in"], next: .leaf),
            Rule(diffusers: ["conv_out"], ldm: ["conv_out"], next: .leaf),
            Rule(diffusers: ["conv_norm_out"], ldm: ["norm_out"], next: .leaf),
            Rule(diffusers: ["mid_block", "resnets", "0"], ldm: ["mid", "block_1"], next: .resnet),
            Rule(diffusers: ["mid_block", "resnets", "1"], ldm: ["mid", "block_2"], next: .resnet),
            Rule(diffusers: ["mid_block", "attentions", "0"], ldm: ["mid", "attn_1"], next: .attention),
        ]
        let level = [
            Rule(diffusers: ["resnets", "#"], ldm: ["block", "#"], next: .resnet),
            Rule(diffusers: ["attentions", "#"], ldm: ["attn", "#"], next: .attention),
        ]
        let attention = [("to_q", "q"), ("to_k", "k"), ("to_v", "v")].map {
            Rule(diffusers: [$0.0], ldm: [$0.1], next: .projection)
        } + [("query", "q"), ("key", "k"), ("value", "v"), ("proj_attn", "proj_out")].map {
            Rule(diffusers: [$0.0], ldm: [$0.1], next: .projection, readOnly: true)
        }
        return [
            .encoder: body + [Rule(diffusers: ["down_blocks", "#"], ldm: ["down", "#"], next: .encoderLevel)],
            .decoder: body + [Rule(diffusers: ["up_blocks", "#"], ldm: ["up", "#"], next: .decoderLevel,
                                   index: .reversedDecoderLevel)],
            .encoderLevel: level + [Rule(diffusers: ["downsamplers", "0", "conv"], ldm: ["downsample", "conv"], next: .leaf)],
            .decoderLevel: level + [Rule(diffusers: ["upsamplers", "0", "conv"], ldm: ["upsample", "conv"], next: .leaf)],
            .resnet: ["norm1", "conv1", "norm2", "conv2"].map { Rule(diffusers: [$0], ldm: [$0], next: .leaf) }
                + [Rule(diffusers: ["conv_shortcut"], ldm: ["nin_shortcut"], next: .leaf)],
            .attention: [Rule(diffusers: ["group_norm"], ldm: ["norm"], next: .leaf),
                         Rule(diffusers: ["to_out", "0"], ldm: ["proj_out"], next: .projection)] + attention,
        ]
    }()

    /// `parts` renamed to the other side by the first rule of `scope` that matches, recursively; a rule needs at
    /// least one component after its own (the parameter name at the end).
    private func translate(_ parts: ArraySlice<String>, from side: Side, in scope: Scope) -> (parts: [String], isLinear: Bool)? {
        switch scope {
        case .leaf: return (Array(parts), false)
        case .projection: return (Array(parts), parts.elementsEqual(["weight"]))
        default: break
        }
        for rule in Self.rules[scope] ?? [] where side == .diffusers || !rule.readOnly {
            let (pattern, replacement) = side == .diffusers ? (rule.diffusers, rule.ldm) : (rule.ldm, rule.diffusers)
            guard parts.count > pattern.count else { continue }
            var blockIndex: Int?
            let matches = zip(pattern, parts).allSatisfy { expected, part in
                guard expected == "#" else { return expected == part }
                blockIndex = index(part)
                return blockIndex != nil
            }
            guard matches else { continue }
            var indexText = ""
            if let i = blockIndex {
                switch rule.index {
                case .same: indexText = String(i)
                case .reversedDecoderLevel:
                    guard i < decoderLevels else { return nil }
                    indexText = String(decoderLevels - 1 - i)
                }
            }
            let head = replacement.map { $0 == "#" ? indexText : $0 }
            return translate(parts.dropFirst(pattern.count), from: side, in: rule.next).map { (head + $0.parts, $0.isLinear) }
        }
        return nil
    }
}

/// The values of every expected parameter, after checking that `loaded` holds exactly the expected tensors
/// with the expected shapes. Otherwise throws one error listing every missing key, unexpected key and shape
/// mismatch, naming the file and the model's config.
public func matchParameters(expected: [(name: String, shape: [Int])], loaded: [String: SafeTensors.Entry],
                            path: String, configDescription: String) throws -> [String: [Float]] {
    var missing: [String] = [], mismatched: [String] = []
    var values: [String: [Float]] = [:]
    var expectedNames = Set<String>()
    for (name, shape) in expected {
        expectedNames.insert(name)
        guard let entry = loaded[name] else {
            missing.append("\(name) \(shape)")
            continue
        }
        guard entry.shape == shape else {
            mismatched.append("\(name): expected \(shape), found \(entry.shape)")
            continue
        }
        values[name] = entry.values
    }
    let unexpected = loaded.filter { !expectedNames.contains($0.key) }.map { "\(printable($0.key)) \($0.value.shape)" }
    guard missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty else {
        var counts: [String] = []
        if !missing.isEmpty { counts.append("\(missing.count) missing") }
        if !unexpected.isEmpty { counts.append("\(unexpected.count) unexpected") }
        if !mismatched.isEmpty { counts.append("\(mismatched.count) with another shape") }
        var message = "\(path): the checkpoint does not fit the model (\(configDescription)): "
            + counts.joined(separator: ", ")
        message += section("missing (shape the model expects)", missing)
        message += section("unexpected (shape in the file)", unexpected)
        message += section("shape mismatch", mismatched)
        throw VAEDistError(message)
    }
    return values
}

/// The first 20 lines sorted, then how many were left out: enough to see the pattern of a wrong config.
private func section(_ title: String, _ lines: [String]) -> String {
    guard !lines.isEmpty else { return "" }
    let shownLimit = 20
    let sorted = lines.sorted()
    var text = "\n  \(title):" + sorted.prefix(shownLimit).map { "\n    " + $0 }.joined()
    if sorted.count > shownLimit { text += "\n    … and \(sorted.count - shownLimit) more" }
    return text
}
