import Foundation

/// How a checkpoint names the VAE's tensors.
public enum CheckpointNaming: Sendable, Equatable {
    /// ldm's `AutoencoderKL`: Stable Diffusion's checkpoints and vae-dist's own files.
    case ldm
    /// diffusers' `AutoencoderKL` (`down_blocks`, `resnets`, `to_q`, …).
    case diffusers
}

/// Top-level modules of an `AutoencoderKL`; keys under any other root (an ldm training file's `loss.*`,
/// a full SD checkpoint's UNet and text encoder) are not VAE weights.
private let vaeRoots: Set<String> = ["encoder", "decoder", "quant_conv", "post_quant_conv"]

/// Where a full Stable Diffusion checkpoint keeps its VAE.
private let stableDiffusionVAEPrefix = "first_stage_model."

/// Whether a tensor of some checkpoint can be a VAE weight (directly or inside a full SD checkpoint): readers
/// decode only these, so a multi-gigabyte SD file costs the VAE's share of memory.
public func isVAEKey(_ name: String) -> Bool {
    let name = name.hasPrefix(stableDiffusionVAEPrefix) ? name.dropFirst(stableDiffusionVAEPrefix.count) : Substring(name)
    return vaeRoots.contains { name.hasPrefix($0 + ".") }
}

/// The VAE tensors of a checkpoint under ldm names, the naming the file had, and whether they came from a full
/// Stable Diffusion checkpoint (`first_stage_model.*`).
public struct LDMTensors {
    public let tensors: [String: SafeTensors.Entry]
    public let naming: CheckpointNaming
    public let fromFullStableDiffusion: Bool

    /// "diffusers names", "ldm names", "ldm names under first_stage_model. (a full SD checkpoint)".
    public var namingDescription: String {
        switch naming {
        case .diffusers: return "diffusers names"
        case .ldm: return fromFullStableDiffusion ? "ldm names under first_stage_model. (a full SD checkpoint)" : "ldm names"
        }
    }
}

public func ldmTensors(from file: SafeTensors, path: String) throws -> LDMTensors {
    try ldmTensors(from: file.tensors, path: path)
}

/// The VAE tensors of `tensors` under ldm names, whatever the file's naming, with the naming it had.
/// A full SD checkpoint (keys `first_stage_model.*`) contributes only its VAE. diffusers' linear attention
/// weights [C, C] become ldm's 1×1 convolutions [C, C, 1, 1]. A diffusers key with no ldm counterpart keeps
/// its name, so that `matchParameters` reports it as unexpected.
public func ldmTensors(from tensors: [String: SafeTensors.Entry], path: String) throws -> LDMTensors {
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
    guard !vae.isEmpty else { throw noVAETensors(path: path, names: Array(tensors.keys)) }

    switch try detectNaming(vae.keys, path: path) {
    case .ldm:
        return LDMTensors(tensors: vae, naming: .ldm, fromFullStableDiffusion: isFullStableDiffusion)
    case .diffusers:
        return LDMTensors(tensors: try renameDiffusers(vae, path: path), naming: .diffusers,
                          fromFullStableDiffusion: isFullStableDiffusion)
    }
}

/// The error for a file without VAE weights (a UNet, a text encoder, …), with a sample of what it holds.
func noVAETensors(path: String, names: [String]) -> IOFailure {
    let sample = names.sorted().prefix(5).joined(separator: ", ")
    return IOFailure("\(path): no VAE tensors found: expected keys under encoder., decoder., quant_conv. and "
                     + "post_quant_conv. (or the same under first_stage_model.); the file has "
                     + "\(names.count) tensor\(names.count == 1 ? "" : "s")\(sample.isEmpty ? "" : ", e.g. \(sample)")")
}

/// diffusers and ldm share conv_in, conv_out and the quant convs, so only the block containers tell them apart;
/// a file with none of them is read as ldm, which names those shared tensors identically.
private func detectNaming(_ names: Dictionary<String, SafeTensors.Entry>.Keys, path: String) throws -> CheckpointNaming {
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
        throw IOFailure("\(path): mixes ldm names (e.g. \(ldmExample)) with diffusers names (e.g. \(diffusersExample)); "
                        + "a checkpoint must use one naming")
    }
    return diffusersExample == nil ? .ldm : .diffusers
}

