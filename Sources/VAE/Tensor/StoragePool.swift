import Foundation

/// Reuses large tensor buffers. A training step allocates the same sequence of sizes every time; fresh large
/// buffers come from mmap, and touching them costs a page fault and a kernel zeroing per 4 KiB page (28% of a
/// small model's step, measured). Freed buffers are kept by exact size and handed out again, up to a limit.
enum StoragePool {
    /// Buffers below 256 KiB come from malloc's own free lists cheaply.
    static let minimumCount = 1 << 16
    /// Kept (free) bytes at most; beyond it a freed buffer goes back to the system.
    static let limitBytes = 1 << 30

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    nonisolated(unsafe) private static var keptBytes = 0

    static func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count >= minimumCount {
            let reused: UnsafeMutablePointer<Float>? = lock.withLock {
                guard let p = free[count]?.popLast() else { return nil }
                keptBytes -= 4 * count
                return p
            }
            if let reused { return reused }
        }
        return .allocate(capacity: count)
    }

    static func give(_ p: UnsafeMutablePointer<Float>, count: Int) {
        if count >= minimumCount {
            let kept: Bool = lock.withLock {
                guard keptBytes + 4 * count <= limitBytes else { return false }
                free[count, default: []].append(p)
                keptBytes += 4 * count
                return true
            }
            if kept { return }
        }
        p.deallocate()
    }
}
