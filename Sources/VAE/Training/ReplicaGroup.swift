/// What data-parallel training needs from the group of model replicas. The launcher implements it over MPI
/// (the VAE library knows nothing of MPI).
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
    /// Collects every replica's values, each of any length, on `root`: one array per replica in rank order
    /// there, nil on the others.
    func gather(_ values: [Double], to root: Int) -> [[Double]]?
    /// The same for bytes (messages, lists of names).
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
