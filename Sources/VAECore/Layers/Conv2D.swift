/// 2-D convolution with bias (PyTorch's Conv2d), weight [Cout, Cin, K, K].
/// 3×3 stride-1 pad-1 kernels (most of the VAE's work) go through Winograd: F(2×2, 3×3), or F(4×4, 3×3)
/// (`winogradTiling`); 1×1 stride-1 kernels
/// are a plain GEMM on the input; the rest (the stride-2 downsampling) through im2col + GEMM, in blocks of
/// output pixels in forward (`convolveBlocked`).
public final class Conv2D: Layer {
    public let inChannels, outChannels, kernel, stride: Int
    /// (top, left, bottom, right) zero padding; ldm's Downsample pads (0, 1, 0, 1) asymmetrically.
    public let padding: (top: Int, left: Int, bottom: Int, right: Int)
    public let weight: Parameter
    public let bias: Parameter
    private var input: Tensor?
    /// What a training forward of a fused group norm's output keeps instead (`forward(_: NormalizedTensor, train:)`).
    private var normalizedInput: NormalizedTensor?
    /// Whether the kept input is the low-resolution tensor of an upsampling forward.
    private var inputUpsampled = false
    /// The Winograd algorithm of a 3×3 stride-1 convolution's output, input gradient and weight gradient (F(4×4):
    /// 1.8× fewer multiplications than F(2×2), at several times its rounding error, bounded in ConvolutionAlgorithmTests;
    /// the model chooses it per network, `ConvolutionArithmetic`).
    public var winogradTiling = WinogradTiling.f2x2

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1,
                padding: (top: Int, left: Int, bottom: Int, right: Int)? = nil) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        let p = kernel / 2
        self.padding = padding ?? (p, p, p, p)
        let fanIn = inChannels * kernel * kernel
        weight = Parameter(shape: [outChannels, inChannels, kernel, kernel], initialization: .uniform(fanIn: fanIn))
        bias = Parameter(shape: [outChannels], initialization: .uniform(fanIn: fanIn))
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var convolutions: [Conv2D] { [self] }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == (0, 0, 0, 0) }
    private var isWinograd: Bool { kernel == 3 && stride == 1 && padding == (1, 1, 1, 1) }
    /// Whether the convolution can read a group norm's output unwritten (`forward(_: NormalizedTensor, train:)`).
    public var readsNormalizedInput: Bool { isWinograd }

    private func geometry(_ d: Dims4) -> ConvGeometry {
        ConvGeometry(channels: d.c, height: d.h, width: d.w, kernel: kernel, stride: stride,
                     padTop: padding.top, padLeft: padding.left, padBottom: padding.bottom, padRight: padding.right)
    }

    /// With `upsampling`, the convolution is applied to the nearest-neighbour ×2 upsampling of x without
    /// building it (3×3 stride-1 convolutions only); backward then returns the gradient of the small x.
    public func forward(_ x: Tensor, train: Bool, upsampling: Bool = false) -> Tensor {
        let d = x.dims
        precondition(d.c == inChannels, "Conv2D expects \(inChannels) channels, got \(d.c)")
        precondition(!upsampling || isWinograd, "only 3×3 stride-1 convolutions fuse the upsampling")
        (input, normalizedInput) = (train ? x : nil, nil)
        inputUpsampled = upsampling
        if isWinograd { return winogradForward(x, upsampled: upsampling, normalization: nil) }
        let g = geometry(d)
        let (ho, wo) = (g.outHeight, g.outWidth)
        let y = Tensor(uninitializedShape: [d.n, outChannels, ho, wo])
        for n in 0..<d.n {
            let xn = x.data + n * d.c * d.plane
            let yn = y.data + n * outChannels * ho * wo
            if isPointwise {
                // Bias first, then accumulate the GEMM onto it (beta = 1).
                for o in 0..<outChannels { (yn + o * ho * wo).update(repeating: bias.value.data[o], count: ho * wo) }
                sgemm(m: outChannels, n: ho * wo, k: g.colRows, a: weight.value.data, b: xn, beta: 1, c: yn)
            } else {
                convolveBlocked(xn, g, weight: weight.value.data, bias: bias.value.data, outChannels: outChannels, into: yn)
            }
        }
        return y
    }

    /// The column matrix of one image: im2col into `col`, or the image itself for a 1×1 convolution.
    private func columns(_ xn: UnsafePointer<Float>, _ g: ConvGeometry, _ col: Tensor?) -> UnsafePointer<Float> {
        guard let col else { return xn }
        im2col(xn, g, col.data)
        return UnsafePointer(col.data)
    }

    public func forward(_ x: Tensor, train: Bool) -> Tensor { forward(x, train: train, upsampling: false) }

    /// The convolution of a group norm's output that was never written: the Winograd input transform normalises
    /// each row as it reads it, bitwise as the norm would have (3×3 stride-1 convolutions, `readsNormalizedInput`).
    public func forward(_ x: NormalizedTensor, train: Bool) -> Tensor {
        precondition(x.source.dims.c == inChannels, "Conv2D expects \(inChannels) channels, got \(x.source.dims.c)")
        precondition(readsNormalizedInput, "only 3×3 stride-1 convolutions read a normalised input")
        (input, normalizedInput, inputUpsampled) = (nil, train ? x : nil, false)
        return winogradForward(x.source, upsampled: false, normalization: x)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        defer { (input, normalizedInput) = (nil, nil) }
        if let normalized = normalizedInput {
            return winogradBackward(normalized.source, dy, upsampled: false, normalization: normalized)
        }
        guard let x = input else { preconditionFailure("Conv2D.backward without a training forward") }
        if isWinograd { return winogradBackward(x, dy, upsampled: inputUpsampled, normalization: nil) }
        let d = x.dims
        let g = geometry(d)
        let hw = g.colColumns
        let dx = Tensor(shape: d.shape)
        let col = isPointwise ? nil : Tensor(shape: [g.colRows, hw])
        accumulateBiasGradient(dy)
        withExtendedLifetime(col) {
            for n in 0..<d.n {
                let xn = x.data + n * d.c * d.plane
                let dyn = dy.data + n * outChannels * hw
                // dW += dY · colᵀ
                sgemm(transB: true, m: outChannels, n: g.colRows, k: hw, a: dyn, b: columns(xn, g, col), beta: 1,
                      c: weight.grad.data)
                // dcol = Wᵀ · dY, folded back onto the image
                let dxn = dx.data + n * d.c * d.plane
                if let col {
                    sgemm(transA: true, m: g.colRows, n: hw, k: outChannels, a: weight.value.data, b: dyn, c: col.data)
                    col2im(col.data, g, dxn)
                } else {
                    sgemm(transA: true, m: g.colRows, n: hw, k: outChannels, a: weight.value.data, b: dyn, c: dxn)
                }
            }
        }
        return dx
    }

    /// `points` (16 or 36) transformed matrices of `elements` floats each, `WinogradGeometry.matrixStride` apart, in scratch slot
    /// `slot`, starting on a 64-byte boundary (so are the matrices, and rows of whole panels: `WinogradProducts`).
    /// The slot is asked for whole MiB: chunks of nearly the same size (V's and M's padded rows differ by layer)
    /// then reuse it instead of growing it, each growth leaving a hole in the heap (38 MiB more peak at 256 px).
    private func winogradBuffer(_ slot: Int, _ elements: Int, points: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let stride = WinogradGeometry.matrixStride(elements), line = 16, mebibyte = 1 << 18
        let buffer = ComputeContext.current.scratch.buffer(slot, count: (points * stride + line + mebibyte - 1) / mebibyte * mebibyte)
        let misaligned = Int(bitPattern: buffer) / MemoryLayout<Float>.stride % line
        return (buffer + (line - misaligned) % line, stride)
    }

    private func winogradForward(_ x: Tensor, upsampled: Bool, normalization: NormalizedTensor?) -> Tensor {
        let s = x.dims
        let d = upsampled ? Dims4(s.n, s.c, 2 * s.h, 2 * s.w) : s
        let y = Tensor(uninitializedShape: [d.n, outChannels, d.h, d.w])
        winogradConvolve(x.data, d, flipped: false, upsampledInput: upsampled, normalization: normalization?.read,
                         bias: bias.value.data, pooledOutput: false, into: y.data)
        return y
    }

    /// One convolution with `winogradTiling` at the full-resolution geometry `d`: `source` convolved with the kernel
    /// (the output) or with the flipped, transposed kernel (the input gradient, from dY), into `output`. With
    /// `upsampledInput` the source is half size and read ×2 upsampled; with `pooledOutput` the result is summed
    /// 2×2 into half size (the adjoint of that upsampling); with `normalization` the source is read through it.
    private func winogradConvolve(_ source: UnsafePointer<Float>, _ d: Dims4, flipped: Bool, upsampledInput: Bool,
                                  normalization: NormalizedRead?, bias: UnsafePointer<Float>?, pooledOutput: Bool,
                                  into output: UnsafeMutablePointer<Float>) {
        let tiling = winogradTiling.algorithm, g = winogradTiling.geometry(batch: d.n, height: d.h, width: d.w)
        let kernels = TransformKernels.active
        // This convolution's output and input channels: the layer's, exchanged for the input gradient.
        let (o, i) = flipped ? (inChannels, outChannels) : (outChannels, inChannels)
        let weights = TransformedWeights(outChannels: outChannels, inChannels: inChannels, flipped: flipped,
                                         packed: kernels.multipliesWinograd)
        let (u, _) = winogradBuffer(0, weights.count, points: g.points)
        tiling.transformWeights(weight.value.data, outChannels: outChannels, inChannels: inChannels, flipped: flipped,
                                packed: weights.packed, into: u)
        // (The weight gradient, `winogradBackward`, keeps chunks of single images: its sums run over a chunk's tiles.)
        for rows in g.chunks(channels: max(o, i), acrossImages: kernels.multipliesWinograd) {
            let products = WinogradProducts(points: g.points, outChannels: o, inChannels: i, tiles: rows.count * g.tilesWide)
            let (v, _) = winogradBuffer(1, products.inputElements, points: g.points)
            let (m, _) = winogradBuffer(2, products.outputElements, points: g.points)
            tiling.transformInput(source, channels: i, g, rows: rows, upsampledFrom2x: upsampledInput,
                                  normalization: normalization, rowLength: products.rowLength, kernels: kernels, into: v)
            products.multiply(u: u, v: v, into: m)
            tiling.inverseOutput(m, channels: o, g, rows: rows, bias: bias, pooledTo2x: pooledOutput,
                                 rowLength: products.rowLength, kernels: kernels, into: output)
        }
    }

    private func winogradBackward(_ x: Tensor, _ dy: Tensor, upsampled: Bool, normalization: NormalizedTensor?) -> Tensor {
        let s = x.dims
        let d = upsampled ? Dims4(s.n, s.c, 2 * s.h, 2 * s.w) : s
        let tiling = winogradTiling.algorithm, g = winogradTiling.geometry(batch: d.n, height: d.h, width: d.w)
        let kernels = TransformKernels.active
        let (o, i) = (outChannels, inChannels)
        accumulateBiasGradient(dy)
        // dW: Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ x B), one GEMM per ξ per chunk summed over chunks, folded back by Gᵀ · G.
        let (mw, smw) = winogradBuffer(0, o * i, points: g.points)
        for (k, rows) in g.chunks(channels: max(o, i)).enumerated() {
            let t = rows.count * g.tilesWide
            let (vx, svx) = winogradBuffer(1, i * t, points: g.points), (wdy, swdy) = winogradBuffer(2, o * t, points: g.points)
            tiling.transformInput(x.data, channels: i, g, rows: rows, upsampledFrom2x: upsampled,
                                  normalization: normalization?.read, rowLength: nil, kernels: kernels, into: vx)
            tiling.transformOutputGradient(dy.data, channels: o, g, rows: rows, kernels: kernels, into: wdy)
            sgemmBatch(count: g.points, transB: true, m: o, n: i, k: t, a: wdy, strideA: swdy, b: vx, strideB: svx,
                       beta: k == 0 ? 0 : 1, c: mw, strideC: smw)
        }
        tiling.accumulateWeightGradient(mw, outChannels: o, inChannels: i, into: weight.grad.data)
        // dX: the convolution of dY with the flipped, transposed kernel — the forward transforms again.
        let dx = Tensor(uninitializedShape: s.shape)
        winogradConvolve(dy.data, d, flipped: true, upsampledInput: false, normalization: nil, bias: nil,
                         pooledOutput: upsampled, into: dx.data)
        return dx
    }

    /// db[o] += Σ over the batch and the plane of dY[·][o]: one channel per task, each plane summed in float
    /// lanes and double across blocks (`VectorMath.sumAndSquares`; the squares come free with the load).
    private func accumulateBiasGradient(_ dy: Tensor) {
        let d = dy.dims, db = bias.grad.data
        parallelFor(outChannels, grain: max(1, 65_536 / max(1, d.n * d.plane))) { channels in
            for o in channels {
                var s = 0.0
                for n in 0..<d.n { s += VectorMath.sumAndSquares(dy.data + (n * outChannels + o) * d.plane, count: d.plane).0 }
                db[o] += Float(s)
            }
        }
    }
}

extension Conv2D: MeasuredLayer {
    /// Keeps its input for the weight gradient, and holds it in inference while it writes its output; a norm's
    /// output read unwritten is the norm's input, nothing of its own.
    func footprint(_ input: ActivationShape) -> Footprint { footprint(input, upsampling: false) }

    /// With `upsampling`, of the upsampled input it reads (`forward(_:train:upsampling:)`): it keeps the small one.
    func footprint(_ input: ActivationShape, upsampling: Bool) -> Footprint {
        let held = input.normalized ? 0 : input.floats
        let share = input.share * (upsampling ? 4 : 1) / Double(stride * stride)
        let output = ActivationShape(channels: outChannels, share: share)
        return Footprint(output: output, kept: held,
                         inference: Footprint.Inference(input: held, working: output.floats, output: output.floats))
    }

    /// A Winograd forward's scratch: a chunk's transformed input and its products (about 16 MiB each,
    /// `WinogradGeometry.chunks`) and the transformed weights (16 per weight in F(2×2)).
    var winogradScratch: Double { 2 * Double(1 << 22) + 16 * Double(inChannels) * Double(outChannels) }
}
