import CBLAS

/// C = alpha · op(A) · op(B) + beta · C, row-major, through OpenBLAS.
/// op(A) is M×K, op(B) is K×N, C is M×N; lda/ldb/ldc default to the dense row lengths.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil, kind: Profile.Kind = .conv) {
    guard m > 0, n > 0 else { return }
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
    Profile.measure(kind, flops: 2 * Double(m) * Double(n) * Double(k)) {
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
