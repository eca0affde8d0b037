@testable import VAEJobs
import XCTest

/// Every draw of a run is a pure function of (seed, epoch, index), and a checkpoint stores only the position:
/// resuming an old checkpoint with a newer build replays the rest of the run only if these stay the same.
/// The literals were computed once from this code; a change here means old runs no longer resume identically.
final class SampleOrderTests: XCTestCase {
    func testEpochPermutationsArePinned() {
        let pinned: [(count: Int, seed: UInt64, epoch: Int, order: [Int])] = [
            (10, 0, 0, [1, 6, 0, 4, 9, 3, 7, 8, 5, 2]),
            (10, 0, 1, [2, 4, 3, 9, 8, 6, 7, 5, 0, 1]),
            (10, 42, 0, [0, 5, 3, 1, 7, 8, 6, 2, 9, 4]),
            (7, 42, 3, [4, 5, 1, 6, 2, 3, 0]),
            (16, .max, 12, [3, 2, 13, 11, 14, 12, 0, 7, 4, 10, 9, 6, 15, 5, 8, 1]),
            (1, 5, 0, [0]),
            (0, 5, 0, []),
        ]
        for p in pinned {
            XCTAssertEqual(SampleOrder.permutation(count: p.count, seed: p.seed, epoch: p.epoch), p.order,
                           "count \(p.count), seed \(p.seed), epoch \(p.epoch)")
        }
    }

    func testNoiseIsPinnedBitForBit() {
        let pinned: [(seed: UInt64, epoch: Int, sample: Int, bits: [UInt32])] = [
            (0, 0, 0, [3207217044, 1067816139, 1050381652, 3209071395, 1055555663, 3220126490]),
            (42, 3, 7, [3200412299, 1057211574, 1058442807, 3218712450, 3213193544, 1058988070]),
            (42, 3, 8, [1048800176, 1060191555, 1002946278, 3196032472, 1047411211, 1052264213]),
        ]
        for p in pinned {
            XCTAssertEqual(noise(6, p.seed, p.epoch, p.sample).map(\.bitPattern), p.bits,
                           "seed \(p.seed), epoch \(p.epoch), sample \(p.sample)")
        }
        // (0, 0, 0) begins -0.665, 1.294, 0.304: standard-normal values, not raw bits.
        XCTAssertEqual(noise(3, 0, 0, 0), [-0.6650326, 1.2936033, 0.30381262])
        // A sample's noise does not depend on how many values are asked for (latent sizes differ by model).
        XCTAssertEqual(noise(3, 42, 3, 7), Array(noise(6, 42, 3, 7).prefix(3)))
    }

    func testHeldOutImagesArePinned() {
        XCTAssertEqual(SampleOrder.holdOut(count: 10, held: 3, seed: 0), [0, 4, 3])
        XCTAssertEqual(SampleOrder.holdOut(count: 10, held: 3, seed: 42), [0, 9, 8])
        XCTAssertEqual(SampleOrder.holdOut(count: 20, held: 5, seed: 7), [16, 6, 0, 12, 13])
        XCTAssertEqual(SampleOrder.holdOut(count: 4, held: 0, seed: 7), [])
    }

    func testFlipsArePinned() {
        func flips(_ seed: UInt64, _ epoch: Int) -> String {
            String((0..<24).map { SampleOrder.flips(seed: seed, epoch: epoch, sample: $0) ? "1" : "0" })
        }
        XCTAssertEqual(flips(0, 0), "011100111111111110110000")
        XCTAssertEqual(flips(42, 3), "100110000110010000100110")
        XCTAssertEqual(flips(42, 4), "101011001110100111110100")
    }

    func testSharesOfABatchArePinned() {
        func shares(_ total: Int, _ ranks: Int) -> [Range<Int>] {
            (0..<ranks).map { SampleOrder.share(of: total, rank: $0, ranks: ranks) }
        }
        XCTAssertEqual(shares(10, 3), [0..<4, 4..<7, 7..<10])
        XCTAssertEqual(shares(7, 2), [0..<4, 4..<7])
        XCTAssertEqual(shares(2, 4), [0..<1, 1..<2, 2..<2, 2..<2])
        XCTAssertEqual(shares(8, 1), [0..<8])
        XCTAssertEqual(shares(0, 2), [0..<0, 0..<0])
    }

    private func noise(_ count: Int, _ seed: UInt64, _ epoch: Int, _ sample: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { SampleOrder.noise(seed: seed, epoch: epoch, sample: sample, into: $0) }
        return out
    }

    func testSharesAreContiguousBalancedBlocksForAnyCountAndRanks() {
        for count in 0...9 {
            for size in 1...6 {
                let shares = (0..<size).map { SampleOrder.share(of: count, rank: $0, ranks: size) }
                XCTAssertEqual(shares.flatMap { Array($0) }, Array(0..<count), "\(count) items on \(size) ranks")
                let sizes = shares.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "\(count) items on \(size) ranks: \(sizes)")
            }
        }
    }
}
