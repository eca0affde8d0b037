import Foundation

/// Random pickle programs built from the opcode grammar the restricted unpickler reads: each value is emitted so
/// that it leaves exactly one item on the stack (scalars in every encoding, strings, tuples, lists, dicts, memo
/// puts and gets, globals, REDUCE / NEWOBJ / BUILD / INST / OBJ, torch tensor rebuilds with storages whose shapes,
/// strides, offsets and sizes sit near the integer limits, `_rebuild_from_type_v2` chains and nestings thousands
/// deep), and at a small rate a deliberate violation is inserted (a random opcode with random argument bytes, a
/// stray POP, MARK or STOP, a memo read before its write, an operation on the wrong type, a truncation).
struct PickleProgramGenerator {
    private var random: FuzzRandom
    /// The chance of a violation at each value.
    private let violationRate: Double
    private var bytes: [UInt8] = []
    private var storages: [String: [UInt8]] = [:]
    private var memoWritten: [Int] = []

    init(seed: UInt64, violationRate: Double = 0.02) {
        random = FuzzRandom(seed: seed)
        self.violationRate = violationRate
    }

    /// The next program and the storages (zip entries data/KEY) its tensors name.
    mutating func next() -> (pickle: [UInt8], storages: [String: [UInt8]]) {
        (bytes, storages, memoWritten) = ([0x80, random.pick([2, 2, 4, 5])], [:], [])
        if random.chance(0.1) { bytes += [0x95] + le(Int64(random.below(1 << 16)), 8) }    // FRAME
        root()
        bytes.append(0x2E)                                                                  // STOP
        if random.chance(violationRate * 2) { bytes.removeLast(random.below(min(bytes.count, 64))) }
        return (bytes, storages)
    }

    // MARK: values

    /// Mostly what checkpoints hold at the top: a state dict, bare or under a wrapper key beside other data.
    private mutating func root() {
        switch random.below(4) {
        case 0: stateDict(depth: 1)
        case 1:
            dict(depth: 1) { g in
                g.string(g.random.pick(["state_dict", "model", "model_state_dict", "module"]))
                g.stateDict(depth: 2)
                for _ in 0..<g.random.below(4) {
                    g.string(g.random.pick(["epoch", "optimizer_state_dict", "loss", "hyper_parameters", "global_step"]))
                    g.value(depth: 2)
                }
            }
        default: value(depth: 0)
        }
    }

    private mutating func stateDict(depth: Int) {
        let ordered = random.chance(0.5)
        if ordered { call("collections", "OrderedDict") { _ in } } else { bytes.append(0x7D) }
        let count = random.below(6)
        guard count > 0 else { return }
        bytes.append(0x28)
        for _ in 0..<count {
            string(name())
            if random.chance(0.8) { tensor(wrapped: random.chance(0.3)) } else { value(depth: depth + 1) }
        }
        bytes.append(0x75)                                                                  // SETITEMS
    }

    /// Emits one value: the stack grows by exactly one item unless a violation was drawn.
    private mutating func value(depth: Int) {
        if random.chance(violationRate) { violation() }
        let deep = depth >= 5
        switch random.below(deep ? 3 : 16) {
        case 0: scalar()
        case 1: string(random.chance(0.7) ? name() : String(decoding: random.bytes(random.below(12)), as: UTF8.self))
        case 2: memoGet()
        case 3: tuple(depth: depth)
        case 4: list(depth: depth)
        case 5: dict(depth: depth) { g in g.string(g.name()); g.value(depth: depth + 1) }
        case 6: tensor(wrapped: random.chance(0.3))
        case 7: fromTypeChain()
        case 8: global(random.pick(Self.globals))
        case 9:
            let (module, name) = random.pick(Self.globals)
            call(module, name) { g in for _ in 0..<g.random.below(4) { g.value(depth: depth + 1) } }
        case 10: object(depth: depth)
        case 11: deepNesting()
        case 12:
            string(random.pick(Self.globals).0); string(random.pick(Self.globals).1)
            bytes.append(0x93)                                                              // STACK_GLOBAL
        case 13:
            bytes.append(0x28)
            for _ in 0..<random.below(3) { value(depth: depth + 1) }
            let (module, name) = random.pick(Self.globals)
            bytes += [0x69] + Array("\(module)\n\(name)\n".utf8)                            // INST
        case 14:
            bytes.append(0x28)
            global(random.pick(Self.globals))
            for _ in 0..<random.below(3) { value(depth: depth + 1) }
            bytes.append(0x6F)                                                              // OBJ
        default: stateDict(depth: depth + 1)
        }
        if random.chance(0.15) { memoPut() }
    }

