import Foundation
import VAEJobs

extension HTMLReport {
    /// The page's footer: how the results were made (the `provenance` record of aggregated_results.json).
    static func provenanceFooter(_ provenance: Provenance?, ended: Date = Date()) -> String {
        guard let p = provenance else { return "" }
        let weights = p.weights.map { "\(escaped($0)) (SHA-256 <code>\(p.weightsSHA256 ?? "unknown")</code>)" } ?? "none (random weights)"
        return """
        <footer class="provenance"><h2>Provenance</h2><p>vae-dist \(escaped(p.version)) (commit <code>\(escaped(p.commit))</code>); \
        weights \(weights); config \(escaped(p.configSource ?? "none")); \(p.ranks) rank(s) × \(p.threadsPerRank) thread(s) on \
        \(escaped(p.cpu)), \(escaped(p.kernels)) kernels, OpenBLAS core \(escaped(p.blasCore)); started \(p.started), \
        ended \(Provenance.timestamp(ended)) (UTC).<br>Command: <code>\(escaped(p.shellCommand))</code></p></footer>
        """
    }
}
