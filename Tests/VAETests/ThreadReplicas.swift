import Foundation
import VAEJobs

/// `size` replicas in one process, one thread each: every collective meets at a rendezvous and exchanges real,
/// differently sized buffers, so the typed collectives are tested as ranks meet them under MPI.
final class ThreadReplica: ReplicaGroup, Sendable {
    let rank: Int
    let size: Int
    private let meeting: Rendezvous

    private init(rank: Int, meeting: Rendezvous) {
        (self.rank, self.size, self.meeting) = (rank, meeting.size, meeting)
    }

    /// Runs `body` on `size` replicas at once; each replica's result or error, in rank order.
    static func run<T: Sendable>(size: Int, _ body: @escaping @Sendable (ThreadReplica) throws -> T) -> [Result<T, Error>] {
        let meeting = Rendezvous(size: size)
        let results = ResultSlots<T>(count: size)
        let group = DispatchGroup()
        for rank in 0..<size {
            let replica = ThreadReplica(rank: rank, meeting: meeting)
            let thread = Thread {
                results.set(rank, Result { try body(replica) })
                group.leave()
            }
            group.enter()
            thread.start()
        }
        group.wait()
        return results.values
    }

    func sum(_ values: inout [Double]) {
        let all = meeting.exchange(values, rank: rank).map { $0 as! [Double] }
        values = all.dropFirst().reduce(all[0]) { zip($0, $1).map(+) }
    }

    func any(_ flag: Bool) -> Bool { meeting.exchange(flag, rank: rank).contains { $0 as! Bool } }

    func broadcast(_ bytes: inout [UInt8], from root: Int) { bytes = meeting.exchange(bytes, rank: rank)[root] as! [UInt8] }

    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {
        let rootValues = meeting.exchange(Array(values), rank: rank)[root] as! [Float]
        for i in values.indices { values[i] = rootValues[i] }
    }

    func gather(_ bytes: [UInt8], to root: Int) -> [[UInt8]]? {
        let all = meeting.exchange(bytes, rank: rank).map { $0 as! [UInt8] }
        return rank == root ? all : nil
    }

    func bucketSums(_ buckets: [UnsafeMutableBufferPointer<Float>]) -> BucketSums { BlockingSums(self, buckets) }

    /// Sums each bucket when it is started (a rendezvous cannot overlap with computation).
    private final class BlockingSums: BucketSums {
        let replica: ThreadReplica
        let buckets: [UnsafeMutableBufferPointer<Float>]
        init(_ replica: ThreadReplica, _ buckets: [UnsafeMutableBufferPointer<Float>]) { (self.replica, self.buckets) = (replica, buckets) }

        func start(bucket index: Int) {
            let all = replica.meeting.exchange(Array(buckets[index]), rank: replica.rank).map { $0 as! [Float] }
            for i in buckets[index].indices { buckets[index][i] = all.reduce(0) { $0 + $1[i] } }
        }
        func progress() {}
        func finish() -> Double { 0 }
    }
}

/// Where the replicas of one `ThreadReplica.run` meet: each collective is an all-gather of every replica's value.
/// Unchecked: every field is read and written only under `condition`.
private final class Rendezvous: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var deposited: [Any?]
    private var arrived = 0
    private var round = 0
    private var lastRound: [Any] = []

    init(size: Int) {
        self.size = size
        deposited = Array(repeating: nil, count: size)
    }

    /// Every replica's value, in rank order, once all have arrived (a replica that never comes fails the test).
    func exchange(_ value: Any, rank: Int) -> [Any] {
        condition.lock()
        defer { condition.unlock() }
        deposited[rank] = value
        arrived += 1
        if arrived == size {
            lastRound = deposited.map { $0! }
            deposited = Array(repeating: nil, count: size)
            arrived = 0
            round += 1
            condition.broadcast()
            return lastRound
        }
        let mine = round
        let deadline = Date().addingTimeInterval(60)
        while round == mine {
            guard condition.wait(until: deadline) else { fatalError("replica \(rank) waited 60 s for the others in a collective") }
        }
        // No later round can finish before this replica joins it, so `lastRound` is still this round's.
        return lastRound
    }
}

/// One result per replica thread, read after they all finished. Unchecked: `slots` is only touched under `lock`.
private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ result: Result<T, Error>) { lock.withLock { slots[index] = result } }
    var values: [Result<T, Error>] { lock.withLock { slots.map { $0! } } }
}
