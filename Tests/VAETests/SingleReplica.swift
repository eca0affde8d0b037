import VAEJobs

/// A group of one for the tests: every collective is the identity (the program runs even one rank through MPI).
final class SingleReplica: ReplicaGroup {
    var rank: Int { 0 }
    var size: Int { 1 }
    func sum(_ values: inout [Double]) {}
    func any(_ flag: Bool) -> Bool { flag }
    func broadcast(_ bytes: inout [UInt8], from root: Int) {}
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {}
    func gather(_ bytes: [UInt8], to root: Int) -> [[UInt8]]? { [bytes] }
    func bucketSums(_ buckets: [UnsafeMutableBufferPointer<Float>]) -> BucketSums { LocalSums() }

    private final class LocalSums: BucketSums {
        func start(bucket index: Int) {}
        func progress() {}
        func finish() -> Double { 0 }
    }
}
