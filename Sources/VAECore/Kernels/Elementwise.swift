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
