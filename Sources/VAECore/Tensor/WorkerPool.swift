import Foundation
import Synchronization

/// The threads behind `parallelFor`: persistent workers (one less than the most parts a region asked for) that
/// spin briefly between parallel regions before they sleep; one pool for the process, whatever the contexts (a
/// resource, not a setting). A step runs thousands of short regions (three per Winograd chunk); waking
/// libdispatch's workers through the kernel for each cost about a tenth of a small-model step.
///
/// One region at a time: the caller publishes the job by bumping `generation`, runs part 0 itself, and waits
/// until every worker has acknowledged it (workers without a part acknowledge at once), so the job stays valid
/// for as long as anyone may read it. A region started while another runs (a nested one, or another thread's)
/// returns false from `run` and the caller uses libdispatch as before.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// One body and its part count per region; set before `generation` moves, read by workers after.
    private struct Job {
        let parts: Int
        let body: (Int) -> Void
    }

    private final class Worker: Sendable {
        let index: Int
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        init(index: Int) { self.index = index }
    }

    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private var job: Job?
    private var workers: [Worker] = []

    /// Spins of a waiting worker before it sleeps: tens of microseconds, less than the gap between the regions
    /// of one layer, short enough not to take a core from another rank for long.
    private static let spinsBeforeSleep = 20_000

    /// Runs `body(part)` for every part in 0..<parts, part 0 on the calling thread; false when the pool is busy.
    func run(parts: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        while workers.count < parts - 1 { start(Worker(index: workers.count + 1)) }
        withoutActuallyEscaping(body) { body in
            job = Job(parts: parts, body: body)
            pending.store(workers.count, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            for worker in workers where worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                worker.wake.signal()
            }
            body(0)
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                // A descheduled worker (more threads than cores) needs this core more than we need to spin.
                if spins > Self.spinsBeforeSleep { sched_yield() }
            }
            job = nil
        }
        return true
    }

    private func start(_ worker: Worker) {
        workers.append(worker)
        let seen = generation.load(ordering: .acquiring)
        let thread = Thread { [self] in loop(worker, seen: seen) }
        thread.name = "vae-dist worker \(worker.index)"
        thread.start()
    }

    private func loop(_ worker: Worker, seen start: Int) {
        var seen = start
        while true {
            seen = waitForNewGeneration(worker, after: seen)
            runPart(worker.index)
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// Not inlined so that the worker's reference to the body is gone before it acknowledges: the caller's
    /// `withoutActuallyEscaping` checks that nothing kept it.
    @inline(never)
    private func runPart(_ index: Int) {
        if let job, index < job.parts { job.body(index) }
    }

    private func waitForNewGeneration(_ worker: Worker, after seen: Int) -> Int {
        var spins = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            spins += 1
            guard spins > Self.spinsBeforeSleep else { continue }
            worker.sleeping.store(true, ordering: .sequentiallyConsistent)
            if generation.load(ordering: .sequentiallyConsistent) == seen {
                worker.wake.wait()
            } else if !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                // The caller saw us asleep and signals: take that signal so it cannot wake a later sleep.
                worker.wake.wait()
            }
            spins = 0
        }
    }
}
