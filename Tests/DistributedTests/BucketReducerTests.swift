import Distributed
import XCTest

/// Bookkeeping of the bucket reducer, which a one-rank world shares with a real job.
final class BucketReducerTests: XCTestCase {
    private var storage: UnsafeMutableBufferPointer<Float>!

    override func setUp() {
        storage = .allocate(capacity: 10)
        for i in storage.indices { storage[i] = Float(i) }
    }

    override func tearDown() { storage.deallocate() }

    private func slice(_ range: Range<Int>) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: storage[range])
    }

    /// A completed step clears what was started: every bucket must be started again in the next one, and a
    /// bucket left out is named. (The sums over several ranks are checked under mpirun by MPIRunTests.)
    func testEveryStepMustStartEveryBucketAgain() throws {
        let reducer = try GradientBucketReducer(communicator: try Communicator(), buckets: [slice(0..<4), slice(4..<10)])
        XCTAssertThrowsError(try reducer.waitAll()) { XCTAssertTrue("\($0)".contains("[0, 1] were never started"), "\($0)") }
        try reducer.start(bucket: 1)
        try reducer.start(bucket: 0)
        XCTAssertNoThrow(try reducer.waitAll())
        try reducer.start(bucket: 1)
        XCTAssertThrowsError(try reducer.waitAll()) { XCTAssertTrue("\($0)".contains("[0] were never started"), "\($0)") }
        try reducer.start(bucket: 0)
        try reducer.start(bucket: 1)
        XCTAssertNoThrow(try reducer.waitAll())
    }

    func testMisuseIsReported() throws {
        let reducer = try GradientBucketReducer(communicator: try Communicator(), buckets: [slice(0..<4), slice(4..<10)])
        XCTAssertThrowsError(try reducer.start(bucket: 2)) { XCTAssertTrue("\($0)".contains("bucket 2 does not exist")) }
        try reducer.start(bucket: 0)
        XCTAssertThrowsError(try reducer.start(bucket: 0)) { XCTAssertTrue("\($0)".contains("started twice")) }
        XCTAssertThrowsError(try reducer.waitAll()) { XCTAssertTrue("\($0)".contains("[1] were never started")) }
        // The failed step is over: the next one starts clean.
        try reducer.start(bucket: 0)
        try reducer.start(bucket: 1)
        XCTAssertNoThrow(try reducer.waitAll())
    }

    func testOverlappingBucketsAreRejected() throws {
        XCTAssertThrowsError(try GradientBucketReducer(communicator: try Communicator(),
                                                       buckets: [slice(0..<5), slice(8..<10), slice(4..<6)])) {
            XCTAssertTrue("\($0)".contains("buckets 0 and 2 overlap"), "\($0)")
        }
        XCTAssertNoThrow(try GradientBucketReducer(communicator: try Communicator(),
                                                   buckets: [slice(5..<10), slice(0..<5), slice(5..<5)]))
    }
}
