import Foundation
import VAEFormats

/// Builds the pickle of a `torch.save` file by hand (protocol 2, as torch writes it), for layouts no fixture has:
/// state dicts behind wrappers, Lightning checkpoints with an omegaconf `hyper_parameters`, globals where they do
/// not belong. Tensors are float32 and contiguous; `archive()` zips the pickle with their storages.
struct CraftedPickle {
    indirect enum Value: Sendable {
        case dict([(String, Value)])
        case list([Value])
        case string(String)
        case int(Int)
        case float(Double)
        case bool(Bool)
        case none
        /// `_rebuild_tensor_v2` of a FloatStorage holding `values`.
        case tensor(shape: [Int], values: [Float])
        /// A bare global as a value (omegaconf's `ref_type: typing.Any`).
        case global(String, String)
        /// `module.name(*arguments)` (REDUCE).
        case call(String, String, [Value])
        /// `module.name.__new__(cls)` then its state set (NEWOBJ, BUILD): how omegaconf's containers pickle.
        case object(String, String, state: Value)
    }

    private var bytes: [UInt8] = [0x80, 0x02]
    private var storages: [String: [UInt8]] = [:]

    init(_ root: Value) {
        write(root)
        bytes.append(0x2E)
    }

    /// The torch.save zip archive of this pickle and its storages.
    func archive() -> [UInt8] { StoredZip.torchArchive(pickle: bytes, storages: storages) }

    /// The archive's entries, for writers that lay out the zip themselves (`ZipDirectoryGenerator`).
    func files() -> [(String, [UInt8])] { StoredZip.torchFiles(pickle: bytes, storages: storages) }

    private mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        bytes += [0x58] + withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init) + utf8
    }

    private mutating func global(_ module: String, _ name: String) {
        bytes += [0x63] + Array("\(module)\n\(name)\n".utf8)
    }

    private mutating func tuple(_ items: [Value]) {
        bytes.append(0x28)
        items.forEach { write($0) }
        bytes.append(0x74)
    }

    private mutating func write(_ value: Value) {
        switch value {
        case .dict(let items):
            bytes.append(0x7D)
            guard !items.isEmpty else { return }
            bytes.append(0x28)
            for (key, item) in items {
                string(key)
                write(item)
            }
            bytes.append(0x75)
        case .list(let items):
            bytes.append(0x5D)
            guard !items.isEmpty else { return }
            bytes.append(0x28)
            items.forEach { write($0) }
            bytes.append(0x65)
        case .string(let s): string(s)
        case .int(let n): bytes += [0x8A, 8] + withUnsafeBytes(of: Int64(n).littleEndian, Array.init)
        case .float(let x): bytes += [0x47] + withUnsafeBytes(of: x.bitPattern.bigEndian, Array.init)
        case .bool(let b): bytes.append(b ? 0x88 : 0x89)
        case .none: bytes.append(0x4E)
        case .tensor(let shape, let values):
            let key = "\(storages.count)"
            storages[key] = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
            let strides = shape.indices.map { shape[($0 + 1)...].reduce(1, *) }
            global("torch._utils", "_rebuild_tensor_v2")
            bytes += [0x28, 0x28]                                     // the arguments; the persistent id
            string("storage")
            global("torch", "FloatStorage")
            string(key)
            string("cpu")
            write(.int(values.count))
            bytes += [0x74, 0x51]                                     // TUPLE, BINPERSID
            write(.int(0))
            tuple(shape.map { .int($0) })
            tuple(strides.map { .int($0) })
            bytes.append(0x89)
            global("collections", "OrderedDict")
            bytes += [0x29, 0x52, 0x74, 0x52]                         // (), REDUCE; TUPLE; REDUCE
        case .global(let module, let name): global(module, name)
        case .call(let module, let name, let arguments):
            global(module, name)
            tuple(arguments)
            bytes.append(0x52)
        case .object(let module, let name, let state):
            global(module, name)
            bytes += [0x29, 0x81]                                     // (), NEWOBJ
            write(state)
            bytes.append(0x62)                                        // BUILD
        }
    }

    /// `weights` as a state dict of tensors, each name behind `prefix`.
    static func stateDict(_ weights: SafeTensors, prefix: String = "") -> Value {
        .dict(weights.names.map { (prefix + $0, .tensor(shape: weights[$0]!.shape, values: weights[$0]!.values)) })
    }

    /// An omegaconf `DictConfig` of plain values, laid out as omegaconf 2 pickles it (its nodes, metadata and the
    /// `typing`/builtins types they record): what ldm's Lightning checkpoints hold as `hyper_parameters`.
    static func dictConfig(_ items: [(String, Value)]) -> Value {
        func metadata(_ kind: String, objectType: Value) -> Value {
            .object("omegaconf.base", kind, state: .dict([
                ("ref_type", .global("typing", "Any")), ("object_type", objectType), ("optional", .bool(true)),
                ("key", .none), ("flags", .dict([])), ("flags_root", .bool(false)),
                ("resolver_cache", .call("collections", "defaultdict", [.global("__builtin__", "dict")])),
                ("key_type", .global("typing", "Any")), ("element_type", .global("typing", "Any")),
            ]))
        }
        func node(_ value: Value) -> Value {
            switch value {
            case .dict(let inner): return dictConfig(inner)
            case .list(let inner):
                return .object("omegaconf.listconfig", "ListConfig", state: .dict([
                    ("_metadata", metadata("ContainerMetadata", objectType: .global("__builtin__", "list"))),
                    ("_parent", .none), ("_content", .list(inner.map(node))),
                ]))
            default:
                return .object("omegaconf.nodes", "AnyNode", state: .dict([
                    ("_metadata", metadata("Metadata", objectType: .none)), ("_parent", .none), ("_val", value),
                ]))
            }
        }
        return .object("omegaconf.dictconfig", "DictConfig", state: .dict([
            ("_metadata", metadata("ContainerMetadata", objectType: .global("__builtin__", "dict"))),
            ("_parent", .none), ("_content", .dict(items.map { ($0.0, node($0.1)) })),
        ]))
    }
}
