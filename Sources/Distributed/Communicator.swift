import CMPI
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The MPI world this process belongs to. Started without mpirun, it is a one-rank world (singleton).
///
/// MPI is initialised with `MPI_THREAD_SERIALIZED`: any thread may call MPI, but never two at once.
/// The training loop makes every MPI call from the one thread that drives it, and the compute
/// threads never call MPI, so a `Communicator` (and everything built on it) is not thread-safe
/// and must be used from one thread at a time. SERIALIZED rather than FUNNELED so that the driving
/// thread need not be the one that happened to initialise MPI (e.g. a test runner's thread).
///
/// Every collective must be called by all ranks, in the same order.
public final class Communicator {
    public let rank: Int
    public let size: Int
    let handle: MPI_Comm

    /// Initialises MPI on first use in the process; later instances share the same world.
    public init() throws {
        var finalized: Int32 = 0
        try check(MPI_Finalized(&finalized), "MPI_Finalized")
        guard finalized == 0 else {
            throw DistributedError("MPI was already finalized in this process and cannot be started again")
        }
        var initialized: Int32 = 0
        try check(MPI_Initialized(&initialized), "MPI_Initialized")
        var provided: Int32 = 0
        if initialized == 0 {
            try check(MPI_Init_thread(nil, nil, vd_thread_serialized(), &provided), "MPI_Init_thread")
        } else {
            try check(MPI_Query_thread(&provided), "MPI_Query_thread")
        }
        guard provided >= vd_thread_serialized() else {
            throw DistributedError("this MPI library provides thread level \(provided), below MPI_THREAD_SERIALIZED")
        }
        handle = vd_comm_world()
        try check(MPI_Comm_set_errhandler(handle, vd_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_rank(handle, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(handle, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
    }

    public var isRoot: Bool { rank == 0 }

    /// Ends MPI for the whole process; no `Communicator` may be used afterwards. Safe to call twice.
    public func finalize() throws {
        var finalized: Int32 = 0
        try check(MPI_Finalized(&finalized), "MPI_Finalized")
        if finalized == 0 { try check(MPI_Finalize(), "MPI_Finalize") }
    }

    public func barrier() throws {
        guard size > 1 else { return }
        try check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Reports "rank X failed: message" and ends every rank of the job: a rank that merely exited
    /// would leave the others blocked forever in their next collective.
    public func abort(_ message: String, exitCode: Int32 = 1) -> Never {
        fflush(nil)  // what this rank printed so far comes out before the job ends
        let line = Array("rank \(rank) failed: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        MPI_Abort(handle, exitCode)
        exit(exitCode)  // MPI_Abort does not return; this only satisfies the compiler.
    }

    func validateRoot(_ root: Int, _ call: String) throws {
        guard (0..<size).contains(root) else {
            throw DistributedError("\(call): root \(root) is not a rank of this \(size)-rank world")
        }
    }
}
