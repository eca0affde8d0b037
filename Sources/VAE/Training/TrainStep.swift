/// One forward and backward pass of the training objective; gradients are accumulated into the parameters.
public struct StepResult {
    public let losses: Losses
    public let posterior: DiagonalGaussian
    public let z: Tensor
    public let reconstruction: Tensor
}

extension AutoencoderKL {
    /// Encodes, samples z with the given noise, decodes, evaluates the loss and backpropagates it.
    /// `batchTotal` is the global batch the loss is averaged over (this call may see only a share of it).
    /// `ready` is called each time the next group of `backwardGroups` has its final gradient.
    @discardableResult
    public func forwardBackward(input: Tensor, eps: Tensor, loss: VAELoss, batchTotal: Int? = nil,
                                ready: () -> Void = {}) -> StepResult {
        let total = batchTotal ?? input.shape[0]
        let posterior = encode(input, train: true)
        let z = posterior.sample(eps: eps)
        let rec = decode(z, train: true)
        let (losses, dRec) = loss.evaluate(rec: rec, input: input, posterior: posterior, batchTotal: total)
        let dz = decodeBackward(dRec, ready: ready)
        encodeBackward(posterior.momentsGradient(dz: dz, eps: eps, klScale: loss.klGradientScale(posterior, batchTotal: total)),
                       ready: ready)
        return StepResult(losses: losses, posterior: posterior, z: z, reconstruction: rec)
    }
}
