import CMPI

/// The MPI world this process belongs to. Started without mpirun, it is a one-rank world (singleton).
public final class Communicator {
    public let rank: Int
    public let size: Int

    public init() {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            MPI_Init_thread(nil, nil, vd_thread_funneled(), &provided)
        }
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(vd_comm_world(), &r)
        MPI_Comm_size(vd_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
    }

    public var isRoot: Bool { rank == 0 }

    public func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }
}
