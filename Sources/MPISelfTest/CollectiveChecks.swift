import Distributed
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Every collective with values whose result is known in closed form; exits 1 on any mismatch.
func runCollectiveChecks() {
    let communicator: Communicator
    do { communicator = try Communicator() } catch {
        printError("mpi-selftest: \(error)")
        exit(1)
    }
    let checks = CheckRecorder(communicator)
    do {
        try checkWorld(communicator, checks)
        try checkAllreduce(communicator, checks)
        try checkBroadcast(communicator, checks)
        try checkGather(communicator, checks)
        try checkBucketReducer(communicator, checks)
        try checkSignalAgreement(communicator, checks)
        let failedGroups = try communicator.allreduceMax(checks.failedGroups)
        if communicator.isRoot {
            print(failedGroups == 0 ? "mpi-selftest: all checks passed on \(communicator.size) ranks"
                                    : "mpi-selftest: checks failed on \(communicator.size) ranks")
        }
        try communicator.finalize()
        try communicator.finalize()
        if (try? Communicator()) != nil {
            print("rank \(communicator.rank): Communicator() succeeded after finalize")
            exit(1)
        }
        exit(failedGroups == 0 ? 0 : 1)
    } catch {
        communicator.abort("\(error)")
    }
}

private func checkWorld(_ comm: Communicator, _ checks: CheckRecorder) throws {
    let environment = ProcessEnvironment()
    checks.expectEqual(comm.size, environment.int("OMPI_COMM_WORLD_SIZE") ?? 1, "size")
    checks.expectEqual(comm.rank, environment.int("OMPI_COMM_WORLD_RANK") ?? 0, "rank")
    checks.expectEqual(comm.isRoot, comm.rank == 0, "isRoot")
    try comm.barrier()
    let node = try comm.nodeLocality()
    // mpirun here starts every rank on this one machine.
    checks.expectEqual(node.localSize, comm.size, "localSize")
    checks.expectEqual(node.localRank, comm.rank, "localRank")
    checks.expect(node.defaultThreadCount >= 1 && node.defaultThreadCount <= node.onlineCores,
                  "defaultThreadCount \(node.defaultThreadCount) within 1...\(node.onlineCores)")
    try checks.finishGroup("world")
}

private func checkAllreduce(_ comm: Communicator, _ checks: CheckRecorder) throws {
    let size = comm.size, rank = comm.rank
    let rankSum = size * (size + 1) / 2  // sum of (rank + 1) over ranks

    var floats = (0..<1000).map { Float(rank + 1) * Float($0 % 7) }
    try floats.withUnsafeMutableBufferPointer { try comm.allreduceSum($0) }
    checks.expectEqual(floats, (0..<1000).map { Float(rankSum) * Float($0 % 7) }, "allreduceSum(Float buffer)")

    var doubles = [0.5 * Double(rank + 1), -Double(rank)]
    try comm.allreduceSum(&doubles)
    checks.expectEqual(doubles, [0.5 * Double(rankSum), -Double(rankSum - size)], "allreduceSum([Double])")

    // Beyond 32 bits, to prove Int travels as a 64-bit integer.
    var ints = [(1 << 40) + rank, rank]
    try comm.allreduceSum(&ints)
    checks.expectEqual(ints, [(1 << 40) * size + rankSum - size, rankSum - size], "allreduceSum([Int])")

    checks.expectEqual(try comm.allreduceSum(Double(rank + 1)), Double(rankSum), "allreduceSum(Double)")
    checks.expectEqual(try comm.allreduceMax(rank * 10), (size - 1) * 10, "allreduceMax(Int)")
    checks.expectEqual(try comm.allreduceMin(rank - 5), -5, "allreduceMin(Int)")
    checks.expectEqual(try comm.allreduceMax(-0.5 * Double(rank)), 0, "allreduceMax(Double)")
    checks.expectEqual(try comm.allreduceMin(-0.5 * Double(rank)), -0.5 * Double(size - 1), "allreduceMin(Double)")
    try checks.finishGroup("allreduce")
}

