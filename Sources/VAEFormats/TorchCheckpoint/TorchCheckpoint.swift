import Foundation
import VAECore

/// The weights found in a PyTorch checkpoint.
public struct TorchStateDict {
    /// Tensors that passed `keep`, decoded to Float32 (F64/F16/BF16 converted), keyed by their full name in
    /// the located dict (e.g. "first_stage_model.encoder.conv_in.weight" or "encoder.conv_in.weight").
    public let tensors: [String: SafeTensors.Entry]
    /// Where the dict was found, for the log: "state_dict", "model_state_dict", "model" or "the top level".
    public let location: String
    /// Names of tensors present but not decoded (rejected by `keep`), in file order.
    public let skipped: [String]
}

/// Reads `torch.save` files (`.ckpt`, `.pt`, `.pth`; the zip format of PyTorch ≥ 1.6) without Python and
/// without executing anything from the file: a restricted unpickler models only what a state dict needs.
public enum TorchCheckpoint {
    private static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// A zip archive's first bytes (a local file header's signature, "PK\u{3}\u{4}").
    private static let zipMagic: [UInt8] = [0x50, 0x4B, 0x03, 0x04]

    /// True when the file starts like a zip archive (what torch.save writes since 1.6).
    public static func isZipArchive(path: String) -> Bool {
        guard let file = try? RandomAccessFile(path: path), let head = try? file.read(at: 0, count: zipMagic.count, what: "the start") else {
            return false
        }
        return isZipArchive(bytes: head)
    }

    /// True when `bytes` (a whole file, or its start) start like a zip archive.
    public static func isZipArchive(bytes: [UInt8]) -> Bool { bytes.starts(with: zipMagic) }

    /// Reads the state dict of a torch.save zip file. Tensors whose name fails `keep` are never decoded
    /// (their storage is not read). A kept tensor of an integer/bool dtype is an error naming it.
    public static func read(path: String, keep: (String) -> Bool) throws -> TorchStateDict {
        let document = try TorchDocument(path: path)
        let (dict, location) = try locateStateDict(document.rootValue, heap: document.heap, path: path)
        // Beside the weights, data such as an omegaconf hyper_parameters config is read around; the state dict
        // itself holds tensors, so any other global in it (even one harmless elsewhere) is refused.
        let opaque = { (value: PickleValue) -> String? in if case .opaque(let name) = value { return name } else { return nil } }
        if let (global, keyPath) = PickleSearch.firstReachable(from: .dict(dict), heap: document.heap, where: opaque) {
            throw VAEDistError("\(path): the state dict (at \(location)) holds a value built by \(printable(global)) "
                + "(under \(printable(keyPath))), which is not a tensor; refused (nothing from the file is executed). "
                + "A state dict holds only tensors: torch.save({\"state_dict\": model.state_dict()}, path)")
        }
        var tensors: [String: SafeTensors.Entry] = [:]
        var skipped: [String] = []
        for (key, value) in document.heap.dicts[dict].items {
            guard case .string(let name) = key, case .tensor(let tensor) = value else { continue }
            if keep(name) {
                tensors[name] = try document.decoder.decode(tensor, name: name)
            } else {
                skipped.append(name)
            }
        }
        return TorchStateDict(tensors: tensors, location: location, skipped: skipped)
    }

    /// Opens a torch.save zip file and unpickles its data.pkl (refusing any global a checkpoint never needs).
    static func open(_ file: RandomAccessFile) throws -> (archive: ZipArchive, prefix: String, bigEndian: Bool, root: PickleValue, heap: PickleHeap) {
        let path = file.path
        let head = try file.read(at: 0, count: min(file.size, legacyMagic.count), what: "the start")
        guard isZipArchive(bytes: head) else {
            if head == legacyMagic {
                throw VAEDistError("\(path): this checkpoint uses PyTorch's legacy (pre-1.6, non-zip) format, which is not "
                    + "supported; re-save it with PyTorch ≥ 1.6: torch.save(torch.load(\"old.ckpt\", weights_only=False), \"new.ckpt\")")
            }
            throw VAEDistError("\(path): not a PyTorch checkpoint (torch.save writes a zip archive; this file does not start like one)")
        }
        let archive = try ZipArchive(file: file)
        let prefix = try pickleFolder(archive)
        let pickle = try archive.read(archive.entry(prefix + "data.pkl")!)
        let bigEndian = try isBigEndian(archive, prefix: prefix)

        var unpickler = Unpickler(pickle, context: "\(path): data.pkl", rules: TorchPickleRules())
        let root = try unpickler.load()
        let heap = unpickler.heap
        if let (global, keyPath) = PickleSearch.firstRefused(from: root, heap: heap) {
            throw VAEDistError("\(path): the checkpoint's pickle uses \(printable(global))\(keyPath.map { " (under \(printable($0)))" } ?? ""), "
                + "which a state dict never needs; refused (nothing from the file is executed). Save only the "
                + "state dict: torch.save({\"state_dict\": model.state_dict()}, path)")
        }
        return (archive, prefix, bigEndian, root, heap)
    }

    /// The folder holding data.pkl: "archive/" since PyTorch 2.x, the file's stem before.
    private static func pickleFolder(_ archive: ZipArchive) throws -> String {
        let pickles = archive.entries.keys.filter { name in
            guard name.hasSuffix("/data.pkl") else { return false }
            return name.dropLast("/data.pkl".count).firstIndex(of: "/") == nil
        }.sorted()
        guard pickles.count == 1 else {
            throw VAEDistError("\(archive.file.path): " + (pickles.isEmpty
                ? "a zip archive without <folder>/data.pkl, so not written by torch.save"
                : "a zip archive with several pickles (\(pickles.joined(separator: ", "))), so not written by torch.save"))
        }
        return String(pickles[0].dropLast("data.pkl".count))
    }

    /// The `byteorder` entry ("little" or "big"; absent before PyTorch 1.9, which wrote little-endian only).
    private static func isBigEndian(_ archive: ZipArchive, prefix: String) throws -> Bool {
        guard let entry = archive.entry(prefix + "byteorder") else { return false }
        let order = String(decoding: try archive.read(entry), as: UTF8.self)
        switch order {
        case "little": return false
        case "big": return true
        default: throw VAEDistError("\(archive.file.path): \(prefix)byteorder says '\(order.prefix(40))', not 'little' or 'big'")
        }
    }

    /// The dict holding the weights: "state_dict" (Lightning / Stable Diffusion), "model_state_dict" or "model"
    /// (training scripts' checkpoints) or the top level itself when it maps names to tensors.
    private static func locateStateDict(_ root: PickleValue, heap: PickleHeap, path: String) throws -> (dict: Int, location: String) {
        guard case .dict(let top) = root else {
            throw VAEDistError("\(path): the checkpoint holds \(root.kind), not a dict of weights")
        }
        for key in ["state_dict", "model_state_dict", "model"] {
            if case .dict(let inner)? = heap.dicts[top][key] { return (inner, key) }
        }
        let holdsTensors = heap.dicts[top].items.contains {
            if case .string = $0.key, case .tensor = $0.value { return true } else { return false }
        }
        guard holdsTensors else {
            let keys = heap.dicts[top].items.prefix(12).map { item -> String in
                if case .string(let s) = item.key { return "\"\(printable(String(s.prefix(200))))\"" } else { return printable(item.key.kind) }
            }
            throw VAEDistError("\(path): no state dict found: no \"state_dict\", \"model_state_dict\" or \"model\" dict and no tensors at the top level (keys: \(keys.joined(separator: ", ")))")
        }
        return (top, "the top level")
    }
}
