import Foundation
import VAECore

/// The update rules of `--optimizer`, each as torch.optim computes it.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    /// torch.optim.Adam: weight decay (if any) is an L2 term added to the gradient.
    case adam
    /// torch.optim.AdamW: weight decay is decoupled, `w -= lr·wd·w` before the Adam step.
    case adamw
    /// torch.optim.SGD with momentum, dampening and Nesterov as torch defines them.
    case sgd
}

/// Everything that defines the update rule; stored in checkpoints with the training options.
public struct OptimizerSettings: Codable, Equatable, Sendable {
    public var kind: OptimizerKind = .adam
    public var beta1 = 0.9, beta2 = 0.999, eps = 1e-8
    public var weightDecay = 0.0
    public var momentum = 0.0, dampening = 0.0
    public var nesterov = false

    public init() {}

    /// torch's defaults: AdamW decays by 1e-2 unless told otherwise; Adam and SGD do not decay.
    public static func defaults(for kind: OptimizerKind) -> OptimizerSettings {
        var s = OptimizerSettings()
        s.kind = kind
        if kind == .adamw { s.weightDecay = 1e-2 }
        return s
    }

    /// The same combinations torch refuses, said in terms of the flags.
    public func validate() throws {
        func fail(_ why: String) -> VAEDistError { VAEDistError(why) }
        guard weightDecay >= 0, weightDecay.isFinite else { throw fail("--weight_decay must be ≥ 0, got \(weightDecay)") }
        guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
            throw fail("--adam_betas must each lie in [0, 1), got \(beta1),\(beta2)")
        }
        guard momentum >= 0, momentum.isFinite else { throw fail("--momentum must be ≥ 0, got \(momentum)") }
        guard (0...1).contains(dampening) else { throw fail("--dampening must lie in [0, 1], got \(dampening)") }
        if nesterov && (kind != .sgd || momentum <= 0 || dampening != 0) {
            throw fail("--nesterov needs --optimizer sgd with --momentum > 0 and --dampening 0")
        }
        if kind != .sgd && (momentum != 0 || dampening != 0) {
            throw fail("--momentum and --dampening apply to --optimizer sgd only (Adam's momentum is --adam_betas)")
        }
    }

    /// Names of the per-parameter state tensors, as torch's state_dict names them.
    public var stateNames: [String] {
        switch kind {
        case .adam, .adamw: return ["exp_avg", "exp_avg_sq"]
        case .sgd: return momentum == 0 ? [] : ["momentum_buffer"]
        }
    }
}

/// One optimizer over a model's parameters. `lr` is set by the schedule before each step.
public final class Optimizer {
    public let settings: OptimizerSettings
    public var lr: Double
    public private(set) var step = 0
    /// Per state name (`stateNames`), one tensor per parameter in the parameters' order.
    public let state: [String: [Tensor]]
    private let parameters: [Parameter]

    public init(parameters: [Parameter], lr: Double, settings: OptimizerSettings = OptimizerSettings()) {
        self.parameters = parameters
        self.lr = lr
        self.settings = settings
        var state: [String: [Tensor]] = [:]
        for name in settings.stateNames { state[name] = parameters.map { Tensor(shape: $0.value.shape) } }
        self.state = state
    }

    /// Every state tensor, in a fixed order (state names, then parameters): what replicas broadcast.
    public var stateTensors: [Tensor] { settings.stateNames.flatMap { state[$0]! } }

    /// Restores state saved from an earlier run (copied into place); `saved` maps state names to tensors.
    public func restore(step: Int, saved: [String: [Tensor]]) throws {
        for name in settings.stateNames {
            guard let tensors = saved[name], tensors.count == parameters.count else {
                throw VAEDistError("optimizer state '\(name)' is missing")
            }
            for (mine, theirs) in zip(state[name]!, tensors) { mine.copy(from: theirs) }
        }
        self.step = step
    }

    /// The step count alone, on a replica that receives the state tensors from another (the trainer's broadcast).
    public func restore(step: Int) { self.step = step }

    public func update() {
        Profile.measure(.optimizer) {
            step += 1
            switch settings.kind {
            case .adam, .adamw: adamStep()
            case .sgd: sgdStep()
            }
        }
    }

    private func adamStep() {
        let s = settings
        let biasCorrection1 = 1 - pow(s.beta1, Double(step))
        let biasCorrection2Sqrt = (1 - pow(s.beta2, Double(step))).squareRoot()
        let stepSize = Float(lr / biasCorrection1)
        let (b1, b2) = (Float(s.beta1), Float(s.beta2))
        // 1 − β in double, as torch does: Float(0.999) is 1.3e-8 above 0.999, so 1 − Float(0.999) would fall
        // 1.3e-5 (relative) short of 0.001 and make every step 6.4e-6 (relative) larger than torch's.
        let (c1, c2) = (Float(1 - s.beta1), Float(1 - s.beta2))
        let invBc2 = Float(1 / biasCorrection2Sqrt), e = Float(s.eps)
        // Adam folds decay into the gradient; AdamW shrinks the weight first (decoupled).
        let l2 = s.kind == .adam ? Float(s.weightDecay) : 0
        let shrink = s.kind == .adamw ? Float(1 - lr * s.weightDecay) : 1
        let expAvg = state["exp_avg"]!, expAvgSq = state["exp_avg_sq"]!
        for (i, p) in parameters.enumerated() {
            Tensor.withElements(of: [p.value, p.grad, expAvg[i], expAvgSq[i]]) { t in
                let (w, g, m, v) = (t[0], t[1], t[2], t[3])
                // Eight lanes at a time (the tail in part of a vector): lane by lane the same operations in the same
                // order as a scalar loop, so the same bits.
                @inline(__always) func update(_ j: Int, count: Int) {
                    let grad = VectorMath.load(g + j, count: count) + l2 * VectorMath.load(w + j, count: count)
                    let mj = b1 * VectorMath.load(m + j, count: count) + c1 * grad
                    let vj = b2 * VectorMath.load(v + j, count: count) + c2 * grad * grad
                    VectorMath.store(mj, m + j, count: count)
                    VectorMath.store(vj, v + j, count: count)
                    VectorMath.store(VectorMath.load(w + j, count: count) * shrink - stepSize * mj / (vj.squareRoot() * invBc2 + e), w + j, count: count)
                }
                parallelFor(p.value.count) { r in
                    var j = r.lowerBound
                    while j + 8 <= r.upperBound {
                        update(j, count: 8)
                        j += 8
                    }
                    if j < r.upperBound { update(j, count: r.upperBound - j) }
                }
            }
        }
    }

    private func sgdStep() {
        let s = settings
        let rate = Float(lr), decay = Float(s.weightDecay), mu = Float(s.momentum)
        let keep = Float(1 - s.dampening)
        let buffers = state["momentum_buffer"]
        let first = step == 1
        for (i, p) in parameters.enumerated() {
            // The momentum buffer, when there is one, comes third.
            Tensor.withElements(of: [p.value, p.grad] + (buffers.map { [$0[i]] } ?? [])) { t in
                let (w, g, buf) = (t[0], t[1], t.count > 2 ? t[2] : nil)
                parallelFor(p.value.count) { r in
                    for j in r {
                        var d = g[j] + decay * w[j]
                        if let buf {
                            // torch: the first step copies the gradient into the buffer (no dampening).
                            buf[j] = first ? d : mu * buf[j] + keep * d
                            d = s.nesterov ? d + mu * buf[j] : buf[j]
                        }
                        w[j] -= rate * d
                    }
                }
            }
        }
    }
}
