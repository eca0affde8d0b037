/// What data-parallel training needs from the group of model replicas. The launcher implements it over MPI;
/// `SingleReplica` is the one-process group (the VAE library knows nothing of MPI).
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
    /// Starts summing a gradient bucket over replicas without blocking; the buffer must stay untouched until
    /// `finishSums` returns. Buckets are started in the same order on every replica.
    func startSum(_ bucket: UnsafeMutableBufferPointer<Float>)
    /// Lets outstanding sums progress (MPI often advances non-blocking collectives only inside MPI calls).
    func progress()
    /// Waits for every started sum; returns the seconds spent blocked.
    func finishSums() -> Double
}

/// A group of one: every collective is the identity.
public final class SingleReplica: ReplicaGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ values: inout [Double]) {}
    public func any(_ flag: Bool) -> Bool { flag }
    public func broadcast(_ bytes: inout [UInt8], from root: Int) {}
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {}
    public func startSum(_ bucket: UnsafeMutableBufferPointer<Float>) {}
    public func progress() {}
    public func finishSums() -> Double { 0 }
}
