import Distributed

/// Counts mismatches per group of checks. A mismatch is recorded, never thrown, so every rank still
/// makes the same sequence of collective calls and none is left waiting for a rank that quit.
final class CheckRecorder {
    let communicator: Communicator
    private(set) var failedGroups = 0
    private var failuresInGroup = 0

    init(_ communicator: Communicator) { self.communicator = communicator }

    func expect(_ condition: Bool, _ what: @autoclosure () -> String) {
        guard !condition else { return }
        failuresInGroup += 1
        print("rank \(communicator.rank): mismatch: \(what())")
    }

    func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: @autoclosure () -> String) {
        expect(actual == expected, "\(what()): got \(actual), expected \(expected)")
    }

    /// Collective: root prints "ok NAME" when no rank saw a mismatch in the group.
    func finishGroup(_ name: String) throws {
        let failures = try communicator.allreduceSum(failuresInGroup)
        failuresInGroup = 0
        if failures > 0 { failedGroups += 1 }
        if communicator.isRoot { print(failures == 0 ? "ok \(name)" : "FAILED \(name) (\(failures) mismatches)") }
    }
}
