import Foundation

/// training_history.json and training_curves.png, rewritten (atomically) after every epoch.
public enum TrainingReport {
    public static func writeHistory(_ history: [EpochRecord], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically(Array(try encoder.encode(history)), to: path)
    }

    public static func readHistory(path: String) throws -> [EpochRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { throw IOFailure("\(path): cannot read the file") }
        return try JSONDecoder().decode([EpochRecord].self, from: data)
    }

    /// Total and reconstruction loss in one panel, KL (on its own scale) in a second.
    public static func writeCurves(_ history: [EpochRecord], to path: String) throws {
        let epochs = history.map { Double($0.epoch) }
        try writeLinePlot(path: path, title: "VAE training", panels: [
            PlotPanel(title: "Loss", xLabel: "epoch", yLabel: "loss", series: [
                PlotSeries(label: "total", x: epochs, y: history.map(\.totalLoss)),
                PlotSeries(label: "reconstruction (MSE)", x: epochs, y: history.map(\.reconLoss)),
            ]),
            PlotPanel(title: "KL divergence", xLabel: "epoch", yLabel: "KL", series: [
                PlotSeries(label: "KL", x: epochs, y: history.map(\.klLoss)),
            ]),
        ])
    }
}
