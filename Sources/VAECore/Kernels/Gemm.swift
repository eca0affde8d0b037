import CBLAS
import Foundation

/// C = alpha · op(A) · op(B) + beta · C, row-major: on our own micro-kernel (`runPacked`, `TransformKernels.gemmKernel`),
/// else through OpenBLAS. op(A) is M×K, op(B) is K×N, C is M×N; lda/ldb/ldc default to the dense row lengths.
///
/// Our kernel's tasks, and OpenBLAS's blocks, are shared out over our threads. OpenBLAS itself runs single-threaded
/// (`GemmProblem.run`): its idle workers spin in sched_yield and took a fifth of the CPU from our own loops on two
/// cores; its products are split here into blocks of 256 of C's columns (or rows, whichever is longer). Either split
/// depends only on the shape, never on the thread count, so results are bitwise the same with any number of threads.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil, kind: Profile.Kind = .conv) {
    guard m > 0, n > 0 else { return }
    let p = GemmProblem(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a,
                        lda: lda ?? (transA ? m : k), b: b, ldb: ldb ?? (transB ? k : n), beta: beta, c: c, ldc: ldc ?? n)
    Profile.measure(kind, flops: 2 * Double(m) * Double(n) * Double(k)) {
        if let kernel = TransformKernels.active.gemmKernel, p.packingPays { return p.runPacked(kernel, parallel: true) }
        let splitColumns = n >= m
        let extent = splitColumns ? n : m
        let blocks = (extent + gemmBlock - 1) / gemmBlock
        guard blocks > 1 else { return p.runBLAS() }
        parallelFor(blocks, grain: 1) { range in
            for block in range {
                let lo = block * gemmBlock, hi = min(extent, lo + gemmBlock)
                (splitColumns ? p.columns(lo..<hi) : p.rows(lo..<hi)).runBLAS()
            }
        }
    }
}

/// Columns (or rows) of C per block of a split product: whole 16-wide panels for the vector kernels, and
/// enough work per block that re-packing A for each block costs little.
let gemmBlock = 256

/// `count` independent products of one shape whose operands lie `stride` apart (e.g. Winograd's 16), one
/// product per thread at a time: better than splitting each of them. `openBLAS` runs them there even where our own
/// kernel would (the bench's comparison).
public func sgemmBatch(count: Int, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                       a: UnsafePointer<Float>, strideA: Int, b: UnsafePointer<Float>, strideB: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, strideC: Int, kind: Profile.Kind = .conv,
                       openBLAS: Bool = false) {
    guard m > 0, n > 0, count > 0 else { return }
    Profile.measure(kind, flops: 2 * Double(m) * Double(n) * Double(k) * Double(count)) {
        parallelFor(count, grain: 1) { range in
            for i in range {
                let problem = GemmProblem(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a + i * strideA,
                            lda: transA ? m : k, b: b + i * strideB, ldb: transB ? k : n, beta: beta,
                            c: c + i * strideC, ldc: n)
                if openBLAS { problem.runBLAS() } else { problem.run() }
            }
        }
    }
}

/// One product C = alpha · op(A) · op(B) + beta · C, and its restriction to a block of C's rows or columns.
struct GemmProblem {
    var transA, transB: Bool
    var m, n, k: Int
    var alpha: Float
    var a: UnsafePointer<Float>, lda: Int
    var b: UnsafePointer<Float>, ldb: Int
    var beta: Float
    var c: UnsafeMutablePointer<Float>, ldc: Int

    /// OpenBLAS's own threads are switched off once, before its first use, whoever calls first.
    private static let singleThreaded: Void = openblas_set_num_threads(1)

    /// The product on the calling thread: on our own micro-kernel where `kernels` has one and `packingPays`, else OpenBLAS.
    func run(_ kernels: TransformKernels = .active) {
        if let kernel = kernels.gemmKernel, packingPays { runPacked(kernel, parallel: false) } else { runBLAS() }
    }

    /// One call of cblas_sgemm.
    func runBLAS() {
        Self.singleThreaded
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    func columns(_ r: Range<Int>) -> GemmProblem {
        var p = self
        p.n = r.count
        p.b = transB ? b + r.lowerBound * ldb : b + r.lowerBound
        p.c = c + r.lowerBound
        return p
    }

    func rows(_ r: Range<Int>) -> GemmProblem {
        var p = self
        p.m = r.count
        p.a = transA ? a + r.lowerBound : a + r.lowerBound * lda
        p.c = c + r.lowerBound * ldc
        return p
    }
}
