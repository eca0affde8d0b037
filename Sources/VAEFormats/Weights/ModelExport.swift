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
    /// The original PyTorch tool's training checkpoint (`TorchTrainingCheckpoint`): ldm weights, optimizer state,
    /// epoch and loss in one torch.save file.
    case pt

    /// ldm's AutoencoderKL fixes 32 groups: other weights would load into it without error and reconstruct garbage.
    static let ldmGroups = 32

    /// Why this format cannot hold `config`, nil when it can.
    public func problem(with config: VAEConfig) -> String? {
        switch self {
        case .diffusers:
            return diffusersProblem(with: config)
        case .ldm, .sd, .pt:
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

/// Writes `model` to `path` in `format`. An existing `path` is refused unless `overwrite`, and even then replaced
/// only when it is a previous output of the same kind (`checkExportTarget`). The file, or the whole diffusers
/// folder, appears at once (written beside it, then renamed over it), so a failure leaves the old output as it was.
/// `training` is what a `pt` export holds beside the weights; without it (weights that carry no optimizer state),
/// a `pt` export holds what the original tool would have saved before its first step (`TorchTrainingState.fresh`).
public func export(_ model: AutoencoderKL, format: ExportFormat, to path: String, overwrite: Bool = false,
                   training: TorchTrainingState? = nil) throws {
    let target = try checkExportTarget(path, format: format, overwrite: overwrite)
    if let problem = format.problem(with: model.config) {
        throw VAEDistError("cannot export \(target.path) as \(format.rawValue): \(problem)")
    }
    try createFolder((target.path as NSString).deletingLastPathComponent, for: target.path)
    switch format {
    case .diffusers:
        try writeDirectoryAtomically(target.path, replacing: target.previousEntries) { dir in
            try writeFileAtomically(diffusersConfigJSON(for: model.config).text, to: dir + "/config.json")
            try diffusersWeights(model).write(path: dir + "/diffusion_pytorch_model.safetensors")
        }
    case .ldm, .sd:
        var file = ldmWeights(model, prefix: format == .sd ? "first_stage_model." : "")
        // No config travels with these files: the latent settings the model's source stated go in the header.
        file.metadata.merge(model.config.latentSpace.metadata) { ours, _ in ours }
        try file.write(path: target.path)
    case .pt:
        let parameters = model.namedParameters
        let state = training ?? .fresh(parameterCount: parameters.count)
        try TorchTrainingCheckpoint.write(epoch: state.epoch, weights: parameters.map { ($0.name, TorchSaveTensor($0.parameter.value)) },
                                          optimizer: state.optimizer, loss: state.loss, to: target.path)
    }
}

/// Where an export goes, once checked.
public struct ExportTarget: Equatable, Sendable {
    /// The output path, trailing slashes removed.
    public let path: String
    /// For a diffusers folder being replaced: the files of the previous export in it (removed once the new
    /// folder is in place); nil when nothing is at `path` or the target is a file.
    public let previousEntries: [String]?
}

/// Decides, before any work, whether `path` may take an export in `format`: refused are an empty path, `.`, `..`,
/// the working directory and the folders holding it, anything already there without `overwrite`, and with it
/// anything but a previous output of the same kind: for `diffusers` a folder holding only `config.json` (a
/// diffusers AutoencoderKL config) and diffusers weights files, for `ldm` and `sd` a safetensors file, for `pt` a
/// torch.save zip archive. Devices,
/// FIFOs, symbolic links and folders holding other files are the user's and are never replaced.
public func checkExportTarget(_ path: String, format: ExportFormat, overwrite: Bool) throws -> ExportTarget {
    let path = try checkReplaceableOutputPath(path, flag: "--output")
    guard let mode = fileModeIfPresent(path) else { return ExportTarget(path: path, previousEntries: nil) }
    guard overwrite else { throw VAEDistError("\(path) already exists; pass --overwrite to replace it") }
    func refuse(_ why: String) -> VAEDistError {
        VAEDistError("--overwrite: \(path) \(why); --overwrite replaces only a previous export of the same format: move it "
                  + "away or choose another --output")
    }
    let kind = mode & S_IFMT
    switch format {
    case .diffusers:
        guard kind == S_IFDIR else {
            throw refuse("is \(fileKindDescription(mode)), not a folder (--format diffusers writes a folder)")
        }
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        } catch {
            throw VAEDistError("--overwrite: cannot list \(path): \(fileErrorReason(error))")
        }
        let ours = Set(["config.json"] + WeightsFile.diffusersWeightNames)
        let others = entries.filter { name in
            guard ours.contains(name), let mode = fileModeIfPresent((path as NSString).appendingPathComponent(name)) else { return true }
            return mode & S_IFMT != S_IFREG
        }
        guard others.isEmpty else {
            let shown = others.prefix(5).joined(separator: ", ") + (others.count > 5 ? ", … (\(others.count) in all)" : "")
            throw refuse("holds files a diffusers export does not (\(shown)); a diffusers export holds only config.json "
                       + "and \(WeightsFile.diffusersWeightNames.joined(separator: ", "))")
        }
        let config = (path as NSString).appendingPathComponent("config.json")
        if entries.contains("config.json") && !DiffusersConfig.isAutoencoderKLConfig(atPath: config) {
            throw refuse("holds a config.json that is not a diffusers AutoencoderKL config")
        }
        return ExportTarget(path: path, previousEntries: entries)
    case .ldm, .sd:
        guard kind == S_IFREG else {
            let what = kind == S_IFDIR ? "a folder" : fileKindDescription(mode)
            throw refuse("is \(what), not a file (--format \(format.rawValue) writes one safetensors file)")
        }
        do {
            _ = try SafeTensors.readHeader(path: path)
        } catch {
            throw refuse("is not a safetensors file (\(error))")
        }
        return ExportTarget(path: path, previousEntries: nil)
    case .pt:
        guard kind == S_IFREG else {
            throw refuse("is \(kind == S_IFDIR ? "a folder" : fileKindDescription(mode)), not a file (--format pt writes one torch.save file)")
        }
        guard TorchCheckpoint.isZipArchive(path: path) else { throw refuse("is not a torch.save file (no zip archive)") }
        return ExportTarget(path: path, previousEntries: nil)
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

/// Fills a temporary sibling folder, then puts it at `path` in one step. With `replacing` (the previous export's
/// entries), the two folders are exchanged atomically where the kernel can (Linux's renameat2), else the old one
/// is renamed aside first; the old folder's own files are removed last, one by one, so that nothing else is ever
/// deleted. On any failure before that the temporary folder goes and `path` is as it was.
private func writeDirectoryAtomically(_ path: String, replacing previous: [String]?, fill: (String) throws -> Void) throws {
    let temporary = try makeTemporaryFolder(beside: path)
    // Only what this export wrote into the temporary folder is removed on failure.
    func discardTemporary() {
        removeFolder(temporary, entries: (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [])
    }
    do {
        try fill(temporary)
        syncDirectory(temporary)
    } catch {
        discardTemporary()
        throw error
    }
    let parent = (path as NSString).deletingLastPathComponent
    guard let previous else {
        do {
            try renameRefusingToReplace(temporary, to: path)
        } catch {
            discardTemporary()
            throw error
        }
        syncDirectory(parent)
        return
    }
    // The previous folder ends up at `old`: the temporary name after an exchange, a sibling otherwise.
    var old = temporary
    let exchanged: Bool
    do {
        exchanged = try exchangePaths(temporary, path)
    } catch {
        discardTemporary()
        throw error
    }
    if !exchanged {
        old = path + ".old-\(getpid())"
        do {
            try move(path, to: old)
        } catch {
            discardTemporary()
            throw error
        }
        do {
            try move(temporary, to: path)
        } catch {
            try? move(old, to: path)
            discardTemporary()
            throw error
        }
    }
    syncDirectory(parent)
    removeFolder(old, entries: previous)
    if fileModeIfPresent(old) != nil {
        throw VAEDistError("wrote \(path), but the previous export, moved to \(old), now holds files vae-dist did not write "
                        + "and is left there: look at it and remove it yourself")
    }
}

/// A new, empty folder named `PATH.tmp-PID[-N]` beside `path` (never one that exists).
private func makeTemporaryFolder(beside path: String) throws -> String {
    for attempt in 0..<100 {
        let candidate = path + ".tmp-\(getpid())" + (attempt == 0 ? "" : "-\(attempt)")
        if mkdir(candidate, 0o755) == 0 { return candidate }
        guard errno == EEXIST else {
            throw VAEDistError("cannot create \(candidate) to write \(path): \(errnoReason(errno))")
        }
    }
    throw VAEDistError("cannot create a temporary folder beside \(path): \(path).tmp-\(getpid()) and its 99 variants exist")
}

/// Removes `entries` of `folder` (regular files and symbolic links only), then the folder if that left it empty;
/// anything else in it stays, so that only what vae-dist wrote is ever deleted.
private func removeFolder(_ folder: String, entries: [String]) {
    for name in entries {
        let file = (folder as NSString).appendingPathComponent(name)
        if let mode = fileModeIfPresent(file), [S_IFREG, S_IFLNK].contains(mode & S_IFMT) { unlink(file) }
    }
    rmdir(folder)
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
        throw VAEDistError("cannot create the folder \(folder) for \(path): \(errnoReason(errno))")
    }
}

private func move(_ source: String, to destination: String) throws {
    guard rename(source, destination) == 0 else {
        throw VAEDistError("cannot rename \(source) to \(destination): \(errnoReason(errno))")
    }
}

/// `renameat2`'s flags (linux/fs.h).
private let renameNoReplace: UInt32 = 1, renameExchange: UInt32 = 2

/// Linux's renameat2, looked up at run time: Glibc's Swift module does not declare it (it is a GNU extension),
/// and an older C library may lack it.
private func renameat2(_ from: String, _ to: String, flags: UInt32) -> Int32? {
    #if os(Linux)
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    guard let symbol = dlsym(nil, "renameat2") else { return nil }
    return unsafeBitCast(symbol, to: RenameAt2.self)(AT_FDCWD, from, AT_FDCWD, to, flags)
    #else
    return nil
    #endif
}

/// Exchanges two existing paths in one step; false where the kernel or the file system cannot (the caller then
/// renames in two steps).
private func exchangePaths(_ a: String, _ b: String) throws -> Bool {
    guard let result = renameat2(a, b, flags: renameExchange) else { return false }
    if result == 0 { return true }
    if [EINVAL, ENOSYS, EOPNOTSUPP].contains(errno) { return false }
    throw VAEDistError("cannot put \(a) in place of \(b): \(errnoReason(errno))")
}

/// Renames `source` to `destination` unless something appeared there meanwhile (then an error, nothing replaced).
private func renameRefusingToReplace(_ source: String, to destination: String) throws {
    if let result = renameat2(source, destination, flags: renameNoReplace) {
        if result == 0 { return }
        if errno == EEXIST {
            throw VAEDistError("cannot write \(destination): it appeared while the export was written; nothing was replaced")
        }
        guard [EINVAL, ENOSYS, EOPNOTSUPP].contains(errno) else {
            throw VAEDistError("cannot rename \(source) to \(destination): \(errnoReason(errno))")
        }
    }
    try move(source, to: destination)
}
