import Foundation
import VAECore

/// What a training checkpoint holds beside the weights: epoch, optimizer state and loss.
public struct TorchTrainingState {
    public var epoch: Int
    public var optimizer: TorchOptimizerState
    public var loss: Double?

    public init(epoch: Int, optimizer: TorchOptimizerState, loss: Double?) {
        (self.epoch, self.optimizer, self.loss) = (epoch, optimizer, loss)
    }

    /// The original tool's state before its first step: epoch 0, a fresh `Adam(model.parameters(), lr=1e-4)` (its
    /// optimizer and default --lr; torch writes an empty `state` for it), no loss. Its resume snippet loads it and
    /// starts at epoch 0.
    public static func fresh(parameterCount: Int) -> TorchTrainingState {
        TorchTrainingState(epoch: 0, optimizer: .fresh(TorchParamGroup(kind: .adam, lr: 1e-4), parameterCount: parameterCount), loss: nil)
    }
}

/// A training checkpoint in the original PyTorch tool's layout, `torch.save({"epoch", "model_state_dict",
/// "optimizer_state_dict", "loss"})`, so that its resume snippet works as it is:
/// `model.load_state_dict(checkpoint['model_state_dict'])` (strict), `optimizer.load_state_dict(...)`,
/// `start_epoch = checkpoint['epoch']`. The model's weights are under ldm names in `model.parameters()` order, the
/// optimizer's state is keyed by that order's index. vae-dist's own files add keys the snippet never reads:
/// `vae_dist` (the strings of a safetensors checkpoint's metadata: config, options, position, run id) and, with
/// --ema_decay, `ema_state_dict`: with them a .pt resumes exactly as a .safetensors checkpoint does.
public enum TorchTrainingCheckpoint {
    /// The dict holding the weights.
    public static let weightsKey = "model_state_dict"

    /// `epoch` counts the completed epochs, the start epoch of a resumed loop (`range(start_epoch, epochs)`).
    public static func write(epoch: Int, weights: [(name: String, tensor: TorchSaveTensor)], optimizer: TorchOptimizerState,
                             loss: Double?, metadata: [String: String]? = nil,
                             ema: [(name: String, tensor: TorchSaveTensor)]? = nil, to path: String) throws {
        var items: [(String, TorchSaveValue)] = [
            ("epoch", .int(epoch)),
            (weightsKey, .orderedDict(weights.map { ($0.name, .tensor($0.tensor)) })),
            ("optimizer_state_dict", optimizer.saveValue()),
            ("loss", loss.map { .float($0) } ?? .none),
        ]
        if let ema { items.append(("ema_state_dict", .orderedDict(ema.map { ($0.name, .tensor($0.tensor)) }))) }
        if let metadata { items.append(("vae_dist", .dict(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))) }
        try TorchSave.write(.dict(items), to: path)
    }

    /// What a checkpoint in this layout holds, decoded.
    public struct Contents {
        public let epoch: Int
        public let loss: Double?
        /// `model_state_dict` in the file's order.
        public let weights: [(name: String, entry: SafeTensors.Entry)]
        public let group: TorchParamGroup
        /// False when the file cannot tell AdamW from Adam: torch before 2.6 wrote no `decoupled_weight_decay`.
        public let distinguishesAdamW: Bool
        /// Adam's `step` (0 for a fresh optimizer); nil where the file does not say: SGD counts no steps, so past
        /// its first step (momentum buffers present, or no momentum at all) the count is unknown.
        public let step: Int?
        /// Per state name, one tensor per parameter in index order; empty for a fresh optimizer.
        public let optimizerTensors: [String: [SafeTensors.Entry]]
        /// The `vae_dist` strings of vae-dist's own files; nil in the original tool's.
        public let metadata: [String: String]?
        public let ema: [(name: String, entry: SafeTensors.Entry)]?
    }

