import Distributed
import XCTest

final class SignalFlagTests: XCTestCase {
    override func tearDown() {
        signal(SIGUSR1, SIG_DFL)
        SignalFlag.reset()
    }

    func testSignalRaisesTheFlagUntilReset() throws {
        // Only SIGUSR1: the test runner keeps its own SIGINT and SIGTERM behaviour.
        try SignalFlag.install([SIGUSR1])
        SignalFlag.reset()
        let communicator = try Communicator()
        XCTAssertFalse(SignalFlag.isRaised)
        XCTAssertFalse(try SignalFlag.anyRankFlagged(communicator))
        raise(SIGUSR1)
        XCTAssertTrue(SignalFlag.isRaised)
        XCTAssertEqual(SignalFlag.receivedSignal, SIGUSR1)
        XCTAssertTrue(try SignalFlag.anyRankFlagged(communicator))
        raise(SIGUSR1)
        XCTAssertTrue(SignalFlag.isRaised, "a repeated SIGUSR1 keeps the process alive")
        SignalFlag.reset()
        XCTAssertNil(SignalFlag.receivedSignal)
    }

    func testInstallingAnInvalidSignalThrows() {
        XCTAssertThrowsError(try SignalFlag.install([SIGKILL])) { XCTAssertTrue("\($0)".contains("sigaction(9)")) }
    }
}
