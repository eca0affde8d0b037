import Foundation

/// ldm's single-head spatial self-attention: h = norm(x); q, k, v = 1×1 convs of h;
/// w = softmax_j(q_i · k_j · C^-1/2); out = x + proj_out(Σ_j w_ij v_j). The products go through sgemm.
public final class AttnBlock: Layer {
    public let channels: Int
    public let norm: GroupNorm
    public let q, k, v, projOut: Conv2D
    private var cache: (q: Tensor, k: Tensor, v: Tensor, weights: Tensor)?

    public init(channels: Int, groups: Int) {
        self.channels = channels
        norm = GroupNorm(channels: channels, groups: groups)
        q = Conv2D(inChannels: channels, outChannels: channels, kernel: 1)
        k = Conv2D(inChannels: channels, outChannels: channels, kernel: 1)
        v = Conv2D(inChannels: channels, outChannels: channels, kernel: 1)
        projOut = Conv2D(inChannels: channels, outChannels: channels, kernel: 1)
    }

    public var convolutions: [Conv2D] { [q, k, v, projOut] }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        prefixed([("norm", norm), ("q", q), ("k", k), ("v", v), ("proj_out", projOut)])
    }

    private var scale: Float { Float(1 / Double(channels).squareRoot()) }

    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        let d = x.dims
        let hw = d.plane, c = channels
        let h = norm.forward(x, train: train)
        let qt = q.forward(h, train: train), kt = k.forward(h, train: train), vt = v.forward(h, train: train)
        // weights[n] is [HW queries, HW keys]; kept for backward when training.
        let weights = Tensor(shape: [train ? d.n : 1, hw, hw])
        let attended = Tensor(shape: d.shape)
        for n in 0..<d.n {
            let w = weights.data + (train ? n * hw * hw : 0)
            let off = n * c * hw
            // w = qᵀ k · scale, then softmax over keys
            sgemm(transA: true, m: hw, n: hw, k: c, alpha: scale, a: qt.data + off, b: kt.data + off, c: w, kind: .attention)
            Elementwise.softmaxRows(w, rows: hw, columns: hw)
            // attended[c, i] = Σ_j v[c, j] w[i, j]  →  v · wᵀ
            sgemm(transB: true, m: c, n: hw, k: hw, a: vt.data + off, b: w, c: attended.data + off, kind: .attention)
        }
        cache = train ? (qt, kt, vt, weights) : nil
        let out = projOut.forward(attended, train: train)
        Elementwise.accumulate(x, into: out)
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let (qt, kt, vt, weights) = cache else { preconditionFailure("AttnBlock.backward without a training forward") }
        cache = nil
        let d = dy.dims
        let hw = d.plane, c = channels
        let dAttended = projOut.backward(dy)
        let dq = Tensor(shape: d.shape), dk = Tensor(shape: d.shape), dv = Tensor(shape: d.shape)
        let dw = Tensor(shape: [hw, hw])
        for n in 0..<d.n {
            let w = weights.data + n * hw * hw
            let off = n * c * hw
            // dv = dA · w ;  dw = dAᵀ · v
            sgemm(m: c, n: hw, k: hw, a: dAttended.data + off, b: w, c: dv.data + off, kind: .attention)
            sgemm(transA: true, m: hw, n: hw, k: c, a: dAttended.data + off, b: vt.data + off, c: dw.data, kind: .attention)
            Elementwise.softmaxRowsBackward(w, dw.data, rows: hw, columns: hw)
            // dq = scale · k · dsᵀ ;  dk = scale · q · ds
            sgemm(transB: true, m: c, n: hw, k: hw, alpha: scale, a: kt.data + off, b: dw.data, c: dq.data + off, kind: .attention)
            sgemm(m: c, n: hw, k: hw, alpha: scale, a: qt.data + off, b: dw.data, c: dk.data + off, kind: .attention)
        }
        let dh = q.backward(dq)
        Elementwise.accumulate(k.backward(dk), into: dh)
        // The key bias adds the same constant to every logit of a query's row, which softmax ignores: its
        // gradient is exactly zero. Computed, it is rounding noise that Adam (normalising by its own size)
        // would turn into steps of up to lr, making runs differ with the summation order.
        k.bias.grad.zero()
        Elementwise.accumulate(v.backward(dv), into: dh)
        let dx = norm.backward(dh)
        Elementwise.accumulate(dy, into: dx)
        return dx
    }
}

extension AttnBlock: MeasuredLayer {
    /// Keeps the norm's input, q, k, v and the attended values, besides the weights (`attentionShare`); inference
    /// allocates as many while it runs.
    func footprint(_ input: ActivationShape) -> Footprint {
        let x = ActivationShape(channels: channels, share: input.share)
        return Footprint(output: x, kept: 5 * x.floats,
                         inference: Footprint.Inference(input: x.floats, working: 5 * x.floats, output: x.floats),
                         attentionShare: x.share)
    }
}
