import VAECore
import VAEFormats

/// `--ema_decay`: a shadow copy of the weights, `ema = d·ema + (1 − d)·w` after every optimizer step, saved
/// as `ema.NAME` in checkpoints and as vae_final_ema.safetensors (weights any command loads).
public final class ExponentialMovingAverage {
    public let decay: Double
    /// One tensor per parameter, in the model's parameter order.
    public let shadow: [Tensor]
    private let parameters: [Parameter]

    public init(parameters: [Parameter], decay: Double) {
        self.parameters = parameters
        self.decay = decay
        shadow = parameters.map { p in
            let t = Tensor(shape: p.value.shape)
            t.copy(from: p.value)
            return t
        }
    }

    public func update() {
        let d = Float(decay), keep = Float(1 - decay)
        for (p, s) in zip(parameters, shadow) {
            Tensor.withElements(of: [p.value, s]) { t in
                let (w, e) = (t[0], t[1])
                parallelFor(p.value.count) { r in
                    for j in r { e[j] = d * e[j] + keep * w[j] }
                }
            }
        }
    }

    /// The averaged weights under the model's (ldm) names.
    public func weightsFile(names: [String]) -> SafeTensors {
        var file = SafeTensors()
        for (name, tensor) in zip(names, shadow) { file.add(name, tensor) }
        return file
    }
}
