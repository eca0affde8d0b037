/// ldm's ResnetBlock without time embedding and with dropout 0:
/// h = conv2(swish(norm2(conv1(swish(norm1(x)))))), out = shortcut(x) + h (norm and swish fused),
/// where the shortcut is a 1×1 `nin_shortcut` when the channel count changes.
public final class ResnetBlock: Layer {
    public let norm1: GroupNorm, conv1: Conv2D, norm2: GroupNorm, conv2: Conv2D
    public let ninShortcut: Conv2D?

    public init(inChannels: Int, outChannels: Int, groups: Int) {
        norm1 = GroupNorm(channels: inChannels, groups: groups, swish: true)
        conv1 = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 3)
        norm2 = GroupNorm(channels: outChannels, groups: groups, swish: true)
        conv2 = Conv2D(inChannels: outChannels, outChannels: outChannels, kernel: 3)
        ninShortcut = inChannels == outChannels ? nil : Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 1)
    }

    public var convolutions: [Conv2D] { [conv1, conv2] + (ninShortcut.map { [$0] } ?? []) }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var children: [(String, ParameterOwner)] = [("norm1", norm1), ("conv1", conv1), ("norm2", norm2), ("conv2", conv2)]
        if let ninShortcut { children.append(("nin_shortcut", ninShortcut)) }
        return prefixed(children)
    }

    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        // The norms' outputs are never written: each convolution normalises its input rows as it reads them, and
        // a training forward keeps only the norms' inputs (which the norms keep anyway).
        var h = conv1.forward(norm1.normalizedInput(x, train: train), train: train)
        h = conv2.forward(norm2.normalizedInput(h, train: train), train: train)
        let skip = ninShortcut?.forward(x, train: train) ?? x
        Elementwise.accumulate(skip, into: h)
        return h
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var g = conv2.backward(dy)
        g = norm2.backward(g)
        g = conv1.backward(g)
        let dx = norm1.backward(g)
        if let ninShortcut {
            let ds = ninShortcut.backward(dy)
            Elementwise.accumulate(ds, into: dx)
        } else {
            Elementwise.accumulate(dy, into: dx)
        }
        return dx
    }
}

extension ResnetBlock: MeasuredLayer {
    /// Keeps norm1's input (shared with the shortcut) and norm2's; the convolutions read their norms' outputs
    /// unwritten. In inference the input (the skip) is alive with conv1's output while conv2 writes its own, and
    /// then with conv2's output while the shortcut writes its own. Backward holds gradients, recomputed inputs
    /// and outputs: about three of its widest tensor.
    func footprint(_ input: ActivationShape) -> Footprint {
        let output = ActivationShape(channels: conv2.outChannels, share: input.share)
        return Footprint(output: output, kept: input.floats + output.floats,
                         backwardTemporaries: 3 * max(input.floats, output.floats),
                         inference: Footprint.Inference(input: input.floats, working: 2 * output.floats,
                                                        output: output.floats),
                         winogradScratch: max(conv1.winogradScratch, conv2.winogradScratch))
    }
}