    /// Reads a file of this layout, naming the file and the key of anything missing or malformed.
    public static func read(path: String) throws -> Contents {
        try read(TorchDocument(path: path))
    }

    /// The same, of a file whose whole contents are `bytes` (as rank 0 read and sent them).
    public static func read(bytes: [UInt8], path: String) throws -> Contents {
        try read(TorchDocument(bytes: bytes, path: path))
    }

    private static func read(_ document: TorchDocument) throws -> Contents {
        let (path, root) = (document.path, document.root)
        func fail(_ why: String) -> VAEDistError {
            VAEDistError("\(path): \(why); the original tool's checkpoints hold {\"epoch\", \"model_state_dict\", \"optimizer_state_dict\", \"loss\"}")
        }
        guard root.items != nil else { throw fail("the checkpoint holds \(root.kind), not a dict") }
        guard let epoch = root["epoch"]?.int, epoch >= 0 else {
            throw fail("'epoch' is \(root["epoch"].map { "\($0.kind)" } ?? "missing"), not a count of epochs")
        }
        guard let model = root[weightsKey], let modelItems = model.items else { throw fail("'\(weightsKey)' is missing or not a dict") }
        let weights = try tensors(modelItems, in: weightsKey, path: path)
        guard let optimizer = root["optimizer_state_dict"] else { throw fail("'optimizer_state_dict' is missing") }
        let (group, step, state) = try readOptimizer(optimizer, parameterCount: weights.count, path: path)
        let metadata = root["vae_dist"].flatMap(strings)
        let ema = try root["ema_state_dict"]?.items.map { try tensors($0, in: "ema_state_dict", path: path) }
        let distinguishes = optimizer["param_groups"]?.elements?.first?["decoupled_weight_decay"]?.bool != nil
        return Contents(epoch: epoch, loss: root["loss"]?.number, weights: weights, group: group, distinguishesAdamW: distinguishes, step: step,
                        optimizerTensors: state, metadata: metadata, ema: ema)
    }

    private static func tensors(_ items: [(key: TorchObject, value: TorchObject)], in dict: String,
                                path: String) throws -> [(name: String, entry: SafeTensors.Entry)] {
        try items.map { key, value in
            guard let name = key.string else { throw VAEDistError("\(path): '\(dict)' has a key that is \(key.kind), not a name") }
            return (name, try value.tensor(name: "\(dict).\(name)"))
        }
    }

    /// `optimizer_state_dict`: one param group over every parameter, and per parameter the state of its kind.
    /// (Kept in small functions over plain values: Swift 6.3's optimizer crashed on one large one in release builds.)
    private static func readOptimizer(_ dict: TorchObject, parameterCount: Int,
                                      path: String) throws -> (TorchParamGroup, Int?, [String: [SafeTensors.Entry]]) {
        let fail = { (why: String) in VAEDistError("\(path): optimizer_state_dict \(why)") }
        guard let groups = dict["param_groups"]?.elements, let stateItems = dict["state"]?.items else {
            throw fail("lacks 'state' or 'param_groups' (not a torch.optim state_dict)")
        }
        guard groups.count == 1, groups[0].items != nil else {
            throw fail("has \(groups.count) param groups; vae-dist trains every parameter in one group")
        }
        let group = try readParamGroup(groups[0], parameterCount: parameterCount, fail: fail)
        let names = group.kind.stateNames(momentum: group.momentum)
        if names.isEmpty { return (group, nil, [:]) }
        if stateItems.isEmpty { return (group, 0, [:]) }
        guard stateItems.count == parameterCount else {
            throw fail("has state for \(stateItems.count) of the \(parameterCount) parameters")
        }
        var tensors: [String: [SafeTensors.Entry]] = [:]
        for name in names { tensors[name] = [] }
        var steps = Set<Int>()
        for expected in 0..<parameterCount {
            let key = stateItems[expected].key, state = stateItems[expected].value
            let index: Int? = key.int
            guard index == expected else {
                throw fail("'state' has the key \(index.map { String($0) } ?? key.kind) where \(expected) belongs")
            }
            for name in names {
                guard let tensor = state[name], tensor.isTensor else { throw fail("state[\(expected)] lacks the tensor '\(name)'") }
                tensors[name, default: []].append(try tensor.tensor(name: "optimizer_state_dict.state.\(expected).\(name)"))
            }
            if group.kind != .sgd { steps.insert(try readStep(state, index: expected, fail: fail)) }
        }
        guard steps.count <= 1 else { throw fail("holds parameters at different steps (\(steps.sorted().map { String($0) }.joined(separator: ", ")))") }
        return (group, steps.first, tensors)
    }

