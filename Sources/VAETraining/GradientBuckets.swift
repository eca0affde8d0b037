import VAECore
import VAEJobs

/// Gradients grouped into buckets in the order backward completes them. Each bucket's gradients live side by
/// side in one flat buffer (the parameters' gradients are views into it), so when a bucket's last group is
/// ready its sum over replicas starts at once, overlapping the rest of backward (what PyTorch DDP does).
public final class GradientBuckets {
    private struct Bucket {
        let lastGroup: Int
        let buffer: UnsafeMutableBufferPointer<Float>
    }

    /// Owns the flat buffers the gradient views point into.
    private final class Storage {
        var buffers: [UnsafeMutableBufferPointer<Float>] = []
        deinit { for b in buffers { b.deallocate() } }
    }

    private let storage = Storage()

    private let buckets: [Bucket]
    private let sums: BucketSums
    private var readyGroups = 0
    private var started = 0

    /// `capacity` is the bucket size in floats (DDP's default 25 MB is ~6.5 M floats), `firstCapacity` that of the
    /// first bucket (DDP's 1 MiB): the first sum starts after the last layers' gradients, so even a model whose
    /// gradients fit one bucket overlaps most of its all-reduce with the rest of backward.
    public init(groups: [[Parameter]], replicas: ReplicaGroup, capacity: Int = 6_500_000, firstCapacity: Int = 262_144) {
        var built: [Bucket] = []
        var pending: [Parameter] = []
        var pendingCount = 0
        for (index, parameters) in groups.enumerated() {
            pending += parameters
            pendingCount += parameters.reduce(0) { $0 + $1.grad.count }
            if pendingCount >= (built.isEmpty ? firstCapacity : capacity) || index == groups.count - 1 {
                let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: pendingCount)
                storage.buffers.append(buffer)
                var offset = 0
                for p in pending {
                    p.placeGradient(at: buffer.baseAddress! + offset, owner: storage)
                    offset += p.grad.count
                }
                built.append(Bucket(lastGroup: index, buffer: buffer))
                pending = []
                pendingCount = 0
            }
        }
        buckets = built
        sums = replicas.bucketSums(built.map(\.buffer))
    }

    public var count: Int { buckets.count }

    /// Floats per bucket, in the order their sums start.
    public var sizes: [Int] { buckets.map(\.buffer.count) }

    /// The L2 norm of every gradient (after `finish`, the same on every replica). Summed in fixed blocks, so
    /// the value does not depend on the thread count.
    public func globalNorm() -> Double {
        let block = 1 << 16
        var total = 0.0
        for bucket in buckets {
            let blocks = (bucket.buffer.count + block - 1) / block
            var partial = [Double](repeating: 0, count: blocks)
            partial.withUnsafeMutableBufferPointer { out in
                parallelFor(blocks, grain: 1) { r in
                    for b in r {
                        var s = 0.0
                        for g in bucket.buffer[(b * block)..<min((b + 1) * block, bucket.buffer.count)] { s += Double(g) * Double(g) }
                        out[b] = s
                    }
                }
            }
            total += partial.reduce(0, +)
        }
        return total.squareRoot()
    }

    /// Multiplies every gradient by `factor` (clipping).
    public func scale(by factor: Float) {
        for bucket in buckets {
            parallelFor(bucket.buffer.count) { r in
                for i in r { bucket.buffer[i] *= factor }
            }
        }
    }

    /// Called as backward completes each group (the model's `ready` callback).
    public func groupReady() {
        if started < buckets.count && buckets[started].lastGroup == readyGroups { start(started) }
        readyGroups += 1
        sums.progress()
    }

    private func start(_ index: Int) {
        sums.start(bucket: index)
        started += 1
    }

    /// Starts what backward did not (a replica without samples this step contributes zeros) and waits for all
    /// sums. Returns the seconds spent waiting.
    public func finish() -> Double {
        while started < buckets.count { start(started) }
        let waited = sums.finish()
        readyGroups = 0
        started = 0
        return waited
    }
}
