/// y = bias + W · im2col(x) for one CHW image, without the whole column matrix: the output pixels are cut into
/// blocks of `gemmBlock`, and each block's columns are unfolded into a buffer of the thread that computes it
/// (colRows × 256 floats, at most a few MB, kept in cache and reused) right before its GEMM.
/// The whole matrix of the stride-2 downsampling is 9 × the input (75 MB at 256 px for 128 channels): above
/// malloc's mmap threshold, so it came fresh from the kernel, zeroed page by page, at every call.
/// Blocks depend only on the shape, so the result does not depend on the thread count.
public func convolveBlocked(_ x: UnsafePointer<Float>, _ g: ConvGeometry, weight: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>, outChannels: Int, into y: UnsafeMutablePointer<Float>) {
    let pixels = g.colColumns
    let blocks = (pixels + gemmBlock - 1) / gemmBlock
    let problem = { (lo: Int, hi: Int, col: UnsafePointer<Float>) in
        GemmProblem(transA: false, transB: false, m: outChannels, n: hi - lo, k: g.colRows, alpha: 1,
                    a: weight, lda: g.colRows, b: col, ldb: hi - lo, beta: 1, c: y + lo, ldc: pixels)
    }
    Profile.measure(.conv, flops: 2 * Double(outChannels) * Double(pixels) * Double(g.colRows)) {
        // Our own kernel packs the weights once for every block.
        let kernel = TransformKernels.active.gemmKernel
        let packedWeights = kernel.map { problem(0, 1, weight).packA($0, parallel: true) }
        defer { packedWeights?.deallocate() }
        parallelFor(blocks, grain: 1) { range in
            let col = UnsafeMutablePointer<Float>.allocate(capacity: g.colRows * gemmBlock)
            defer { col.deallocate() }
            for block in range {
                let lo = block * gemmBlock, hi = min(pixels, lo + gemmBlock)
                unfoldColumns(x, g, lo..<hi, into: col)
                for o in 0..<outChannels { (y + o * pixels + lo).update(repeating: bias[o], count: hi - lo) }
                if let kernel, let packedWeights {
                    problem(lo, hi, col).runPacked(kernel, parallel: false, packedA: packedWeights)
                } else {
                    problem(lo, hi, col).runBLAS()
                }
            }
        }
    }
}

/// Columns `pixels` (output pixels in row-major order) of one image's column matrix, as a dense
/// [colRows, pixels.count] matrix: the same entries `im2col` writes into those columns.
func unfoldColumns(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ pixels: Range<Int>,
                   into col: UnsafeMutablePointer<Float>) {
    let (wo, k, s) = (g.outWidth, g.kernel, g.stride)
    let width = pixels.count
    for row in 0..<g.colRows {
        let c = row / (k * k), ky = (row / k) % k, kx = row % k
        let plane = x + c * g.height * g.width
        let dst = col + row * width
        // Walk the block one output row (segment of ox) at a time.
        var p = pixels.lowerBound
        while p < pixels.upperBound {
            let oy = p / wo, ox0 = p % wo
            let ox1 = min(wo, ox0 + pixels.upperBound - p)
            let out = dst + (p - pixels.lowerBound)
            let iy = oy * s + ky - g.padTop
            if iy < 0 || iy >= g.height {
                out.update(repeating: 0, count: ox1 - ox0)
            } else {
                let src = plane + iy * g.width
                for ox in ox0..<ox1 {
                    let ix = ox * s + kx - g.padLeft
                    out[ox - ox0] = ix >= 0 && ix < g.width ? src[ix] : 0
                }
            }
            p += ox1 - ox0
        }
    }
}