    private mutating func scalar() {
        switch random.below(5) {
        case 0: bytes.append(random.pick([0x4E, 0x88, 0x89]))                               // NONE, NEWTRUE, NEWFALSE
        case 1: bytes += [0x47] + random.bytes(8)                                           // BINFLOAT
        case 2: bytes += [0x43, 3] + random.bytes(3)                                        // SHORT_BINBYTES
        default: int(random.edgyInt())
        }
    }

    /// An integer in one of pickle's encodings, some of them over-long or with garbage high bytes.
    private mutating func int(_ v: Int64) {
        switch random.chance(0.05) ? random.below(6) : random.pick([0, 1, 2, 5]) {
        case 0 where (0...255).contains(v): bytes += [0x4B, UInt8(v)]                       // BININT1
        case 1 where (0...0xFFFF).contains(v): bytes += [0x4D] + le(v, 2)                   // BININT2
        case 2 where Int64(Int32.min)...Int64(Int32.max) ~= v: bytes += [0x4A] + le(v, 4)  // BININT
        case 3: bytes += [0x49] + Array((random.chance(0.7) ? "\(v)" : random.pick(["00", "01", "1e9", "", "99999999999999999999"])).utf8) + [0x0A]
        case 4:
            let width = random.pick([0, 1, 2, 4, 8, 9, 12, 16])
            var encoded = le(v, min(width, 8))
            let sign: UInt8 = v < 0 ? 0xFF : 0
            for _ in 8..<max(width, 8) { encoded.append(random.chance(0.8) ? sign : UInt8(random.below(256))) }
            bytes += [0x8B] + le(Int64(encoded.count), 4) + encoded                         // LONG4
        default:
            let width = random.pick([0, 1, 2, 3, 4, 8, 9, 16])
            var encoded = le(v, min(width, 8))
            for _ in 8..<max(width, 8) { encoded.append(v < 0 ? 0xFF : 0) }
            bytes += [0x8A, UInt8(encoded.count)] + encoded                                 // LONG1
        }
    }

