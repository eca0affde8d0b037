/// What data-parallel jobs (training, folder analysis) need from the group of model replicas. The launcher
/// implements it over MPI (the VAE library knows nothing of MPI). Every collective must be called by all
/// replicas, in the same order.
public protocol ReplicaGroup: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Sums each element over all replicas, in place, blocking.
    func sum(_ values: inout [Double])
    /// True on every replica if `flag` is true on any (used to agree on a stop step).
    func any(_ flag: Bool) -> Bool
    /// Replaces `bytes` on every replica with the root's (sizes may differ before the call).
    func broadcast(_ bytes: inout [UInt8], from root: Int)
    /// Replaces `values` on every replica with the root's; all replicas pass buffers of one size.
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int)
    /// Collects every replica's bytes, each of any length, on `root`: one array per replica in rank order
    /// there, nil on the others.
    func gather(_ bytes: [UInt8], to root: Int) -> [[UInt8]]?
    /// Non-blocking sums over these buffers (the gradient buckets), set up once and reused every step.
    func bucketSums(_ buckets: [UnsafeMutableBufferPointer<Float>]) -> BucketSums
}

/// Sums of gradient buckets over replicas, overlapping computation.
public protocol BucketSums: AnyObject {
    /// Starts summing bucket `index` in place without blocking; its buffer stays untouched until `finish`.
    /// Buckets are started in the same order on every replica.
    func start(bucket index: Int)
    /// Lets outstanding sums progress (MPI often advances non-blocking collectives only inside MPI calls).
    func progress()
    /// Waits for every started sum; returns the seconds spent blocked.
    func finish() -> Double
}

/// A failure every replica throws at the same point: rank 0's, shared by `rootOnly`, or a decision every replica
/// takes from the same summed numbers. No replica is left waiting for another, so the launcher reports it once,
/// on rank 0, and ends every rank normally.
public struct FailureOnEveryReplica: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(description: String) { self.description = description }
}

extension ReplicaGroup {
    /// Runs `body` on rank 0 only and makes its failure everyone's: the message is broadcast and every replica
    /// throws it, so no replica is left waiting in a collective for one that gave up. The value: rank 0's, nil
    /// on the others.
    public func rootOnly<T>(_ body: () throws -> T) throws -> T? {
        var value: T?
        var failure: String?
        if rank == 0 {
            do { value = try body() } catch { failure = "\(error)" }
        }
        if let message = try broadcast(failure, from: 0) { throw FailureOnEveryReplica(description: message) }
        return value
    }

    /// The root's `value` on every replica (the others' arguments are ignored).
    public func broadcast<Value: ReplicaMessage>(_ value: Value, from root: Int) throws -> Value {
        var bytes = rank == root ? ReplicaMessageWriter.encode(value) : []
        broadcast(&bytes, from: root)
        return try ReplicaMessageReader.decode(Value.self, from: bytes)
    }

    /// Every replica's `value` on `root`, in rank order; nil on the others.
    public func gather<Value: ReplicaMessage>(_ value: Value, to root: Int) throws -> [Value]? {
        try gather(ReplicaMessageWriter.encode(value), to: root)?.map { try ReplicaMessageReader.decode(Value.self, from: $0) }
    }
}
