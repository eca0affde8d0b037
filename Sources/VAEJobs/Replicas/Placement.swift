extension ReplicaGroup {
    /// Where the replicas run, for the log: every host with its ranks and their compute threads
    /// ("placement: 4 ranks on 2 hosts: h0 ranks 0-1 × 2 threads each; h1 ranks 2-3 × 2 threads each"), so that the
    /// per-host thread split (a host's cores shared among its ranks) can be checked. Rank 0's line; nil on the
    /// other ranks and with one replica. Collective.
    public func placement(threads: Int) throws -> String? {
        guard size > 1 else { return nil }
        guard let all = try gather([localHostName, String(threads)], to: 0) else { return nil }
        return Self.describePlacement(all.map { (host: $0[0], threads: Int($0[1]) ?? 0) })
    }

    /// `ranks[r]` is rank r's host and threads.
    static func describePlacement(_ ranks: [(host: String, threads: Int)]) -> String {
        var hosts: [String] = []
        for rank in ranks where !hosts.contains(rank.host) { hosts.append(rank.host) }
        let described = hosts.map { host in
            // Runs of consecutive ranks with the same threads: "ranks 0-1 × 2 threads each", "rank 2 × 1 thread".
            var runs: [(first: Int, last: Int, threads: Int)] = []
            for (rank, placed) in ranks.enumerated() where placed.host == host {
                if let last = runs.last, last.last == rank - 1, last.threads == placed.threads {
                    runs[runs.count - 1].last = rank
                } else {
                    runs.append((rank, rank, placed.threads))
                }
            }
            return host + " " + runs.map { run in
                let threads = "\(run.threads) thread\(run.threads == 1 ? "" : "s")"
                return run.first == run.last ? "rank \(run.first) × \(threads)" : "ranks \(run.first)-\(run.last) × \(threads) each"
            }.joined(separator: ", ")
        }
        return "placement: \(ranks.count) ranks on \(hosts.count) host\(hosts.count == 1 ? "" : "s"): " + described.joined(separator: "; ")
    }
}