    private mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        switch random.below(5) {
        case 0 where utf8.count < 256: bytes += [0x8C, UInt8(utf8.count)] + utf8            // SHORT_BINUNICODE
        case 1: bytes += [0x8D] + le(Int64(utf8.count), 8) + utf8                           // BINUNICODE8
        case 2 where utf8.count < 256: bytes += [0x55, UInt8(utf8.count)] + utf8            // SHORT_BINSTRING
        default: bytes += [0x58] + le(Int64(utf8.count), 4) + utf8                          // BINUNICODE
        }
    }

    private mutating func global(_ g: (String, String)) { bytes += [0x63] + Array("\(g.0)\n\(g.1)\n".utf8) }

    /// `module.name(*arguments)`: GLOBAL, MARK, the arguments, TUPLE, REDUCE.
    private mutating func call(_ module: String, _ name: String, arguments: (inout PickleProgramGenerator) -> Void) {
        global((module, name))
        bytes.append(0x28)
        arguments(&self)
        bytes += [0x74, 0x52]
    }

    private mutating func tuple(depth: Int) {
        let count = random.below(5)
        if count == 0 { bytes.append(0x29); return }
        let marked = count > 3 || random.chance(0.5)
        if marked { bytes.append(0x28) }
        for _ in 0..<count { value(depth: depth + 1) }
        bytes.append(marked ? 0x74 : [0x85, 0x86, 0x87][count - 1])                        // TUPLE, TUPLE1-3
    }

    private mutating func list(depth: Int) {
        switch random.below(3) {
        case 0:
            bytes.append(0x28)
            for _ in 0..<random.below(4) { value(depth: depth + 1) }
            bytes.append(random.pick([0x6C, 0x91]))                                         // LIST, FROZENSET
        case 1:
            bytes.append(random.pick([0x5D, 0x8F]))                                         // EMPTY_LIST, EMPTY_SET
            for _ in 0..<random.below(3) {
                value(depth: depth + 1)
                bytes.append(0x61)                                                          // APPEND
            }
        default:
            bytes += [0x5D, 0x28]
            for _ in 0..<random.below(4) { value(depth: depth + 1) }
            bytes.append(random.pick([0x65, 0x90]))                                         // APPENDS, ADDITEMS
        }
    }

    /// A dict whose items `item` emits (each call one key and one value).
    private mutating func dict(depth: Int, item: (inout PickleProgramGenerator) -> Void) {
        let count = random.below(4)
        switch random.below(3) {
        case 0:
            bytes.append(0x28)
            for _ in 0..<count { item(&self) }
            bytes.append(0x64)                                                              // DICT
        case 1:
            bytes.append(0x7D)
            for _ in 0..<count {
                item(&self)
                bytes.append(0x73)                                                          // SETITEM
            }
        default:
            bytes += [0x7D, 0x28]
            for _ in 0..<count { item(&self) }
            bytes.append(0x75)                                                              // SETITEMS
        }
    }

    /// `cls.__new__(cls)` with a state set: NEWOBJ or NEWOBJ_EX, then BUILD (omegaconf's containers pickle so).
    private mutating func object(depth: Int) {
        global(random.pick(Self.globals))
        if random.chance(0.5) { bytes += [0x29, 0x81] } else { bytes += [0x29, 0x7D, 0x92] }
        if random.chance(0.8) {
            dict(depth: depth) { g in g.string(g.name()); g.value(depth: depth + 1) }
            bytes.append(0x62)                                                              // BUILD
        }
    }

    private mutating func memoPut() {
        let index: Int
        switch random.below(4) {
        case 0:
            index = memoWritten.count
            bytes.append(0x94)                                                              // MEMOIZE
        case 1:
            index = random.below(300)
            bytes += [0x72] + le(Int64(index), 4)                                           // LONG_BINPUT
        case 2:
            index = random.below(300)
            bytes += [0x70] + Array("\(index)\n".utf8)                                      // PUT
        default:
            index = random.below(256)
            bytes += [0x71, UInt8(index)]                                                   // BINPUT
        }
        if !memoWritten.contains(index) { memoWritten.append(index) }
    }

    private mutating func memoGet() {
        guard !memoWritten.isEmpty else { scalar(); return }
        let index = random.pick(memoWritten)
        switch random.below(3) {
        case 0 where index < 256: bytes += [0x68, UInt8(index)]                             // BINGET
        case 1: bytes += [0x67] + Array("\(index)\n".utf8)                                  // GET
        default: bytes += [0x6A] + le(Int64(index), 4)                                      // LONG_BINGET
        }
    }

    // MARK: torch's own structures

    /// `_rebuild_tensor_v2(storage, offset, shape, strides, requires_grad, hooks)`, optionally inside
    /// `_rebuild_parameter`.
    private mutating func tensor(wrapped: Bool) {
        if wrapped { global(("torch._utils", "_rebuild_parameter")); bytes.append(0x28) }
        global(("torch._utils", "_rebuild_tensor_v2"))
        bytes.append(0x28)
        tensorArguments()
        bytes += [0x74, 0x52]
        if wrapped { bytes += [0x89]; call("collections", "OrderedDict") { _ in }; bytes += [0x74, 0x52] }
    }

    /// The arguments of `_rebuild_tensor_v2`: the storage's dtype, key, element count and bytes, and the view's
    /// offset, shape and strides, drawn consistent or from the integer edges.
    private mutating func tensorArguments() {
        let rank = random.below(5)
        let shape = (0..<rank).map { _ in random.size(small: 5, edge: 0.05) }
        var strides = [Int64](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] &* max(shape[i + 1], 1) }
        if random.chance(0.15) { strides = strides.map { random.chance(0.5) ? random.edgyInt() : $0 } }
        let offset = random.chance(0.9) ? Int64(random.below(3)) : random.edgyInt()
        let needed = shape.reduce(Int64(1)) { $0 &* $1 } &+ offset
        let count = random.chance(0.9) ? needed : random.edgyInt()
        let (type, width) = random.pick(Self.storageTypes)
        let reuse = random.chance(0.2) && !storages.isEmpty
        let key = reuse ? storages.keys.sorted()[random.below(storages.count)] : "\(storages.count)"
        if !reuse && !random.chance(0.05) {
            let exact = count >= 0 && count < 4096 ? Int(count) * width : random.below(64)
            storages[key] = random.bytes(random.chance(0.9) ? exact : random.below(exact + 16))
        }
        // The persistent id: ('storage', type, key, location, count).
        bytes.append(0x28)
        string("storage")
        global(("torch", type))
        string(key)
        string("cpu")
        int(count)
        bytes += [0x74, 0x51]                                                               // TUPLE, BINPERSID
        int(offset)
        bytes.append(0x28); shape.forEach { int($0) }; bytes.append(0x74)
        bytes.append(0x28); strides.forEach { int($0) }; bytes.append(0x74)
        bytes.append(0x89)
        call("collections", "OrderedDict") { _ in }
    }

    /// `_rebuild_from_type_v2(func, type, args, state)` around a tensor, `func` itself such a call `depth - 1`
    /// times: one deep as torch writes a tensor subclass, or far beyond the reader's limit.
    private mutating func fromTypeChain() {
        let depth = random.chance(0.9) ? 1 + random.below(20) : 1000 + random.below(4000)
        global(("torch._tensor", "_rebuild_from_type_v2"))
        bytes.append(0x28)
        for _ in 1..<depth {
            global(("torch._tensor", "_rebuild_from_type_v2")); global(("torch.nn.parameter", "Parameter"))
            bytes.append(0x28)
        }
        global(("torch._utils", "_rebuild_tensor_v2")); global(("torch.nn.parameter", "Parameter"))
        bytes.append(0x28)
        tensorArguments()
        bytes += [0x74, 0x7D]                                                               // its args; state {}
        for _ in 1..<depth { bytes += [0x74, 0x7D] }
        bytes += [0x74, 0x52]
    }

    /// Lists, tuples or dicts nested hundreds to thousands deep, without recursion in the generator.
    private mutating func deepNesting() {
        let depth = random.pick([50, 500, 3000, 20000])
        switch random.below(3) {
        case 0:                                                // [[[…]]]: push them all, then append each into the one below
            bytes += [UInt8](repeating: 0x5D, count: depth)
            bytes += [UInt8](repeating: 0x61, count: depth - 1)
        case 1:                                                // ((((…)))): MARK … TUPLE
            bytes += [UInt8](repeating: 0x28, count: depth)
            bytes.append(0x4E)
            bytes += [UInt8](repeating: 0x74, count: depth)
        default:                                               // {"a": {"a": …}}
            for _ in 0..<depth { bytes += [0x7D, 0x8C, 1, 0x61] }
            bytes.append(0x4E)
            bytes += [UInt8](repeating: 0x73, count: depth)
        }
    }

    // MARK: violations

    private mutating func violation() {
        switch random.below(8) {
        case 0: bytes.append(random.pick([0x30, 0x31, 0x32, 0x2E, 0x28, 0x52, 0x62, 0x51, 0x93, 0x61, 0x73, 0x75, 0x65, 0x74]))
        case 1: bytes += [0x68, UInt8(random.below(256))]                                   // BINGET, maybe unwritten
        case 2: bytes += [0x6A] + random.bytes(4)                                           // LONG_BINGET anywhere
        case 3: bytes += [UInt8(random.below(256))] + random.bytes(random.below(10))        // any opcode, any arguments
        case 4: bytes += [random.pick([0x58, 0x8D, 0x8B, 0x42, 0x8E, 0x54])] + random.bytes(8)  // a length near the limits
        case 5: bytes += [0x63] + random.bytes(random.below(20))                            // GLOBAL without newlines
        case 6: scalar(); bytes.append(random.pick([0x61, 0x73, 0x75, 0x65, 0x62]))        // APPEND/SETITEM/BUILD on a scalar
        default: bytes += [0x49] + random.bytes(random.below(30)) + [0x0A]                  // INT of garbage
        }
    }

    // MARK: vocabulary

    private mutating func name() -> String { random.pick(Self.names) }

    private static let names = [
        "encoder.conv_in.weight", "encoder.conv_in.bias", "decoder.conv_out.weight", "decoder.conv_out.bias",
        "quant_conv.weight", "post_quant_conv.bias", "first_stage_model.encoder.conv_in.weight", "module.encoder.conv_in.weight",
        "_orig_mod.decoder.conv_out.bias", "vae.decoder.conv_out.weight", "state_dict", "model", "epoch", "loss", "lr",
        "optimizer_state_dict", "state", "param_groups", "step", "exp_avg", "exp_avg_sq", "params", "betas", "",
        "a\u{0}b", "é", String(repeating: "x", count: 300),
    ]

    private static let globals: [(String, String)] = [
        ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"), ("torch._tensor", "_rebuild_from_type_v2"), ("torch", "Size"),
        ("torch", "FloatStorage"), ("torch", "LongStorage"), ("torch.nn.parameter", "Parameter"), ("torch", "Tensor"),
        ("torch.storage", "UntypedStorage"), ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"),
        ("omegaconf.dictconfig", "DictConfig"), ("typing", "Any"), ("builtins", "dict"), ("__builtin__", "set"),
        ("argparse", "Namespace"), ("collections", "defaultdict"), ("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint"),
        ("os", "system"), ("builtins", "eval"), ("subprocess", "Popen"), ("posix", "system"), ("torch", "load"),
    ]

    private static let storageTypes: [(String, Int)] = [
        ("FloatStorage", 4), ("FloatStorage", 4), ("HalfStorage", 2), ("BFloat16Storage", 2), ("DoubleStorage", 8),
        ("FloatStorage", 4), ("FloatStorage", 4), ("HalfStorage", 2), ("LongStorage", 8), ("IntStorage", 4),
        ("BoolStorage", 1), ("ByteStorage", 1), ("ComplexFloatStorage", 8), ("QuantumStorage", 4),
    ]
}

/// Little-endian bytes of `v`, `width` of them.
func le(_ v: Int64, _ width: Int) -> [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * Int64($0))) } }
