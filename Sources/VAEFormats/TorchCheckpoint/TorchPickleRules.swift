import VAECore

/// The element types a torch storage can hold, named as in the storage classes of a checkpoint's pickle.
enum TorchDType: String {
    case float64 = "Double", float32 = "Float", float16 = "Half", bfloat16 = "BFloat16"
    case int64 = "Long", int32 = "Int", int16 = "Short", int8 = "Char", uint8 = "Byte", bool = "Bool"
    case complex64 = "ComplexFloat", complex128 = "ComplexDouble"

    var width: Int {
        switch self {
        case .int8, .uint8, .bool: return 1
        case .float16, .bfloat16, .int16: return 2
        case .float32, .int32: return 4
        case .float64, .int64, .complex64: return 8
        case .complex128: return 16
        }
    }

    var isFloatingPoint: Bool { [.float64, .float32, .float16, .bfloat16].contains(self) }
}

/// A storage named by a persistent id: the zip entry `data/<key>` holding `count` elements.
struct TorchStorageReference {
    let key: String
    let dtype: TorchDType
    let count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view into a storage.
struct TorchTensorReference {
    let storage: TorchStorageReference
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// What the restricted unpickler may build from a torch.save pickle: the globals a state dict uses are modelled;
/// globals known to appear in real checkpoints outside the weights (Lightning callbacks and hyper-parameters,
/// numpy scalars) become opaque values, which the state dict itself may not hold (`TorchCheckpoint`); every other
/// global becomes `.refused` and makes the whole file refused. Nothing is executed.
struct TorchPickleRules {
    private static let storageSuffix = "Storage"

    /// Globals that training checkpoints carry beside the weights (Lightning callbacks and hyper-parameters, numpy
    /// values): pure data, so reading around them is safe; never called.
    private static let harmless: Set<String> = {
        var names: Set<String> = [
            "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
            "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
            "_codecs.encode", "torch.device", "argparse.Namespace", "collections.defaultdict",
            // An omegaconf DictConfig (ldm's and Lightning's hyper_parameters): its containers, nodes and metadata.
            "omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig", "omegaconf.base.ContainerMetadata",
            "omegaconf.base.Metadata", "omegaconf.nodes.AnyNode", "omegaconf.nodes.StringNode", "omegaconf.nodes.IntegerNode",
            "omegaconf.nodes.FloatNode", "omegaconf.nodes.BooleanNode", "omegaconf.nodes.BytesNode", "omegaconf.nodes.PathNode",
            "omegaconf.nodes.EnumNode",
            // Lightning's own hyper-parameter dict.
            "pytorch_lightning.utilities.parsing.AttributeDict", "lightning_fabric.utilities.data.AttributeDict",
            "lightning.fabric.utilities.data.AttributeDict",
        ]
        // The types omegaconf records in its metadata (`ref_type`, `key_type`, `object_type`).
        for name in ["Any", "Dict", "List", "Tuple", "Set", "FrozenSet", "Optional", "Union", "Sequence", "Mapping"] {
            names.insert("typing." + name)
        }
        // Plain containers and scalar types, under Python 3's name and protocol 2's Python 2 one.
        for module in ["builtins", "__builtin__"] {
            for type in ["dict", "list", "tuple", "set", "frozenset", "slice", "int", "long", "float", "complex", "str",
                         "unicode", "bytes", "bool"] {
                names.insert("\(module).\(type)")
            }
        }
        return names
    }()
    private static let harmlessPrefixes = ["pytorch_lightning.callbacks.", "lightning.pytorch.callbacks."]

    private static let modelled: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch._tensor._rebuild_from_type_v2", "torch.Size",
        "torch.Tensor", "torch.nn.parameter.Parameter", "torch.storage.UntypedStorage", "torch.UntypedStorage",
    ]

    func global(module: String, name: String) -> PickleValue {
        let full = module + "." + name
        if Self.modelled.contains(full) || Self.storageType(full) != nil { return .global(full) }
        if Self.harmless.contains(full) || Self.harmlessPrefixes.contains(where: full.hasPrefix) { return .opaque(full) }
        return .refused(full)
    }

