import Distributed
import Foundation
import VAEJobs

/// The training replicas as MPI ranks. An MPI failure inside a collective cannot be recovered by one rank
/// alone (the others would wait forever), so it aborts the whole job with the failing call's message.
final class MPIReplicaGroup: ReplicaGroup {
    let communicator: Communicator

    init(_ communicator: Communicator) { self.communicator = communicator }

    var rank: Int { communicator.rank }
    var size: Int { communicator.size }

    private func attempt<T>(_ body: () throws -> T) -> T {
        do { return try body() } catch { communicator.abort("\(error)") }
    }

    func sum(_ values: inout [Double]) {
        attempt { try communicator.allreduceSum(&values) }
    }

    func any(_ flag: Bool) -> Bool {
        attempt { try communicator.allreduceMax(Int32(flag ? 1 : 0)) } != 0
    }

    func broadcast(_ bytes: inout [UInt8], from root: Int) {
        attempt { try communicator.broadcast(&bytes, from: root) }
    }

    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {
        attempt { try communicator.broadcast(values, from: root) }
    }

    func gather(_ bytes: [UInt8], to root: Int) -> [[UInt8]]? {
        attempt { try communicator.gather(bytes, to: root) }
    }

    func bucketSums(_ buckets: [UnsafeMutableBufferPointer<Float>]) -> BucketSums {
        MPIBucketSums(attempt { try GradientBucketReducer(communicator: communicator, buckets: buckets) })
    }

    private final class MPIBucketSums: BucketSums {
        let reducer: GradientBucketReducer
        init(_ reducer: GradientBucketReducer) { self.reducer = reducer }

        private func attempt<T>(_ body: () throws -> T) -> T {
            do { return try body() } catch { reducer.communicator.abort("\(error)") }
        }

        func start(bucket index: Int) { attempt { try reducer.start(bucket: index) } }
        func progress() { attempt { _ = try reducer.poke() } }
        func finish() -> Double { attempt { try reducer.waitAll() } }
    }
}
