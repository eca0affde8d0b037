import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// training_history.json and training_curves.png, rewritten (atomically) after every epoch.
public enum TrainingReport {
    /// `{"epochs": [the epochs' records], "provenance": {…}}`.
    public static func writeHistory(_ history: [EpochRecord], provenance: Provenance? = nil, to path: String) throws {
        struct File: Encodable {
            let epochs: [EpochRecord]
            let provenance: JSONValue?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically(Array(try encoder.encode(File(epochs: history, provenance: provenance?.json()))), to: path)
    }

    /// Each quantity on its own axis (at kl_weight 1 the total is the KL's scale and the reconstruction loss
    /// would be a flat line beside it); validation beside training where they share a unit, PSNR and SSIM alone.
    public static func writeCurves(_ history: [EpochRecord], to path: String) throws {
        let epochs = history.map { Double($0.epoch) }
        let validated = history.filter { $0.validation != nil }
        let valEpochs = validated.map { Double($0.epoch) }
        func validation(_ value: (ValidationMetrics) -> Double) -> [Double] { validated.map { value($0.validation!) } }
        func panel(_ title: String, _ axis: String, _ train: [Double]?, _ val: [Double]) -> PlotPanel {
            var series = train.map { [PlotSeries(label: "train", x: epochs, y: $0)] } ?? []
            if !validated.isEmpty { series.append(PlotSeries(label: "validation", x: valEpochs, y: val)) }
            return PlotPanel(title: title, xLabel: "epoch", yLabel: axis, series: series)
        }
        var panels = [
            PlotPanel(title: "Total loss", xLabel: "epoch", yLabel: "loss",
                      series: [PlotSeries(label: "total", x: epochs, y: history.map(\.totalLoss))]),
            panel("Reconstruction loss (MSE)", "MSE", history.map(\.reconLoss), validation(\.reconLoss)),
            panel("KL divergence", "KL", history.map(\.klLoss), validation(\.klLoss)),
        ]
        if !validated.isEmpty {
            panels.append(panel("Validation PSNR", "dB", nil, validation(\.psnr)))
            panels.append(panel("Validation SSIM", "SSIM", nil, validation(\.ssim)))
        }
        try writeLinePlot(path: path, title: "VAE training", panels: panels)
    }
}
