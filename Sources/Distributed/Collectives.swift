import CMPI

/// Blocking collectives. With one rank they return at once without calling MPI: the result is the
/// caller's own data, exactly what MPI would produce.
extension Communicator {
    /// MPI counts are 32-bit; longer buffers go in pieces of at most this many elements.
    static let maxCount = Int(Int32.max)

    // MARK: all-reduce

    /// Replaces every element with its sum over all ranks.
    public func allreduceSum<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        try allreduce(buffer, op: vd_sum(), call: "MPI_Allreduce(SUM)")
    }

    public func allreduceSum<T: MPIElement>(_ values: inout [T]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    public func allreduceSum<T: MPIElement>(_ value: T) throws -> T {
        try allreduceScalar(value, op: vd_sum(), call: "MPI_Allreduce(SUM)")
    }

    /// The largest `value` over all ranks, e.g. to agree on the step at which every rank stops.
    public func allreduceMax<T: MPIElement>(_ value: T) throws -> T {
        try allreduceScalar(value, op: vd_max(), call: "MPI_Allreduce(MAX)")
    }

    public func allreduceMin<T: MPIElement>(_ value: T) throws -> T {
        try allreduceScalar(value, op: vd_min(), call: "MPI_Allreduce(MIN)")
    }

    private func allreduceScalar<T: MPIElement>(_ value: T, op: MPI_Op, call: String) throws -> T {
        var result = [value]
        try result.withUnsafeMutableBufferPointer { try allreduce($0, op: op, call: call) }
        return result[0]
    }

    private func allreduce<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: MPI_Op, call: String) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let n = min(buffer.count - offset, Self.maxCount)
            try check(MPI_Allreduce(UnsafeRawPointer(vd_in_place()), base + offset, Int32(n),
                                    T.mpiDatatype, op, handle), call)
            offset += n
        }
    }

    // MARK: broadcast

    /// Overwrites `buffer` on every rank with root's; all ranks must pass the same count.
    public func broadcast<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>, from root: Int) throws {
        try broadcast(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                      type: T.mpiDatatype, stride: MemoryLayout<T>.stride, from: root)
    }

    /// Fixed-size raw bytes (e.g. a plain struct); all ranks must pass the same byte count.
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {
        try broadcast(bytes.baseAddress, count: bytes.count, type: vd_byte(), stride: 1, from: root)
    }

    private func broadcast(_ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype, stride: Int,
                           from root: Int) throws {
        try validateRoot(root, "MPI_Bcast")
        guard size > 1, let base else { return }
        var offset = 0
        while offset < count {
            let n = min(count - offset, Self.maxCount)
            try check(MPI_Bcast(base + offset * stride, Int32(n), type, Int32(root), handle), "MPI_Bcast")
            offset += n
        }
    }

    /// Replaces `values` on every rank with root's array, whose length the others need not know.
    public func broadcast<T: MPIElement>(_ values: inout [T], from root: Int) throws {
        try validateRoot(root, "MPI_Bcast")
        guard size > 1 else { return }
        var count = [rank == root ? values.count : 0]
        try count.withUnsafeMutableBufferPointer { try broadcast($0, from: root) }
        if rank != root { values = [T](unsafeUninitializedCapacity: count[0]) { _, n in n = count[0] } }
        try values.withUnsafeMutableBufferPointer { try broadcast($0, from: root) }
    }

    /// Root's string on every rank (a configuration, a file list); other ranks' arguments are ignored.
    public func broadcast(_ text: String, from root: Int) throws -> String {
        var bytes = Array(text.utf8)
        try broadcast(&bytes, from: root)
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: gather

    /// Collects every rank's array, each of any length, on root (MPI_Gatherv). Root gets one array
    /// per rank, in rank order; the other ranks get nil.
    public func gather<T: MPIElement>(_ values: [T], to root: Int) throws -> [[T]]? {
        try validateRoot(root, "MPI_Gatherv")
        guard size > 1 else { return [values] }
        guard values.count <= Self.maxCount else {
            throw DistributedError("MPI_Gatherv: \(values.count) elements exceed MPI's 32-bit count")
        }
        var counts = [Int32](repeating: 0, count: rank == root ? size : 0)
        var myCount = Int32(values.count)
        try counts.withUnsafeMutableBufferPointer { countsBuffer in
            try check(MPI_Gather(&myCount, 1, vd_int32(), countsBuffer.baseAddress, 1, vd_int32(),
                                 Int32(root), handle), "MPI_Gather(counts)")
        }
        let total = counts.reduce(0) { $0 + Int($1) }
        guard total <= Self.maxCount else {
            throw DistributedError("MPI_Gatherv: \(total) elements in all exceed MPI's 32-bit displacements")
        }
        var displacements = [Int32](repeating: 0, count: counts.count)
        for i in counts.indices.dropFirst() { displacements[i] = displacements[i - 1] + counts[i - 1] }
        var received = [T](unsafeUninitializedCapacity: total) { _, n in n = total }
        try values.withUnsafeBufferPointer { send in
            try received.withUnsafeMutableBufferPointer { receive in
                try check(MPI_Gatherv(send.baseAddress, myCount, T.mpiDatatype, receive.baseAddress,
                                      counts, displacements, T.mpiDatatype, Int32(root), handle), "MPI_Gatherv")
            }
        }
        guard rank == root else { return nil }
        return counts.indices.map { i in
            Array(received[Int(displacements[i])..<Int(displacements[i] + counts[i])])
        }
    }
}