private func renameDiffusers(_ tensors: [String: SafeTensors.Entry], path: String) throws -> [String: SafeTensors.Entry] {
    // diffusers numbers decoder levels from the lowest resolution, ldm from the highest: up_blocks.K = up[n-1-K].
    let encoderLevels = levelCount(tensors.keys, container: "encoder.down_blocks.")
    let decoderLevels = levelCount(tensors.keys, container: "decoder.up_blocks.")
    if let encoderLevels, let decoderLevels, encoderLevels != decoderLevels {
        throw IOFailure("\(path): the encoder has \(encoderLevels) down_blocks but the decoder \(decoderLevels) "
                        + "up_blocks; an AutoencoderKL has as many of each as ch_mult has entries")
    }
    let renamer = DiffusersRenamer(decoderLevels: decoderLevels ?? 0)
    var renamed: [String: SafeTensors.Entry] = [:]
    var sourceOf: [String: String] = [:]
    for name in tensors.keys.sorted() {
        let entry = tensors[name]!
        let (ldmName, isAttentionProjection) = renamer.ldmName(name) ?? (name, false)
        if let earlier = sourceOf[ldmName] {
            throw IOFailure("\(path): \(earlier) and \(name) both stand for \(ldmName); keep only one of them")
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

/// diffusers `AutoencoderKL` names → ldm names.
private struct DiffusersRenamer {
    let decoderLevels: Int

    /// The ldm name, and whether it is an attention q/k/v/proj_out weight (linear in diffusers); nil if unknown.
    func ldmName(_ name: String) -> (String, Bool)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let root = parts.first else { return nil }
        guard root == "encoder" || root == "decoder" else { return (name, false) }
        guard let (body, inAttention) = module(root: root, Array(parts.dropFirst())) else { return nil }
        let projections: Set<String> = ["q", "k", "v", "proj_out"]
        let isProjectionWeight = inAttention && body.count >= 2 && projections.contains(body[body.count - 2])
            && body.last == "weight"
        return (([root] + body).joined(separator: "."), isProjectionWeight)
    }

    /// Renames the part after `encoder.`/`decoder.`; the flag says it lies inside an attention block.
    private func module(root: String, _ p: [String]) -> ([String], Bool)? {
        guard let head = p.first else { return nil }
        switch head {
        case "conv_in", "conv_out":
            return (p, false)
        case "conv_norm_out":
            return (["norm_out"] + p.dropFirst(), false)
        case "mid_block":
            guard p.count > 3, let i = index(p[2]) else { return nil }
            if p[1] == "resnets", i < 2, let tail = resnet(Array(p[3...])) {
                return (["mid", "block_\(i + 1)"] + tail, false)
            }
            if p[1] == "attentions", i == 0, let tail = attention(Array(p[3...])) {
                return (["mid", "attn_1"] + tail, true)
            }
            return nil
        case "down_blocks" where root == "encoder":
            guard p.count > 2, let level = index(p[1]) else { return nil }
            return levelModule(["down", String(level)], Array(p[2...]), resampler: ("downsamplers", "downsample"))
        case "up_blocks" where root == "decoder":
            guard p.count > 2, let k = index(p[1]), k < decoderLevels else { return nil }
            return levelModule(["up", String(decoderLevels - 1 - k)], Array(p[2...]), resampler: ("upsamplers", "upsample"))
        default:
            return nil
        }
    }

    /// `resnets.J`, `attentions.J` or `<resampler>.0` within one level.
    private func levelModule(_ level: [String], _ p: [String], resampler: (diffusers: String, ldm: String)) -> ([String], Bool)? {
        guard p.count > 2, let j = index(p[1]) else { return nil }
        let tail = Array(p[2...])
        switch p[0] {
        case "resnets":
            return resnet(tail).map { (level + ["block", String(j)] + $0, false) }
        case "attentions":
            return attention(tail).map { (level + ["attn", String(j)] + $0, true) }
        case resampler.diffusers where j == 0 && tail.first == "conv":
            return (level + [resampler.ldm] + tail, false)
        default:
            return nil
        }
    }

    private func resnet(_ p: [String]) -> [String]? {
        guard let head = p.first else { return nil }
        switch head {
        case "norm1", "conv1", "norm2", "conv2": return p
        case "conv_shortcut": return ["nin_shortcut"] + p.dropFirst()
        default: return nil
        }
    }

    /// Current diffusers (`to_q`, `to_out.0`) and diffusers before 0.14 (`query`, `proj_attn`).
    private func attention(_ p: [String]) -> [String]? {
        guard let head = p.first else { return nil }
        let renamed: [String: String] = ["group_norm": "norm", "to_q": "q", "query": "q", "to_k": "k", "key": "k",
                                         "to_v": "v", "value": "v", "proj_attn": "proj_out"]
        if head == "to_out" {
            guard p.count > 1, p[1] == "0" else { return nil }
            return ["proj_out"] + p.dropFirst(2)
        }
        return renamed[head].map { [$0] + p.dropFirst() }
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
    let unexpected = loaded.filter { !expectedNames.contains($0.key) }.map { "\($0.key) \($0.value.shape)" }
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
        throw IOFailure(message)
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
