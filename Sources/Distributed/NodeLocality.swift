import CMPI
import Foundation

/// Where this rank sits on its node: how many ranks share the node, and which cores it may use.
public struct NodeLocality: Equatable, Sendable {
    /// This rank's index among the ranks on its node.
    public let localRank: Int
    /// Ranks on this node (MPI_COMM_TYPE_SHARED).
    public let localSize: Int
    /// Cores this process may run on. mpirun binds each rank to one core by default when it starts
    /// at most 2 ranks (`--bind-to none` lifts that), so this can be smaller than `onlineCores`.
    public let usableCores: Int
    /// Cores the node has online.
    public let onlineCores: Int

    public init(localRank: Int, localSize: Int, usableCores: Int, onlineCores: Int) {
        self.localRank = localRank
        self.localSize = localSize
        self.usableCores = usableCores
        self.onlineCores = onlineCores
    }

    /// Compute threads for this rank: the node's cores shared among its ranks, but never more than
    /// the cores the rank is bound to (threads beyond those would only time-slice one core).
    public var defaultThreadCount: Int {
        max(1, min(usableCores, onlineCores / max(1, localSize)))
    }
}

extension Communicator {
    /// Collective: every rank must call it.
    public func nodeLocality() throws -> NodeLocality {
        var localRank = 0, localSize = 1
        if size > 1 {
            var shared: MPI_Comm? = vd_comm_null()
            try check(MPI_Comm_split_type(handle, vd_comm_type_shared(), Int32(rank), vd_info_null(), &shared),
                      "MPI_Comm_split_type(SHARED)")
            defer { MPI_Comm_free(&shared) }
            var r: Int32 = 0, s: Int32 = 0
            try check(MPI_Comm_rank(shared, &r), "MPI_Comm_rank(node)")
            try check(MPI_Comm_size(shared, &s), "MPI_Comm_size(node)")
            localRank = Int(r)
            localSize = Int(s)
        }
        let online = max(1, ProcessInfo.processInfo.activeProcessorCount)
        return NodeLocality(localRank: localRank, localSize: localSize,
                            usableCores: usableCoreCount() ?? online, onlineCores: online)
    }
}

/// Cores in this process's CPU affinity mask, from Linux's /proc (Foundation reports the node's
/// cores even when the process is bound to fewer); nil where that is not available.
func usableCoreCount() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
        return countCPUs(inList: line.dropFirst("Cpus_allowed_list:".count))
    }
    return nil
}

/// Counts the CPUs in a Linux CPU list such as "0-3,8,10-11"; nil if it is malformed.
func countCPUs<S: StringProtocol>(inList list: S) -> Int? {
    var total = 0
    for part in list.split(separator: ",") {
        let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        switch bounds.count {
        case 1: guard bounds[0] != nil else { return nil }; total += 1
        case 2:
            guard let low = bounds[0], let high = bounds[1], high >= low else { return nil }
            total += high - low + 1
        default: return nil
        }
    }
    return total > 0 ? total : nil
}
