import Foundation
import VAECore
import VAEFormats

/// Rank 0's TensorBoard log of a run, in `OUTPUT/tensorboard/` (`tensorboard --logdir OUTPUT/tensorboard`): the step
/// metrics of metrics.jsonl under `train/`, validation under `val/`, the reconstruction grids as images, all at the
/// run's optimizer step. Each start (fresh or resumed) appends a new event file that opens with a session start at
/// its first step, so TensorBoard shows a resumed run's steps continuing, without the steps it repeats.
final class TrainingEvents {
    static let folder = "tensorboard"
    let file: TensorBoardEventFile

    /// `globalStep`: the optimizer steps already taken (the checkpoint's).
    init(outputDir: String, resumingAt globalStep: Int) throws {
        file = try TensorBoardEventFile(directory: (outputDir as NSString).appendingPathComponent(Self.folder))
        try file.sessionStart(step: globalStep + 1)
    }

    func step(_ m: StepMetrics) throws {
        try file.scalars([("train/loss", m.loss), ("train/recon_loss", m.reconLoss), ("train/kl_loss", m.klLoss),
                          ("train/lr", m.lr), ("train/grad_norm", m.gradNorm), ("train/images_per_second", m.imagesPerSecond),
                          ("train/comm_wait", m.commWait)], step: m.globalStep)
    }

    /// `val/loss` weighs the KL as training does: what --keep_best ranks by.
    func validation(_ v: ValidationMetrics, klWeight: Double, globalStep: Int) throws {
        try file.scalars([("val/loss", v.total(klWeight: klWeight)), ("val/recon_loss", v.reconLoss), ("val/kl_loss", v.klLoss),
                          ("val/psnr", v.psnr), ("val/ssim", v.ssim)], step: globalStep)
    }

    /// The grid as written to `path` (its PNG bytes, unchanged).
    func image(tag: String, pngFile path: String, globalStep: Int) throws {
        try file.image(tag: tag, png: try readRegularFile(path), step: globalStep)
    }

    func flush() throws { try file.flush() }
}
