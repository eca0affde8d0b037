/// 2-D convolution with bias (PyTorch's Conv2d), weight [Cout, Cin, K, K].
/// K×K kernels go through im2col + GEMM; 1×1 stride-1 kernels are a plain GEMM on the input.
public final class Conv2D: ParameterOwner {
    public let inChannels, outChannels, kernel, stride: Int
    /// (top, left, bottom, right) zero padding; ldm's Downsample pads (0, 1, 0, 1) asymmetrically.
    public let padding: (top: Int, left: Int, bottom: Int, right: Int)
    public let weight: Parameter
    public let bias: Parameter
    private var input: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
                padding: (top: Int, left: Int, bottom: Int, right: Int)? = nil) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        let p = kernel / 2
        self.padding = padding ?? (p, p, p, p)
        weight = Parameter(shape: [outChannels, inChannels, kernel, kernel])
        bias = Parameter(shape: [outChannels])
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == (0, 0, 0, 0) }

    private func geometry(_ d: Dims4) -> ConvGeometry {
        ConvGeometry(channels: d.c, height: d.h, width: d.w, kernel: kernel, stride: stride,
                     padTop: padding.top, padLeft: padding.left, padBottom: padding.bottom, padRight: padding.right)
    }

    public func forward(_ x: Tensor, train: Bool) -> Tensor {
        let d = x.dims
        precondition(d.c == inChannels, "Conv2D expects \(inChannels) channels, got \(d.c)")
        let g = geometry(d)
        let (ho, wo) = (g.outHeight, g.outWidth)
        let y = Tensor(shape: [d.n, outChannels, ho, wo])
        let col = isPointwise ? nil : Tensor(shape: [g.colRows, g.colColumns])
        for n in 0..<d.n {
            let xn = x.data + n * d.c * d.plane
            let yn = y.data + n * outChannels * ho * wo
            // Bias first, then accumulate the GEMM onto it (beta = 1).
            for o in 0..<outChannels { (yn + o * ho * wo).update(repeating: bias.value.data[o], count: ho * wo) }
            let b: UnsafePointer<Float>
            if let col {
                im2col(xn, g, col.data)
                b = UnsafePointer(col.data)
            } else {
                b = UnsafePointer(xn)
            }
            sgemm(m: outChannels, n: ho * wo, k: g.colRows, a: weight.value.data, b: b, beta: 1, c: yn)
        }
        input = train ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Conv2D.backward without a training forward") }
        input = nil
        let d = x.dims
        let g = geometry(d)
        let hw = g.colColumns
        let dx = Tensor(shape: d.shape)
        let col = isPointwise ? nil : Tensor(shape: [g.colRows, hw])
        for n in 0..<d.n {
            let xn = x.data + n * d.c * d.plane
            let dyn = dy.data + n * outChannels * hw
            for o in 0..<outChannels {
                var s: Float = 0
                let row = dyn + o * hw
                for i in 0..<hw { s += row[i] }
                bias.grad.data[o] += s
            }
            let colData: UnsafePointer<Float>
            if let col {
                im2col(xn, g, col.data)
                colData = UnsafePointer(col.data)
            } else {
                colData = UnsafePointer(xn)
            }
            // dW += dY · colᵀ
            sgemm(transB: true, m: outChannels, n: g.colRows, k: hw, a: dyn, b: colData, beta: 1, c: weight.grad.data)
            // dcol = Wᵀ · dY, folded back onto the image
            let dxn = dx.data + n * d.c * d.plane
            if let col {
                sgemm(transA: true, m: g.colRows, n: hw, k: outChannels, a: weight.value.data, b: dyn, c: col.data)
                col2im(col.data, g, dxn)
            } else {
                sgemm(transA: true, m: g.colRows, n: hw, k: outChannels, a: weight.value.data, b: dyn, c: dxn)
            }
        }
        return dx
    }
}