private func checkBroadcast(_ comm: Communicator, _ checks: CheckRecorder) throws {
    let last = comm.size - 1
    var floats = [Float](repeating: Float(comm.rank), count: 257)
    try floats.withUnsafeMutableBufferPointer { try comm.broadcast($0, from: last) }
    checks.expectEqual(floats, [Float](repeating: Float(last), count: 257), "broadcast(Float buffer) from \(last)")

    // Receivers start with a different length: the array takes root's length.
    var bytes: [UInt8] = comm.isRoot ? Array("a/b.png\nc/d.jpg".utf8) : [9, 9, 9]
    try comm.broadcast(&bytes, from: 0)
    checks.expectEqual(bytes, Array("a/b.png\nc/d.jpg".utf8), "broadcast([UInt8])")

    var doubles: [Double] = comm.rank == last ? [1.5, -2.25, 1e300] : []
    try comm.broadcast(&doubles, from: last)
    checks.expectEqual(doubles, [1.5, -2.25, 1e300], "broadcast([Double])")

    let config = try comm.broadcast(comm.rank == last ? "lr: 1e-4\nname: \"Größe ✓\"" : "ignored", from: last)
    checks.expectEqual(config, "lr: 1e-4\nname: \"Größe ✓\"", "broadcast(String)")

    var header: (Int32, Double) = comm.isRoot ? (7, 0.25) : (0, 0)
    try withUnsafeMutableBytes(of: &header) { try comm.broadcast($0, from: 0) }
    checks.expect(header == (7, 0.25), "broadcast(raw bytes): got \(header)")

    do {
        _ = try comm.broadcast("x", from: comm.size)
        checks.expect(false, "broadcast from a root outside the world did not throw")
    } catch let error as DistributedError {
        checks.expect(error.description.contains("root \(comm.size)"), "bad-root message: \(error)")
    }
    try checks.finishGroup("broadcast")
}

private func checkGather(_ comm: Communicator, _ checks: CheckRecorder) throws {
    let rank = comm.rank, last = comm.size - 1
    // Rank r sends r + 1 values: lengths differ on every rank.
    let mine = (0...rank).map { Double(rank * 10 + $0) }
    let gathered = try comm.gather(mine, to: 0)
    if comm.isRoot {
        checks.expectEqual(gathered ?? [], (0..<comm.size).map { r in (0...r).map { Double(r * 10 + $0) } },
                           "gather([Double]) to 0")
    } else {
        checks.expect(gathered == nil, "gather returned data on a non-root rank")
    }

    // Rank 0 sends nothing at all.
    let bytes = [UInt8](repeating: UInt8(rank), count: rank * 3)
    let gatheredBytes = try comm.gather(bytes, to: last)
    if rank == last {
        checks.expectEqual(gatheredBytes ?? [], (0..<comm.size).map { [UInt8](repeating: UInt8($0), count: $0 * 3) },
                           "gather([UInt8]) to \(last)")
    }
    try checks.finishGroup("gather")
}

private func checkBucketReducer(_ comm: Communicator, _ checks: CheckRecorder) throws {
    let sizes = [1000, 1, 0, 300_000]
    let gradients = UnsafeMutableBufferPointer<Float>.allocate(capacity: sizes.reduce(0, +))
    defer { gradients.deallocate() }
    var offset = 0
    // Plus a bucket with no memory at all (nil base address).
    let buckets = sizes.map { count -> UnsafeMutableBufferPointer<Float> in
        defer { offset += count }
        return UnsafeMutableBufferPointer(rebasing: gradients[offset..<offset + count])
    } + [UnsafeMutableBufferPointer(start: nil, count: 0)]
    let reducer = try GradientBucketReducer(communicator: comm, buckets: buckets)
    let rankSum = Float(comm.size * (comm.size + 1) / 2)
    for step in 0..<3 {
        for i in gradients.indices { gradients[i] = Float(comm.rank + 1) * Float(i % 5 + step) }
        // Last bucket first, as a backward pass completes them.
        for bucket in buckets.indices.reversed() {
            try reducer.start(bucket: bucket)
            try reducer.poke()
        }
        let blocked = try reducer.waitAll()
        checks.expect(blocked >= 0, "waitAll blocked a negative time \(blocked)")
        let wrong = gradients.indices.first { gradients[$0] != rankSum * Float($0 % 5 + step) }
        checks.expect(wrong == nil, "bucket sum at step \(step), element \(wrong ?? -1)")
    }
    try checks.finishGroup("bucket reducer")
}

private func checkSignalAgreement(_ comm: Communicator, _ checks: CheckRecorder) throws {
    try SignalFlag.install()
    SignalFlag.reset()
    checks.expectEqual(try SignalFlag.anyRankFlagged(comm), false, "anyRankFlagged before any signal")
    let signalled = comm.size - 1
    if comm.rank == signalled { raise(SIGUSR1) }
    checks.expectEqual(try SignalFlag.anyRankFlagged(comm), true, "anyRankFlagged after rank \(signalled) got SIGUSR1")
    checks.expectEqual(SignalFlag.receivedSignal, comm.rank == signalled ? SIGUSR1 : nil, "receivedSignal")
    SignalFlag.reset()
    checks.expectEqual(try SignalFlag.anyRankFlagged(comm), false, "anyRankFlagged after reset")
    try checks.finishGroup("signal agreement")
}

private struct ProcessEnvironment {
    func int(_ name: String) -> Int? { getenv(name).flatMap { Int(String(cString: $0)) } }
}
