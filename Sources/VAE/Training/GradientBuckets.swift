/// Gradients grouped into buckets in the order backward completes them. When a bucket's last group is ready,
/// its gradients are copied into the bucket's flat buffer and its sum over replicas starts, so communication
/// overlaps the rest of backward (what PyTorch DDP does); `finish` waits and copies the sums back.
public final class GradientBuckets {
    private struct Bucket {
        let parameters: [Parameter]
        let lastGroup: Int
        let buffer: UnsafeMutableBufferPointer<Float>
    }

    private let buckets: [Bucket]
    private let sums: BucketSums
    private var readyGroups = 0
    private var started = 0

    /// `capacity` is the bucket size in floats (DDP's default 25 MB is ~6.5 M floats).
    public init(groups: [[Parameter]], replicas: ReplicaGroup, capacity: Int = 6_500_000) {
        var built: [Bucket] = []
        var pending: [Parameter] = []
        var pendingCount = 0
        for (index, parameters) in groups.enumerated() {
            pending += parameters
            pendingCount += parameters.reduce(0) { $0 + $1.grad.count }
            if pendingCount >= capacity || index == groups.count - 1 {
                built.append(Bucket(parameters: pending, lastGroup: index,
                                    buffer: .allocate(capacity: pendingCount)))
                pending = []
                pendingCount = 0
            }
        }
        buckets = built
        sums = replicas.bucketSums(built.map(\.buffer))
    }

    deinit { for b in buckets { b.buffer.deallocate() } }

    public var count: Int { buckets.count }

    /// Called as backward completes each group (the model's `ready` callback).
    public func groupReady() {
        if started < buckets.count && buckets[started].lastGroup == readyGroups { start(started) }
        readyGroups += 1
        sums.progress()
    }

    private func start(_ index: Int) {
        let bucket = buckets[index]
        var offset = 0
        for p in bucket.parameters {
            (bucket.buffer.baseAddress! + offset).update(from: p.grad.data, count: p.grad.count)
            offset += p.grad.count
        }
        sums.start(bucket: index)
        started += 1
    }

    /// Starts what backward did not (a replica without samples this step contributes zeros), waits for all sums
    /// and writes them back into the gradients. Returns the seconds spent waiting.
    public func finish() -> Double {
        while started < buckets.count { start(started) }
        let waited = sums.finish()
        for bucket in buckets {
            var offset = 0
            for p in bucket.parameters {
                p.grad.data.update(from: bucket.buffer.baseAddress! + offset, count: p.grad.count)
                offset += p.grad.count
            }
        }
        readyGroups = 0
        started = 0
        return waited
    }
}
