import Distributed
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Polls for a pre-emption signal sent to mpirun, the way a training loop would between steps,
/// and reports the step at which all ranks agreed to stop.
func runSignalWait() {
    let communicator: Communicator
    do { communicator = try Communicator() } catch {
        printError("mpi-selftest: \(error)")
        exit(1)
    }
    do {
        try SignalFlag.install()
        // Every rank has its handler before anyone is told to send the signal.
        try communicator.barrier()
        if communicator.isRoot {
            print("ready")
            fflush(nil)  // at once: the test sends the signal when it reads this line
        }
        var step = 0
        while try !SignalFlag.anyRankFlagged(communicator) {
            step += 1
            if step == 4000 { communicator.abort("no signal arrived within \(step) steps") }
            usleep(5000)
        }
        print("rank \(communicator.rank) stopping at step \(step) after signal \(SignalFlag.receivedSignal ?? 0)")
        let steps = try communicator.gather([step], to: 0)
        if let steps {
            guard Set(steps.map { $0[0] }).count == 1 else { communicator.abort("ranks stopped at steps \(steps)") }
            print("all ranks stopped at step \(step)")
        }
        try communicator.finalize()
        exit(0)
    } catch {
        communicator.abort("\(error)")
    }
}

/// The last rank fails while the others wait in a barrier: abort must end the whole job.
func runAbort() {
    guard let communicator = try? Communicator() else { exit(1) }
    if communicator.rank == communicator.size - 1 {
        communicator.abort("deliberate failure for the test")
    }
    try? communicator.barrier()
    print("rank \(communicator.rank) passed a barrier that the failed rank never reached")
    exit(0)
}

/// No MPI: a first SIGINT only raises the flag, a second ends the process with SIGINT.
func runSignalTwice() {
    do { try SignalFlag.install() } catch {
        printError("mpi-selftest: \(error)")
        exit(1)
    }
    raise(SIGINT)
    guard SignalFlag.isRaised, SignalFlag.receivedSignal == SIGINT else {
        print("first SIGINT was not recorded")
        exit(1)
    }
    print("first SIGINT recorded")
    fflush(nil)  // the second SIGINT ends the process without flushing
    raise(SIGINT)
    print("survived a second SIGINT")
    exit(1)
}
