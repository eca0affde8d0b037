import Foundation
import VAECore

/// A weights file, located from what the user gave (a file, or a diffusers folder).
public struct WeightsFile: Equatable, Sendable {
    public enum Format: Equatable, Sendable {
        case safetensors
        /// A `torch.save` zip archive.
        case torch
    }

    /// The file that is read.
    public let path: String
    public let format: Format
    /// The diffusers folder it was found in (its config.json describes the model).
    public let diffusersFolder: String?
    /// A diffusers AutoencoderKL `config.json` beside a weights file given by itself: the file is a diffusers
    /// folder's weights, and that config describes them.
    public let siblingConfig: String?

    /// diffusers' weight names in a model folder, preferred first: safetensors before pickles, and
    /// `variant="fp16"` files after the full ones.
    static let diffusersWeightNames = ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                                       "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin"]

    /// PyTorch's usual suffixes: such a file that is no zip archive gets the torch reader's explanation
    /// (a pre-1.6 pickle, say) rather than a safetensors complaint.
    static let torchSuffixes = [".ckpt", ".pt", ".pth", ".bin"]

    public init(path: String, diffusersFolder: String? = nil, siblingConfig: String? = nil) {
        self.path = path
        let torchNamed = Self.torchSuffixes.contains { path.lowercased().hasSuffix($0) }
        self.format = TorchCheckpoint.isZipArchive(path: path) || torchNamed ? .torch : .safetensors
        self.diffusersFolder = diffusersFolder
        self.siblingConfig = siblingConfig
    }

    /// A weights file located elsewhere (rank 0's, on a rank that received it): nothing is probed here.
    public init(path: String, format: Format, diffusersFolder: String?, siblingConfig: String? = nil) {
        (self.path, self.format, self.diffusersFolder, self.siblingConfig) = (path, format, diffusersFolder, siblingConfig)
    }

    static func locate(_ path: String) throws -> WeightsFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw VAEDistError("\(path): cannot read the weights (missing or unreadable)")
        }
        guard isDirectory.boolValue else {
            // `vae/diffusion_pytorch_model.safetensors` given by itself still has its folder's config beside it.
            let config = (parentFolder(path) as NSString).appendingPathComponent("config.json")
            return WeightsFile(path: path, siblingConfig: DiffusersConfig.isAutoencoderKLConfig(atPath: config) ? config : nil)
        }
        for name in diffusersWeightNames {
            let file = (path as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: file) { return WeightsFile(path: file, diffusersFolder: path) }
        }
        // A whole pipeline folder keeps its VAE in vae/.
        let vae = (path as NSString).appendingPathComponent("vae")
        if FileManager.default.fileExists(atPath: vae, isDirectory: &isDirectory), isDirectory.boolValue {
            return try locate(vae)
        }
        throw VAEDistError("\(path): a folder given as weights must be a diffusers model folder (or a pipeline with a vae/ "
                        + "folder) holding \(diffusersWeightNames.joined(separator: " or ")); none found")
    }

    /// vae-dist's metadata of the file (`CheckpointMetadata.metadata`); nil for a torch-named file that is no zip
    /// archive (a pre-1.6 pickle gets the torch reader's explanation later).
    func metadata() throws -> [String: String]? {
        format == .safetensors || TorchCheckpoint.isZipArchive(path: path) ? try CheckpointMetadata.metadata(path: path) : nil
    }

    /// The config that comes with the weights, if any: a diffusers folder's config.json, else the config stored in
    /// a vae-dist checkpoint (written with these very weights, found in its `metadata`), else a diffusers config.json
    /// beside the file.
    func storedConfig(metadata: () throws -> [String: String]?) throws -> (VAEConfig, ModelSource.ConfigOrigin)? {
        if let diffusersFolder {
            let json = (diffusersFolder as NSString).appendingPathComponent("config.json")
            guard FileManager.default.fileExists(atPath: json) else { return nil }
            return (try ModelSource.loadConfig(path: json), .diffusersFolder(json))
        }
        if let metadata = try metadata(), let stored = try CheckpointMetadata.storedConfig(in: metadata, path: path) {
            return (stored, .storedInCheckpoint(path))
        }
        guard let siblingConfig else { return nil }
        return (try ModelSource.loadConfig(path: siblingConfig), .besideWeights(siblingConfig))
    }

    /// The file's tensors that can be VAE weights, and for a PyTorch checkpoint the dict they were found in
    /// ("state_dict", …). The others (a full SD checkpoint's UNet, optimizer state) are not decoded.
    func readVAETensors() throws -> (tensors: [String: SafeTensors.Entry], location: String?) {
        switch format {
        case .torch:
            let state = try TorchCheckpoint.read(path: path, keep: mayBeVAEKey)
            if state.tensors.isEmpty { throw noVAETensors(path: path, names: state.skipped) }
            return (state.tensors, state.location)
        case .safetensors:
            let tensors = try SafeTensors.read(path: path, keep: mayBeVAEKey).tensors
            if tensors.isEmpty { throw noVAETensors(path: path, names: try SafeTensors.readHeader(path: path).tensors.map(\.name)) }
            return (tensors, nil)
        }
    }
}