    private static func readParamGroup(_ g: TorchObject, parameterCount: Int, fail: (String) -> VAEDistError) throws -> TorchParamGroup {
        let params: [TorchObject] = g["params"]?.elements ?? []
        var inOrder = params.count == parameterCount
        for (i, param) in params.enumerated() where inOrder {
            let value: Int? = param.int
            inOrder = value == i
        }
        guard inOrder else {
            throw fail("param_groups[0]['params'] is not [0, …, \(parameterCount - 1)], the \(parameterCount) tensors of model_state_dict in order")
        }
        guard let lr = g["lr"]?.number else { throw fail("param_groups[0] has no 'lr'") }
        for flag in ["amsgrad", "maximize"] where g[flag]?.bool == true {
            throw fail("uses \(flag)=True, which vae-dist does not implement")
        }
        var group: TorchParamGroup
        let betas: [Double] = (g["betas"]?.elements ?? []).compactMap { $0.number }
        if betas.count == 2 {
            // AdamW says so since torch 2.6 (decoupled_weight_decay); before, the key is absent and AdamW and Adam
            // with weight decay look alike: their state is the same, the trainer's --optimizer decides.
            group = TorchParamGroup(kind: g["decoupled_weight_decay"]?.bool == true ? .adamw : .adam, lr: lr)
            group.betas = (betas[0], betas[1])
            group.eps = g["eps"]?.number ?? group.eps
        } else if let momentum = g["momentum"]?.number {
            group = TorchParamGroup(kind: .sgd, lr: lr)
            group.momentum = momentum
            group.dampening = g["dampening"]?.number ?? 0
            group.nesterov = g["nesterov"]?.bool ?? false
        } else {
            throw fail("is of an optimizer other than Adam, AdamW or SGD (param_groups[0] has neither 'betas' nor 'momentum')")
        }
        group.weightDecay = g["weight_decay"]?.number ?? 0
        return group
    }

    /// Adam's `step` of one parameter: a float32 0-d tensor since torch 1.12, a Python number before.
    private static func readStep(_ state: TorchObject, index: Int, fail: (String) -> VAEDistError) throws -> Int {
        var step: Double?
        if let raw = state["step"] {
            step = raw.isTensor ? try raw.tensor(name: "step").values.first.map { Double($0) } : raw.number
        }
        guard let step, step >= 0, step == step.rounded(), step < Double(Int32.max) else {
            throw fail("state[\(index)]['step'] is missing or not a count of steps")
        }
        return Int(step)
    }
}

extension TorchTrainingCheckpoint {
    /// The `vae_dist` strings of a .pt, from its pickle alone (no storage is read); nil when it has none.
    public static func readMetadata(path: String) throws -> [String: String]? {
        try TorchDocument(path: path).root["vae_dist"].flatMap(strings)
    }

    /// A dict's string values under string keys (others are not vae-dist's).
    private static func strings(_ dict: TorchObject) -> [String: String]? {
        dict.items.map { items in
            Dictionary(items.compactMap { item in item.key.string.flatMap { k in item.value.string.map { (k, $0) } } },
                       uniquingKeysWith: { a, _ in a })
        }
    }
}
