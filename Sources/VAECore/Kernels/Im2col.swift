/// Geometry of a 2-D convolution over one image: kernel, stride and (possibly asymmetric) zero padding.
public struct ConvGeometry: Equatable, Sendable {
    public var channels, height, width: Int
    public var kernel: Int
    public var stride: Int
    public var padTop, padLeft, padBottom, padRight: Int

    public var outHeight: Int { (height + padTop + padBottom - kernel) / stride + 1 }
    public var outWidth: Int { (width + padLeft + padRight - kernel) / stride + 1 }
    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    public var colRows: Int { channels * kernel * kernel }
    public var colColumns: Int { outHeight * outWidth }
}

/// Unfolds one CHW image into the [C·K·K, Ho·Wo] column matrix, so that a convolution is one GEMM.
public func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>) {
    Profile.measure(.layout) {
        let (ho, wo, k) = (g.outHeight, g.outWidth, g.kernel)
        parallelFor(g.colRows, grain: 8) { rows in
            for row in rows {
                let c = row / (k * k), ky = (row / k) % k, kx = row % k
                let plane = x + c * g.height * g.width
                let dst = col + row * ho * wo
                for oy in 0..<ho {
                    let iy = oy * g.stride + ky - g.padTop
                    let out = dst + oy * wo
                    guard iy >= 0 && iy < g.height else {
                        out.update(repeating: 0, count: wo)
                        continue
                    }
                    let src = plane + iy * g.width
                    if g.stride == 1 {
                        // Contiguous run: zero the borders, copy the middle.
                        let shift = kx - g.padLeft
                        let lo = max(0, -shift), hi = min(wo, g.width - shift)
                        if lo > 0 { out.update(repeating: 0, count: min(lo, wo)) }
                        if hi > lo { (out + lo).update(from: src + lo + shift, count: hi - lo) }
                        if hi < wo { (out + max(hi, 0)).update(repeating: 0, count: wo - max(hi, 0)) }
                    } else {
                        for ox in 0..<wo {
                            let ix = ox * g.stride + kx - g.padLeft
                            out[ox] = (ix >= 0 && ix < g.width) ? src[ix] : 0
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of im2col: adds every column entry back onto the image position it came from.
/// `dx` is overwritten.
public func col2im(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>) {
    Profile.measure(.layout) {
        let (ho, wo, k) = (g.outHeight, g.outWidth, g.kernel)
        // Parallel over input channels: each channel's K·K rows write only into its own plane.
        parallelFor(g.channels, grain: 1) { channels in
            for c in channels {
                let plane = dx + c * g.height * g.width
                plane.update(repeating: 0, count: g.height * g.width)
                for ky in 0..<k {
                    for kx in 0..<k {
                        let src = col + ((c * k + ky) * k + kx) * ho * wo
                        for oy in 0..<ho {
                            let iy = oy * g.stride + ky - g.padTop
                            guard iy >= 0 && iy < g.height else { continue }
                            let row = plane + iy * g.width
                            let from = src + oy * wo
                            if g.stride == 1 {
                                let shift = kx - g.padLeft
                                let lo = max(0, -shift), hi = min(wo, g.width - shift)
                                if hi > lo {
                                    for ox in lo..<hi { row[ox + shift] += from[ox] }
                                }
                            } else {
                                for ox in 0..<wo {
                                    let ix = ox * g.stride + kx - g.padLeft
                                    if ix >= 0 && ix < g.width { row[ix] += from[ox] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
