import Foundation

/// torch.optim.Adam (no weight decay, no amsgrad): bias-corrected first and second moments.
public final class Adam {
    public var lr: Double
    public let beta1, beta2, eps: Double
    public private(set) var step = 0
    /// First and second moment estimates, one pair per parameter, in the parameters' order.
    public let expAvg: [Tensor]
    public let expAvgSq: [Tensor]
    private let parameters: [Parameter]

    public init(parameters: [Parameter], lr: Double, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        self.parameters = parameters
        self.lr = lr
        (self.beta1, self.beta2, self.eps) = (beta1, beta2, eps)
        expAvg = parameters.map { Tensor(shape: $0.value.shape) }
        expAvgSq = parameters.map { Tensor(shape: $0.value.shape) }
    }

    /// Restores state saved from an earlier run (the moments are copied into place).
    public func restore(step: Int, expAvg: [Tensor], expAvgSq: [Tensor]) {
        precondition(expAvg.count == parameters.count && expAvgSq.count == parameters.count)
        self.step = step
        for i in parameters.indices {
            self.expAvg[i].copy(from: expAvg[i])
            self.expAvgSq[i].copy(from: expAvgSq[i])
        }
    }

    public func update() {
        Profile.measure(.optimizer) {
            step += 1
            let biasCorrection1 = 1 - pow(beta1, Double(step))
            let biasCorrection2Sqrt = (1 - pow(beta2, Double(step))).squareRoot()
            let stepSize = Float(lr / biasCorrection1)
            let (b1, b2) = (Float(beta1), Float(beta2))
            let invBc2 = Float(1 / biasCorrection2Sqrt), e = Float(eps)
            for (i, p) in parameters.enumerated() {
                let w = p.value.data, g = p.grad.data, m = expAvg[i].data, v = expAvgSq[i].data
                parallelFor(p.value.count) { r in
                    for j in r {
                        m[j] = b1 * m[j] + (1 - b1) * g[j]
                        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                        w[j] -= stepSize * m[j] / (v[j].squareRoot() * invBc2 + e)
                    }
                }
            }
    
        }
    }
}
