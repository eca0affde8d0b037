@testable import VAEAnalysis
@testable import VAECore
@testable import VAEJobs
import XCTest

/// The typed collectives of `Replicas`: what rank 0 sends every rank and what every rank sends rank 0 arrives
/// unchanged, at one rank (`SingleReplica`) and at three (`ThreadReplica`, real buffers of differing sizes).
final class ReplicasTests: XCTestCase {
    /// Names no join-with-a-separator encoding survives.
    let awkwardNames = ["", "a\nb", "nul\0inside", "\0", "\n", "Größe ✓", "trailing\n", ""]

    func testStringListsReachEveryRankFromAnyRoot() throws {
        let awkwardNames = awkwardNames
        for root in 0..<3 {
            let results = ThreadReplica.run(size: 3) { replica in
                // The other ranks pass lists of other lengths: only the root's counts.
                try replica.broadcast(replica.rank == root ? awkwardNames : Array(repeating: "x", count: replica.rank), from: root)
            }
            for result in results { XCTAssertEqual(try result.get(), awkwardNames, "root \(root)") }
        }
        XCTAssertEqual(try SingleReplica().broadcast(awkwardNames, from: 0), awkwardNames)
        XCTAssertEqual(try SingleReplica().broadcast("", from: 0), "")
        XCTAssertEqual(try SingleReplica().broadcast(String?.none, from: 0), nil)
    }

    func testStringListsOfEveryRankReachTheRootInRankOrder() throws {
        let lists = [awkwardNames, [], ["rank 2: a.png\nis unreadable"]]
        let results = ThreadReplica.run(size: 3) { replica in try replica.gather(lists[replica.rank], to: 2) }
        XCTAssertNil(try results[0].get())
        XCTAssertNil(try results[1].get())
        XCTAssertEqual(try results[2].get(), lists)
        XCTAssertEqual(try SingleReplica().gather(awkwardNames, to: 0), [awkwardNames])
    }

    func testPairListsReachEveryRank() throws {
        let pairs = [ImagePair(name: "case\n1", positive: "/p/case\n1.png", negative: "/n/case\n1.png", masks: ["/m/a", "", "/m/\0b"]),
                     ImagePair(name: "", positive: "", negative: "", masks: []),
                     ImagePair(name: "c", positive: "p/c.png", negative: "n/c.png", masks: ["m/c.png"])]
        let results = ThreadReplica.run(size: 3) { replica in try replica.broadcast(replica.rank == 0 ? pairs : [], from: 0) }
        for result in results { XCTAssertEqual(try result.get(), pairs) }
    }

    /// What every rank of a folder analysis sends rank 0: metrics with and without a lesion mask, awkward doubles,
    /// zero shapes, and pictures (empty ones too), from ranks holding different numbers of pairs.
    func testFolderAnalysisRecordsReachTheRootUnchanged() throws {
        let names = ["decoder.conv_in", "decoder.mid.block_1", "decoder.conv_out"]
        let awkward = [0.1, 1e-300, .leastNonzeroMagnitude, 123456789.123456789, 1e21, 0, -0.0, .infinity, -.greatestFiniteMagnitude]
        let records: [AnalysedPair] = (0..<4).map { pair in
            let layers = names.enumerated().map { index, name in
                let k = pair * names.count + index
                return LayerDifference(layer: name, shape: pair == 3 ? [] : [1, 4 * (index + 1), 8 >> index, 0],
                                       l2: awkward[k % awkward.count], cosine: awkward[(k + 2) % awkward.count] * 2,
                                       lesion: pair == 1 ? nil : LesionEnergy(inside: awkward[(k + 1) % awkward.count], areaFraction: 0.125 * Double(k % 8)))
            }
            let images = ReportPairImages(name: awkwardNames[pair + 1], mapLayer: names[pair % names.count], positive: [0, 10, 0, 255],
                                          negative: [], mask: pair == 1 ? [] : [9], map: Array(repeating: UInt8(pair), count: 300))
            return AnalysedPair(layers: layers, images: images)
        }
        let perRank = [Array(records[0..<2]), [], Array(records[2...])]
        let results = ThreadReplica.run(size: 3) { replica in try replica.gather(perRank[replica.rank], to: 0) }
        XCTAssertEqual(try results[0].get(), perRank)
        XCTAssertNil(try results[1].get())
        XCTAssertNil(try results[2].get())
        XCTAssertEqual(try SingleReplica().gather(records, to: 0), [records])
    }

