import CMPI

/// Sums gradient buckets over all ranks while the backward pass is still computing the rest.
///
/// Each step: call `start(bucket:)` as soon as a bucket's gradients are final (MPI_Iallreduce,
/// in place, SUM), `poke()` between layers, and `waitAll()` before the optimizer reads them. The
/// result is the plain sum: divide by `communicator.size` (or fold that into the learning rate)
/// for a mean. A bucket's memory must stay valid and untouched from its `start` until `waitAll`.
///
/// Why `poke()`: Open MPI (coll/libnbc over shared memory or TCP) has no progress thread, so a
/// non-blocking collective only advances while the process is inside some MPI call. Without pokes
/// nearly all the traffic happens in `waitAll()` and nothing overlaps with compute.
///
/// Every rank must start the buckets in the same order (non-blocking collectives are matched by
/// order). Use from the single thread that makes all MPI calls. With one rank every method returns
/// at once without calling MPI, with the same bookkeeping and errors.
public final class GradientBucketReducer {
    public let communicator: Communicator
    public let buckets: [UnsafeMutableBufferPointer<Float>]
    private var requests: [MPI_Request?]
    private var started: [Bool]

    /// Buckets must not overlap and each must fit MPI's 32-bit count.
    public init(communicator: Communicator, buckets: [UnsafeMutableBufferPointer<Float>]) throws {
        for (index, bucket) in buckets.enumerated() where bucket.count > Communicator.maxCount {
            throw DistributedError("gradient bucket \(index) has \(bucket.count) floats, more than MPI's 32-bit count")
        }
        let spans = buckets.enumerated().compactMap { index, bucket in
            bucket.baseAddress.map { (index: index, start: $0, end: $0 + bucket.count) }
        }.filter { $0.start != $0.end }.sorted { $0.start < $1.start }
        for (a, b) in zip(spans, spans.dropFirst()) where a.end > b.start {
            throw DistributedError("gradient buckets \(a.index) and \(b.index) overlap")
        }
        self.communicator = communicator
        self.buckets = buckets
        requests = Array(repeating: vd_request_null(), count: buckets.count)
        started = Array(repeating: false, count: buckets.count)
    }

    /// Begins summing bucket `index` over all ranks.
    public func start(bucket index: Int) throws {
        guard buckets.indices.contains(index) else {
            throw DistributedError("gradient bucket \(index) does not exist (there are \(buckets.count))")
        }
        guard !started[index] else {
            throw DistributedError("gradient bucket \(index) was started twice in one step")
        }
        started[index] = true
        let bucket = buckets[index]
        // An empty bucket is empty on every rank, so every rank skips the same call.
        guard communicator.size > 1, !bucket.isEmpty else { return }
        try check(MPI_Iallreduce(UnsafeRawPointer(vd_in_place()), bucket.baseAddress, Int32(bucket.count),
                                 vd_float(), vd_sum(), communicator.handle, &requests[index]),
                  "MPI_Iallreduce(bucket \(index))")
    }

    /// Lets MPI advance the outstanding reductions; returns whether all started ones are complete.
    @discardableResult
    public func poke() throws -> Bool {
        guard communicator.size > 1 else { return true }
        var done: Int32 = 0
        try check(MPI_Testall(Int32(requests.count), &requests, &done, vd_statuses_ignore()), "MPI_Testall")
        return done != 0
    }

    /// Blocks until every bucket is summed and readies the reducer for the next step.
    /// Returns the seconds spent blocked (communication that did not overlap with compute).
    @discardableResult
    public func waitAll() throws -> Double {
        defer { started = Array(repeating: false, count: buckets.count) }
        var blocked = 0.0
        if communicator.size > 1 {
            let begin = MPI_Wtime()
            try check(MPI_Waitall(Int32(requests.count), &requests, vd_statuses_ignore()), "MPI_Waitall")
            blocked = MPI_Wtime() - begin
        }
        let missing = started.indices.filter { !started[$0] }
        guard missing.isEmpty else {
            throw DistributedError("waitAll: gradient buckets \(missing) were never started this step")
        }
        return blocked
    }

    deinit {
        // MPI would otherwise write into the buffers after their owner freed them. Only with
        // reductions in flight: any MPI call after MPI_Finalize is an error.
        if requests.contains(where: { $0 != vd_request_null() }) {
            MPI_Waitall(Int32(requests.count), &requests, vd_statuses_ignore())
        }
    }
}
