import Foundation
import VAECore

/// What `vae-dist export` writes: weights alone (no optimizer state, no training metadata), named for the tool
/// that loads them.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// A folder with `config.json` and `diffusion_pytorch_model.safetensors`, for `AutoencoderKL.from_pretrained`.
    case diffusers
    /// One safetensors file with ldm names, for ldm's `AutoencoderKL.load_state_dict(strict=True)`.
    case ldm
    /// The ldm weights under `first_stage_model.`, as a Stable Diffusion checkpoint holds its VAE.
    case sd

    /// ldm's AutoencoderKL fixes 32 groups: other weights would load into it without error and reconstruct garbage.
    static let ldmGroups = 32

    /// Why this format cannot hold `config`, nil when it can.
    public func problem(with config: VAEConfig) -> String? {
        switch self {
        case .diffusers:
            return diffusersProblem(with: config)
        case .ldm, .sd:
            guard config.normNumGroups == Self.ldmGroups else {
                return "ldm's AutoencoderKL always uses \(Self.ldmGroups) GroupNorm groups, but this model has "
                    + "norm_num_groups \(config.normNumGroups): its weights would load there without error and "
                    + "reconstruct garbage; export it with --format diffusers (its config.json carries norm_num_groups)"
            }
            return nil
        }
    }
}

/// Tensor files written for PyTorch carry safetensors' usual "format: pt" (transformers warns without it).
private let torchMetadata = ["format": "pt"]

/// Writes `model` to `path` in `format`. An existing `path` is refused unless `overwrite`; the file, or the
/// whole diffusers folder, appears at once (temporary beside it, then renamed), so a failure leaves no half output.
public func export(_ model: AutoencoderKL, format: ExportFormat, to path: String, overwrite: Bool = false) throws {
    // "out/" names the folder out: the temporary sibling must sit beside it, not inside.
    var path = path
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    if let problem = format.problem(with: model.config) {
        throw VAEDistError("cannot export \(path) as \(format.rawValue): \(problem)")
    }
    let exists = FileManager.default.fileExists(atPath: path)
    if exists && !overwrite {
        throw VAEDistError("\(path) already exists; pass --overwrite to replace it")
    }
    try createFolder((path as NSString).deletingLastPathComponent, for: path)
    switch format {
    case .diffusers:
        try writeDirectoryAtomically(path, replacing: exists) { dir in
            try writeFileAtomically(diffusersConfigJSON(for: model.config).text, to: dir + "/config.json")
            try diffusersWeights(model).write(path: dir + "/diffusion_pytorch_model.safetensors")
        }
    case .ldm, .sd:
        var isDirectory: ObjCBool = false
        if exists && FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue {
            throw VAEDistError("\(path) is a directory; --format \(format.rawValue) writes one safetensors file")
        }
        try ldmWeights(model, prefix: format == .sd ? "first_stage_model." : "").write(path: path)
    }
}

/// The weights under ldm names, each behind `prefix`.
func ldmWeights(_ model: AutoencoderKL, prefix: String) -> SafeTensors {
    let weights = model.weightsFile()
    var file = SafeTensors()
    for name in weights.names {
        let entry = weights[name]!
        file.add(prefix + name, shape: entry.shape, values: entry.values)
    }
    file.metadata = torchMetadata
    return file
}

/// The weights under the names of diffusers' current `AutoencoderKL` state dict; the attention projections,
/// 1×1 convolutions in ldm, become diffusers' linear [C, C] weights.
func diffusersWeights(_ model: AutoencoderKL) throws -> SafeTensors {
    let renamer = DiffusersRenamer(decoderLevels: model.config.levels)
    var file = SafeTensors()
    for (name, p) in model.namedParameters {
        guard let (diffusersName, isLinear) = renamer.diffusersName(name) else {
            throw VAEDistError("the model parameter \(name) has no diffusers counterpart")
        }
        let shape = p.value.shape
        if isLinear && shape.count == 4 && shape[2] == 1 && shape[3] == 1 {
            file.add(diffusersName, shape: Array(shape.prefix(2)), values: p.value.array)
        } else {
            file.add(diffusersName, p.value)
        }
    }
    file.metadata = torchMetadata
    return file
}

/// Fills a temporary sibling folder, then renames it to `path` (moving an existing `path` aside first and
/// deleting it last when `replacing`); on any failure the temporary folder goes and `path` is as it was.
private func writeDirectoryAtomically(_ path: String, replacing: Bool, fill: (String) throws -> Void) throws {
    let fm = FileManager.default
    let temporary = path + ".tmp-\(getpid())", previous = path + ".old-\(getpid())"
    try? fm.removeItem(atPath: temporary)
    guard mkdir(temporary, 0o755) == 0 else {
        throw VAEDistError("cannot create \(temporary) to write \(path): \(String(cString: strerror(errno)))")
    }
    do {
        try fill(temporary)
        if replacing { try move(path, to: previous) }
        do {
            try move(temporary, to: path)
        } catch {
            if replacing { try? move(previous, to: path) }
            throw error
        }
    } catch {
        try? fm.removeItem(atPath: temporary)
        throw error
    }
    if replacing { try? fm.removeItem(atPath: previous) }
}

/// The folder an output goes in, with its parents; a clear error when a file stands in the way.
private func createFolder(_ folder: String, for path: String) throws {
    guard !folder.isEmpty else { return }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
        guard isDirectory.boolValue else { throw VAEDistError("cannot write \(path): \(folder) is a file, not a folder") }
        return
    }
    try createFolder((folder as NSString).deletingLastPathComponent, for: path)
    guard mkdir(folder, 0o755) == 0 || errno == EEXIST else {
        throw VAEDistError("cannot create the folder \(folder) for \(path): \(String(cString: strerror(errno)))")
    }
}

private func move(_ source: String, to destination: String) throws {
    guard rename(source, destination) == 0 else {
        throw VAEDistError("cannot rename \(source) to \(destination): \(String(cString: strerror(errno)))")
    }
}