    func testDoublesArriveBitForBit() throws {
        let values: [Double] = [.nan, -.nan, -0.0, .leastNonzeroMagnitude, .infinity, -.infinity, Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)]
        let results = ThreadReplica.run(size: 2) { replica in try replica.broadcast(replica.rank == 1 ? values : [], from: 1) }
        for result in results { XCTAssertEqual(try result.get().map(\.bitPattern), values.map(\.bitPattern)) }
    }

    func testARootFailureIsThrownByEveryRankAndTheRootKeepsItsValue() throws {
        let failed = ThreadReplica.run(size: 3) { replica in
            try replica.rootOnly { () throws -> Int in throw VAEDistError("--folder x: no such directory\nsecond line") }
        }
        for result in failed {
            XCTAssertThrowsError(try result.get()) { error in
                XCTAssertEqual(error as? FailureOnEveryReplica, FailureOnEveryReplica(description: "--folder x: no such directory\nsecond line"))
            }
        }
        let succeeded = ThreadReplica.run(size: 3) { replica in try replica.rootOnly { 42 } }
        XCTAssertEqual(try succeeded.map { try $0.get() }, [42, nil, nil])
    }

    func testCutOffOrOverlongMessagesAreErrorsNamingTheProblem() throws {
        let bytes = ReplicaMessageWriter.encode(awkwardNames)
        for cut in [0, 1, 8, 9, bytes.count - 1] {
            XCTAssertThrowsError(try ReplicaMessageReader.decode([String].self, from: Array(bytes.prefix(cut)))) { error in
                XCTAssertTrue("\(error)".contains("cut off"), "\(cut): \(error)")
            }
        }
        XCTAssertThrowsError(try ReplicaMessageReader.decode([String].self, from: bytes + [0])) { error in
            XCTAssertTrue("\(error)".contains("left over"), "\(error)")
        }
        // A length beyond the message is refused before anything is allocated.
        var huge = ReplicaMessageWriter()
        huge.write(Int.max)
        XCTAssertThrowsError(try ReplicaMessageReader.decode(String.self, from: huge.bytes))
        XCTAssertThrowsError(try ReplicaMessageReader.decode(String?.self, from: ReplicaMessageWriter.encode(2)))
    }

    /// The placement line names each host once, in rank order, with its ranks and their threads.
    func testPlacementNamesEveryHostWithItsRanksAndThreads() throws {
        XCTAssertEqual(ThreadReplica.describePlacement([("h0", 2), ("h0", 2), ("h1", 4), ("h1", 4)]),
                       "placement: 4 ranks on 2 hosts: h0 ranks 0-1 × 2 threads each; h1 ranks 2-3 × 4 threads each")
        XCTAssertEqual(ThreadReplica.describePlacement([("a", 1), ("b", 1), ("a", 1), ("a", 3)]),
                       "placement: 4 ranks on 2 hosts: a rank 0 × 1 thread, rank 2 × 1 thread, rank 3 × 3 threads; b rank 1 × 1 thread")
        let results = ThreadReplica.run(size: 3) { replica in try replica.placement(threads: replica.rank == 2 ? 1 : 2) }
        XCTAssertEqual(try results.map { try $0.get() },
                       ["placement: 3 ranks on 1 host: \(localHostName) ranks 0-1 × 2 threads each, rank 2 × 1 thread", nil, nil])
        XCTAssertNil(try SingleReplica().placement(threads: 8), "one replica: nothing to say")
    }
}
