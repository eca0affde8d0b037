import CMPI
@testable import Distributed
import XCTest

/// The one-rank world this test process forms (no mpirun): collectives return the caller's data.
final class SingletonTests: XCTestCase {
    func testWorldOfOne() throws {
        let communicator = try Communicator()
        XCTAssertEqual(communicator.rank, 0)
        XCTAssertEqual(communicator.size, 1)
        XCTAssertTrue(communicator.isRoot)
        XCTAssertEqual(try Communicator().size, 1, "a second instance joins the same world")
        try communicator.barrier()
    }

    func testCollectivesKeepOwnData() throws {
        let communicator = try Communicator()
        var floats: [Float] = [1, 2.5, -3]
        try floats.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        XCTAssertEqual(floats, [1, 2.5, -3])
        var ints = [1 << 40, -7]
        try communicator.allreduceSum(&ints)
        XCTAssertEqual(ints, [1 << 40, -7])
        XCTAssertEqual(try communicator.allreduceMax(4), 4)
        XCTAssertEqual(try communicator.allreduceMin(-2.5), -2.5)
        XCTAssertEqual(try communicator.broadcast("config: ✓", from: 0), "config: ✓")
        var bytes: [UInt8] = [3, 1, 4]
        try communicator.broadcast(&bytes, from: 0)
        XCTAssertEqual(bytes, [3, 1, 4])
        XCTAssertEqual(try communicator.gather([1.5, 2.5], to: 0), [[1.5, 2.5]])
        XCTAssertEqual(try communicator.gather([UInt8](), to: 0), [[]])
    }

    func testRootOutsideTheWorldIsRejected() throws {
        let communicator = try Communicator()
        XCTAssertThrowsError(try communicator.broadcast("x", from: 1)) { error in
            XCTAssertTrue("\(error)".contains("root 1"), "\(error)")
        }
        XCTAssertThrowsError(try communicator.gather([1.0], to: -1))
    }

    func testFailedMPICallThrowsWithItsName() throws {
        _ = try Communicator()  // sets MPI_ERRORS_RETURN, without which MPI would abort the process
        var value: Float = 0
        XCTAssertThrowsError(try check(MPI_Bcast(&value, -1, vd_float(), 0, vd_comm_world()), "MPI_Bcast")) { error in
            let failure = error as? DistributedError
            XCTAssertNotNil(failure?.mpiCode)
            XCTAssertTrue(failure?.description.hasPrefix("MPI_Bcast failed: ") == true, "\(error)")
        }
    }

    func testNodeLocalityOfASingleton() throws {
        let node = try Communicator().nodeLocality()
        XCTAssertEqual(node.localRank, 0)
        XCTAssertEqual(node.localSize, 1)
        XCTAssertGreaterThanOrEqual(node.usableCores, 1)
        XCTAssertLessThanOrEqual(node.usableCores, node.onlineCores)
        XCTAssertEqual(node.defaultThreadCount, node.usableCores)
    }

    func testDefaultThreadCountSharesCoresAndRespectsBinding() {
        func threads(usable: Int, online: Int, ranks: Int) -> Int {
            NodeLocality(localRank: 0, localSize: ranks, usableCores: usable, onlineCores: online).defaultThreadCount
        }
        XCTAssertEqual(threads(usable: 64, online: 64, ranks: 4), 16)
        XCTAssertEqual(threads(usable: 64, online: 64, ranks: 3), 21)
        XCTAssertEqual(threads(usable: 2, online: 2, ranks: 3), 1, "oversubscribed: still one thread")
        XCTAssertEqual(threads(usable: 1, online: 8, ranks: 1), 1, "bound to one core by mpirun")
        XCTAssertEqual(threads(usable: 4, online: 16, ranks: 2), 4, "bound to a 4-core slot")
    }

    func testCPUListParsing() {
        XCTAssertEqual(countCPUs(inList: "0-1"), 2)
        XCTAssertEqual(countCPUs(inList: "\t0,2-5,7"), 6)
        XCTAssertNil(countCPUs(inList: "3-1"))
        XCTAssertNil(countCPUs(inList: "a"))
        XCTAssertNil(countCPUs(inList: ""))
    }
}
