import VAECore

/// torch.optim's update rules that vae-dist implements, by their class names.
public enum TorchOptimizerKind: String, Sendable {
    case adam = "Adam", adamw = "AdamW", sgd = "SGD"

    /// The per-parameter state tensors torch keeps (besides Adam's `step`).
    public func stateNames(momentum: Double) -> [String] {
        switch self {
        case .adam, .adamw: return ["exp_avg", "exp_avg_sq"]
        case .sgd: return momentum == 0 ? [] : ["momentum_buffer"]
        }
    }
}

/// One param group of an optimizer's `state_dict()`: its hyper-parameters as torch 2.x writes them.
public struct TorchParamGroup: Equatable, Sendable {
    public var kind: TorchOptimizerKind
    public var lr: Double
    public var betas = (0.9, 0.999)
    public var eps = 1e-8
    public var weightDecay = 0.0
    public var momentum = 0.0, dampening = 0.0
    public var nesterov = false

    public init(kind: TorchOptimizerKind, lr: Double) { (self.kind, self.lr) = (kind, lr) }

    public static func == (a: TorchParamGroup, b: TorchParamGroup) -> Bool {
        (a.kind, a.lr, a.betas.0, a.betas.1, a.eps, a.weightDecay) == (b.kind, b.lr, b.betas.0, b.betas.1, b.eps, b.weightDecay)
            && (a.momentum, a.dampening, a.nesterov) == (b.momentum, b.dampening, b.nesterov)
    }

    /// Every key torch 2.x writes for this optimizer, in its order (printed by `torch.optim.Adam(...).state_dict()`;
    /// `decoupled_weight_decay` tells Adam from AdamW since torch 2.6), then `params`: the indices of the parameters.
    func saveValue(parameterCount: Int) -> TorchSaveValue {
        // torch's defaults are the int 0 (`weight_decay=0`): a zero is written as they would be.
        func number(_ x: Double) -> TorchSaveValue { x == 0 ? .int(0) : .float(x) }
        var items: [(String, TorchSaveValue)] = [("lr", .float(lr))]
        switch kind {
        case .adam, .adamw:
            items += [("betas", .tuple([.float(betas.0), .float(betas.1)])), ("eps", .float(eps)),
                      ("weight_decay", number(weightDecay)), ("amsgrad", .bool(false)), ("maximize", .bool(false)),
                      ("foreach", .none), ("capturable", .bool(false)), ("differentiable", .bool(false)), ("fused", .none),
                      ("decoupled_weight_decay", .bool(kind == .adamw))]
        case .sgd:
            items += [("momentum", number(momentum)), ("dampening", number(dampening)), ("weight_decay", number(weightDecay)),
                      ("nesterov", .bool(nesterov)), ("maximize", .bool(false)), ("foreach", .none),
                      ("differentiable", .bool(false)), ("fused", .none)]
        }
        items.append(("params", .list((0..<parameterCount).map { .int($0) })))
        return .dict(items)
    }

    /// In the words of `--optimizer` and its flags, for messages.
    public var description: String {
        switch kind {
        case .adam, .adamw:
            return "\(kind.rawValue) (lr \(lr), betas \(betas.0),\(betas.1), eps \(eps), weight_decay \(weightDecay))"
        case .sgd:
            return "SGD (lr \(lr), momentum \(momentum), dampening \(dampening), weight_decay \(weightDecay), nesterov \(nesterov))"
        }
    }
}

/// An optimizer's `state_dict()` to write: `{"state": {index: {...}}, "param_groups": [group]}`, parameters by their
/// index in `model.parameters()` order.
public struct TorchOptimizerState {
    public var group: TorchParamGroup
    /// Optimizer steps taken; 0 writes the empty state of a fresh optimizer, as torch does.
    public var step: Int
    /// Per state name (`TorchOptimizerKind.stateNames`), one tensor per parameter in parameter order.
    public var tensors: [String: [TorchSaveTensor]]
    public var parameterCount: Int

    public init(group: TorchParamGroup, step: Int, tensors: [String: [TorchSaveTensor]], parameterCount: Int) {
        (self.group, self.step, self.tensors, self.parameterCount) = (group, step, tensors, parameterCount)
    }

    /// A fresh optimizer over `parameterCount` parameters (no step taken): what torch writes before training.
    public static func fresh(_ group: TorchParamGroup, parameterCount: Int) -> TorchOptimizerState {
        TorchOptimizerState(group: group, step: 0, tensors: [:], parameterCount: parameterCount)
    }

    func saveValue() -> TorchSaveValue {
        var state: [(key: TorchSaveValue, value: TorchSaveValue)] = []
        let names = group.kind.stateNames(momentum: group.momentum)
        if step > 0 && !names.isEmpty {
            for index in 0..<parameterCount {
                // Adam and AdamW keep `step` per parameter as a float32 0-d tensor (torch ≥ 1.12).
                var items: [(String, TorchSaveValue)] = group.kind == .sgd ? [] : [("step", .tensor(.scalar(Float(step))))]
                items += names.map { ($0, .tensor(tensors[$0]![index])) }
                state.append((.int(index), .dict(items)))
            }
        }
        return .dict([("state", .dict(state)), ("param_groups", .list([group.saveValue(parameterCount: parameterCount)]))])
    }
}
