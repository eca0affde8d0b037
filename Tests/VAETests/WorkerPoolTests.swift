import Foundation
@testable import VAECore
import XCTest

/// `parallelFor` through the persistent worker pool: every index once, nested regions and regions started from
/// several threads at once (which the pool hands to libdispatch) included.
final class WorkerPoolTests: XCTestCase {
    /// Four threads, more than this machine may have cores: regions of up to four parts.
    private let context = ComputeContext(threads: 4)
    override func invokeTest() { context.run { super.invokeTest() } }

    /// Adds one to every index a region covers; each index must end at exactly `expected`.
    private static func countVisits(_ count: Int, grain: Int, into visits: UnsafeMutablePointer<Int>) {
        parallelFor(count, grain: grain) { range in
            for i in range { visits[i] += 1 }
        }
    }

    func testEveryIndexIsVisitedOnceOverManyRegions() {
        let visits = UnsafeMutablePointer<Int>.allocate(capacity: 1000)
        defer { visits.deallocate() }
        visits.initialize(repeating: 0, count: 1000)
        // Many short regions back to back, with 1 to 4 parts, as the kernels run them.
        for region in 0..<5000 { Self.countVisits(1 + region % 1000, grain: 1 + region % 300, into: visits) }
        var expected = [Int](repeating: 0, count: 1000)
        for region in 0..<5000 { for i in 0..<(1 + region % 1000) { expected[i] += 1 } }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: visits, count: 1000)), expected)
    }

    func testNestedRegionsComplete() {
        let visits = UnsafeMutablePointer<Int>.allocate(capacity: 64 * 64)
        defer { visits.deallocate() }
        visits.initialize(repeating: 0, count: 64 * 64)
        parallelFor(64, grain: 1) { outer in
            for row in outer { Self.countVisits(64, grain: 1, into: visits + 64 * row) }
        }
        XCTAssertTrue(UnsafeBufferPointer(start: visits, count: 64 * 64).allSatisfy { $0 == 1 })
    }

    func testRegionsFromSeveralThreadsAtOnce() {
        let callers = 4, length = 10_000
        let visits = UnsafeMutablePointer<Int>.allocate(capacity: callers * length)
        defer { visits.deallocate() }
        visits.initialize(repeating: 0, count: callers * length)
        let shared = UnsafeSendable(visits)
        let context = self.context
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            context.run {
                for _ in 0..<200 { Self.countVisits(length, grain: 100, into: shared.pointer + caller * length) }
            }
        }
        XCTAssertTrue(UnsafeBufferPointer(start: visits, count: callers * length).allSatisfy { $0 == 200 })
    }

    func testResultsKeepTheirOrderInConcurrentMap() {
        XCTAssertEqual(concurrentMap(1000) { $0 * $0 }, (0..<1000).map { $0 * $0 })
    }
}

/// The callers write disjoint parts of one buffer.
private struct UnsafeSendable: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int>
    init(_ pointer: UnsafeMutablePointer<Int>) { self.pointer = pointer }
}
