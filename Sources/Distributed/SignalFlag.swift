import Synchronization
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Written by the signal handler, so plain atomics only: no allocation, locks or Swift runtime calls.
private let lastSignal = Atomic<Int32>(0)
private let terminationRequests = Atomic<Int32>(0)

private let recordSignal: @convention(c) (Int32) -> Void = { signalNumber in
    if signalNumber == SIGINT || signalNumber == SIGTERM {
        // A second interrupt means "stop now", so a run stuck before its next check can still be
        // ended from the keyboard; signal() and raise() are async-signal-safe.
        if terminationRequests.add(1, ordering: .relaxed).oldValue > 0 {
            signal(signalNumber, SIG_DFL)
            raise(signalNumber)
            return
        }
    }
    lastSignal.store(signalNumber, ordering: .relaxed)
}

/// Pre-emption requests (SIGTERM, SIGINT, SIGUSR1) turned into a flag the training loop polls, so it
/// can stop at a step boundary and save a checkpoint. The handler only sets the flag. A second
/// SIGINT or SIGTERM takes the default action (the process ends at once); SIGUSR1 never does.
///
/// Under mpirun: SIGUSR1 (and SIGUSR2) sent to mpirun is forwarded to every rank at once. SIGTERM or
/// SIGINT sent to mpirun reaches the ranks as SIGTERM only after `odls_base_sigkill_timeout`
/// seconds (default 1), followed by SIGKILL after as long again; so prefer SIGUSR1 for pre-emption
/// or raise that timeout (`--mca odls_base_sigkill_timeout 60`).
public enum SignalFlag {
    public static let preemptionSignals: [Int32] = [SIGTERM, SIGINT, SIGUSR1]

    /// Installs the handler for `signals`, replacing any earlier disposition.
    public static func install(_ signals: [Int32] = preemptionSignals) throws {
        // Globals are initialised lazily on first use; that must not happen inside the handler.
        _ = lastSignal.load(ordering: .relaxed)
        _ = terminationRequests.load(ordering: .relaxed)
        for signalNumber in signals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = recordSignal
            #else
            action.__sigaction_u.__sa_handler = recordSignal
            #endif
            // Restart interrupted reads and writes instead of failing them with EINTR.
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            guard sigaction(signalNumber, &action, nil) == 0 else {
                throw DistributedError("sigaction(\(signalNumber)) failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Whether a handled signal arrived since installation or the last `reset()`.
    public static var isRaised: Bool { lastSignal.load(ordering: .relaxed) != 0 }

    /// The most recent handled signal, if any.
    public static var receivedSignal: Int32? {
        let value = lastSignal.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    public static func reset() {
        lastSignal.store(0, ordering: .relaxed)
        terminationRequests.store(0, ordering: .relaxed)
    }

    /// Collective: true on every rank if any rank has the flag raised, so all ranks stop at the same
    /// step (signals reach ranks at different moments, or only some of them).
    public static func anyRankFlagged(_ communicator: Communicator) throws -> Bool {
        try communicator.allreduceMax(isRaised ? 1 : 0) != 0
    }
}
