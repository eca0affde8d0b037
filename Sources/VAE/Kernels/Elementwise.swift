import Foundation

/// Elementwise kernels over flat buffers, spread over threads.
public enum Elementwise {
    /// y += x. Takes tensors, not pointers, so that both stay alive for the whole call.
    public static func accumulate(_ x: Tensor, into y: Tensor) {
        Profile.measure(.elementwise) {
            precondition(x.count == y.count, "accumulate \(x.shape) into \(y.shape)")
            withExtendedLifetime(x) {
                let (src, dst) = (x.data, y.data)
                parallelFor(y.count) { r in for i in r { dst[i] += src[i] } }
            }
    
        }
    }

    /// Nearest-neighbour ×2 upsampling of `planes` H×W planes.
    public static func upsampleNearest2x(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                          planes: Int, height: Int, width: Int) {
        Profile.measure(.elementwise) {
            let w2 = 2 * width
            parallelFor(planes, grain: 1) { r in
                for p in r {
                    let src = x + p * height * width, dst = y + p * 4 * height * width
                    for iy in 0..<height {
                        let row = dst + 2 * iy * w2
                        for ix in 0..<width { let v = src[iy * width + ix]; row[2 * ix] = v; row[2 * ix + 1] = v }
                        (row + w2).update(from: row, count: w2)
                    }
                }
            }
    
        }
    }

    /// Adjoint of upsampleNearest2x: each input pixel gathers its 2×2 block.
    public static func upsampleNearest2xBackward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                                  planes: Int, height: Int, width: Int) {
        Profile.measure(.elementwise) {
            let w2 = 2 * width
            parallelFor(planes, grain: 1) { r in
                for p in r {
                    let src = dy + p * 4 * height * width, dst = dx + p * height * width
                    for iy in 0..<height {
                        let r0 = src + 2 * iy * w2, r1 = r0 + w2
                        for ix in 0..<width {
                            dst[iy * width + ix] = r0[2 * ix] + r0[2 * ix + 1] + r1[2 * ix] + r1[2 * ix + 1]
                        }
                    }
                }
            }
    
        }
    }

    /// Softmax over each of `rows` rows of length `columns`, in place.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        Profile.measure(.attention) {
            parallelFor(rows, grain: 4) { r in
                for row in r {
                    let p = x + row * columns
                    var m = -Float.infinity
                    for j in 0..<columns { m = max(m, p[j]) }
                    var s: Float = 0
                    for j in 0..<columns { let e = exp(p[j] - m); p[j] = e; s += e }
                    let inv = 1 / s
                    for j in 0..<columns { p[j] *= inv }
                }
            }
    
        }
    }

    /// Softmax backward in place: g ← p · (g − Σ_j g·p) per row, where p is the softmax output.
    public static func softmaxRowsBackward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        Profile.measure(.attention) {
            parallelFor(rows, grain: 4) { r in
                for row in r {
                    let pr = p + row * columns, gr = g + row * columns
                    var dot: Float = 0
                    for j in 0..<columns { dot += pr[j] * gr[j] }
                    for j in 0..<columns { gr[j] = pr[j] * (gr[j] - dot) }
                }
            }
    
        }
    }
}