    private static func storageType(_ global: String) -> TorchDType? {
        if global == "torch.storage.UntypedStorage" || global == "torch.UntypedStorage" { return .uint8 }
        guard global.hasPrefix("torch."), global.hasSuffix(storageSuffix) else { return nil }
        return TorchDType(rawValue: String(global.dropFirst(6).dropLast(storageSuffix.count)))
    }

    /// Most `_rebuild_from_type_v2` calls wrapped in one another: torch writes one per tensor subclass (one deep
    /// for a Parameter); a forged chain of thousands is refused by name instead of being followed.
    static let maxRebuildNesting = 16

    /// REDUCE: `callable(*arguments)` for the modelled callables; anything else stays unevaluated.
    func call(_ callable: PickleValue, _ arguments: PickleValue, heap: PickleHeap, context: String) throws -> PickleValue {
        // `_rebuild_from_type_v2(func, type, args, state)` is `func(*args)`: unwrapped in a loop, never by recursion.
        var (callable, arguments) = (callable, arguments)
        for depth in 0... {
            guard case .global("torch._tensor._rebuild_from_type_v2") = callable, let args = heap.tupleItems(arguments),
                  args.count >= 3 else { break }
            guard depth < Self.maxRebuildNesting else {
                throw VAEDistError("\(context): torch._tensor._rebuild_from_type_v2 calls are nested too deeply "
                                + "(limit \(Self.maxRebuildNesting)); corrupt or forged checkpoint")
            }
            if let refused = args.first(where: { if case .refused = $0 { return true } else { return false } }) { return refused }
            (callable, arguments) = (args[0], args[2])
        }
        guard case .global(let name) = callable else { return callable.calledOpaquely }
        guard let args = heap.tupleItems(arguments) else {
            throw VAEDistError("\(context): \(name) is called with \(arguments.kind) instead of an argument tuple")
        }
        func bad() -> VAEDistError {
            VAEDistError("\(context): \(name) is called with arguments (\(args.map(\.kind).joined(separator: ", "))) it does not take (corrupt checkpoint)")
        }
        if let refused = args.first(where: { if case .refused = $0 { return true } else { return false } }) {
            return refused
        }
        switch name {
        case "collections.OrderedDict":
            guard args.isEmpty else { throw bad() }
            return heap.newDict()
        case "torch._utils._rebuild_tensor_v2":
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                  let shape = integers(args[2], heap), let strides = integers(args[3], heap), shape.count == strides.count
            else { throw bad() }
            return .tensor(TorchTensorReference(storage: storage, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = args.first, case .tensor = data else { throw bad() }
            return data
        case "torch._tensor._rebuild_from_type_v2":               // unwrapped above unless its arguments are malformed
            throw bad()
        case "torch.Size":
            guard args.count == 1, integers(args[0], heap) != nil else { throw bad() }
            return args[0]
        default:
            return callable.calledOpaquely                         // a storage type or class called directly
        }
    }

    private func integers(_ value: PickleValue, _ heap: PickleHeap) -> [Int]? {
        guard let items = heap.tupleItems(value) else { return nil }
        var result: [Int] = []
        for item in items {
            guard case .int(let i) = item else { return nil }
            result.append(i)
        }
        return result
    }

    /// BUILD: an OrderedDict's `_metadata` and a tensor's Python attributes are irrelevant to the weights.
    func build(_ target: PickleValue, state: PickleValue, context: String) throws {
        switch target {
        case .dict, .tensor, .opaque, .refused: return
        default: throw VAEDistError("\(context): BUILD on \(target.kind) (corrupt checkpoint)")
        }
    }

    /// BINPERSID: ('storage', storage type, key, location, element count) names the zip entry data/<key>.
    func persistentLoad(_ id: PickleValue, heap: PickleHeap, context: String) throws -> PickleValue {
        if let items = heap.tupleItems(id), items.count > 1, case .refused = items[1] { return items[1] }
        guard let items = heap.tupleItems(id), items.count >= 5, case .string("storage") = items[0],
              case .global(let type) = items[1], let dtype = Self.storageType(type),
              case .string(let key) = items[2], case .int(let count) = items[4], count >= 0
        else {
            throw VAEDistError("\(context): a persistent id is not ('storage', type, key, location, size) (corrupt or unsupported checkpoint)")
        }
        return .storage(TorchStorageReference(key: key, dtype: dtype, count: count))
    }
}
