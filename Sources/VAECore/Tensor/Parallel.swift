import Foundation

/// Runs `body` over `0..<count` split into contiguous chunks, one per thread of the bound context
/// (`ComputeContext.current.threads`), which each chunk sees bound too.
/// Small ranges run inline: spawning work costs more than it saves below `grain` items.
@inline(__always)
public func parallelFor(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
    let context = ComputeContext.current
    let threads = min(context.threads, max(1, count / max(grain, 1)))
    if threads <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let chunk = (count + threads - 1) / threads
    func part(_ t: Int) {
        let lo = t * chunk
        let hi = min(count, lo + chunk)
        if lo < hi { context.run { body(lo..<hi) } }
    }
    if WorkerPool.shared.run(parts: threads, part) { return }
    // The pool is running another region (a nested one, or another thread's): libdispatch's threads instead.
    withoutActuallyEscaping(part) { part in
        let shared = DisjointRanges(part: part)
        DispatchQueue.concurrentPerform(iterations: threads) { shared.part($0) }
    }
}

/// Results computed concurrently, `count` of them, each by `body(index)`; in index order.
public func concurrentMap<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
    var results = [T?](repeating: nil, count: count)
    results.withUnsafeMutableBufferPointer { slots in
        let base = slots.baseAddress
        parallelFor(count, grain: 1) { range in
            for i in range { (base! + i).pointee = body(i) }
        }
    }
    return results.map { $0! }
}

/// The body of `parallelFor`, shared by its threads. The compiler cannot see that each call gets its own range
/// and writes only there (the kernels work on raw pointers); that is the contract every caller keeps.
private struct DisjointRanges: @unchecked Sendable {
    let part: (Int) -> Void
}
