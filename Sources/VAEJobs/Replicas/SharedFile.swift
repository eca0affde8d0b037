import Foundation
import VAECore
import VAEFormats

/// Files that define a run (weights to resume or start from, configs) are read by rank 0 alone and sent to the
/// others: on a cluster whose nodes have private disks (cloud VMs, local scratch), only the launching node needs
/// them, and every rank works from the very same bytes.
/// Pieces of at most this many bytes travel at once: MPI counts are 32-bit, and a bounded piece keeps each
/// message moderate whatever the file's size.
public let sharedChunkBytes = 64 << 20

extension ReplicaGroup {
    /// Rank 0's bytes of the file at `path` on every replica. Rank 0's read failure (naming the file) is every
    /// replica's; the others never open the file. `what` names it in the log (e.g. "--init_weights w.safetensors").
    public func rootFile(_ path: String, what: String, log: (String) -> Void,
                         read: (String) throws -> [UInt8] = readRegularFile) throws -> [UInt8] {
        try fromRoot(what, log: log) { try read(path) }
    }

    /// The bytes `produce` makes on rank 0, on every replica: sent in pieces of `chunkBytes` with their XXH64
    /// checksum, which every receiver verifies. A failure of `produce` or a copy that does not match is every
    /// replica's failure (`FailureOnEveryReplica`), so no rank goes on with other bytes than rank 0's.
    public func fromRoot(_ what: String, chunkBytes: Int = sharedChunkBytes, log: (String) -> Void,
                         _ produce: () throws -> [UInt8]) throws -> [UInt8] {
        precondition(chunkBytes > 0)
        let produced = try rootOnly(produce)
        let header = try broadcast(produced.map { [$0.count, Int(Int64(bitPattern: XXH64.hash($0)))] } ?? [], from: 0)
        guard size > 1 else { return produced ?? [] }
        guard header.count == 2, header[0] >= 0 else {
            throw VAEDistError("\(what): rank 0 sent a malformed header (\(header))")
        }
        let (count, checksum) = (header[0], UInt64(bitPattern: Int64(header[1])))
        var received: [UInt8] = []
        if rank != 0 { received.reserveCapacity(count) }
        var offset = 0
        while offset < count {
            let end = min(offset + chunkBytes, count)
            var piece = produced.map { Array($0[offset..<end]) } ?? []
            broadcast(&piece, from: 0)
            if rank != 0 { received += piece }
            offset = end
        }
        let intact = rank == 0 || (received.count == count && XXH64.hash(received) == checksum)
        let verdicts = try gather(intact ? 1 : 0, to: 0)
        _ = try rootOnly {
            let damaged = (verdicts ?? []).indices.filter { verdicts![$0] != 1 }
            guard damaged.isEmpty else {
                throw VAEDistError("\(what): the copy that rank(s) \(damaged.map(String.init).joined(separator: ", ")) received from rank 0 "
                                + "does not match its checksum (XXH64 \(XXH64.hex(checksum)), \(count) bytes); the network corrupted it, try again")
            }
            log("\(what): \(count) bytes read on rank 0, sent to \(size - 1) rank\(size == 2 ? "" : "s") (XXH64 \(XXH64.hex(checksum)) verified)")
        }
        return produced ?? received
    }
}
