import Foundation
import VAECore

/// Checks of a checkpoint's metadata: on read, that it is consistent in itself (a hand-edited or damaged header
/// must not index out of range or train "epoch -4/3"); on resume, that its position fits the data and options.
/// Every refusal names the checkpoint file and the field.
public enum TrainingCheckpointValidation {
    static func check(_ contents: TrainingCheckpoint.Contents, path: String) throws {
        func refuse(_ field: String, _ problem: String) -> VAEDistError {
            VAEDistError("\(path): checkpoint metadata '\(field)' \(problem); the file is damaged or was edited")
        }
        let o = contents.options
        for (field, value, least) in [("batch_size", o.batchSize, 1), ("epochs", o.epochs, 1), ("img_size", o.imgSize, 1),
                                      ("save_interval", o.saveInterval, 1), ("num_recon", o.numRecon, 0)] where value < least {
            throw refuse("options.\(field)", "is \(value), below \(least)")
        }
        guard o.lr > 0 && o.lr.isFinite else { throw refuse("options.lr", "is \(o.lr), not a positive number") }
        guard o.klWeight >= 0 && o.klWeight.isFinite else { throw refuse("options.kl_weight", "is \(o.klWeight), not a non-negative number") }
        do {
            try o.optimizer.validate()
            try o.schedule.validate(baseLR: o.lr)
        } catch {
            throw refuse("options.optimizer/lr_schedule", "is unusable: \(error)")
        }
        guard o.gradAccum >= 1 else { throw refuse("options.grad_accum", "is \(o.gradAccum), below 1") }
        guard o.gradClip >= 0 && o.gradClip.isFinite else { throw refuse("options.grad_clip", "is \(o.gradClip), not a non-negative number") }
        if let decay = o.emaDecay, !(decay > 0 && decay < 1) { throw refuse("options.ema_decay", "is \(decay), not in (0, 1)") }
        guard o.validation.interval >= 1, (0..<1).contains(o.validation.fraction) else {
            throw refuse("options.validation", "has interval \(o.validation.interval) and fraction \(o.validation.fraction)")
        }

        let p = contents.position
        for (field, value) in [("epoch", p.epoch), ("step", p.step), ("adamStep", p.adamStep), ("samples", p.samples)] where value < 0 {
            throw refuse("position.\(field)", "is \(value), negative")
        }
        for (field, value) in [("totalSum", p.totalSum), ("reconSum", p.reconSum), ("klSum", p.klSum)] where !value.isFinite {
            throw refuse("position.\(field)", "is \(value), not a finite number")
        }
        for (field, value) in [("seconds", p.seconds), ("waitSeconds", p.waitSeconds)] where !(value >= 0 && value.isFinite) {
            throw refuse("position.\(field)", "is \(value), not a non-negative number")
        }
        // A run continued from the original tool's checkpoint has no history of the epochs before it.
        let first = p.continuedFrom?.epoch ?? 0
        if let base = p.continuedFrom, !(0...p.epoch).contains(base.epoch) || !(0...p.adamStep).contains(base.adamStep) {
            throw refuse("position.continuedFrom", "is at epoch \(base.epoch), step \(base.adamStep), beyond the position itself")
        }
        guard p.history.count == p.epoch - first else {
            throw refuse("position.history", "has \(p.history.count) epochs but position.epoch says \(p.epoch - first) are complete"
                         + (first > 0 ? " after the \(first) of the original run" : ""))
        }
        for (index, record) in p.history.enumerated() {
            guard record.epoch == first + index + 1 else {
                throw refuse("position.history[\(index)].epoch", "is \(record.epoch), expected \(first + index + 1)")
            }
            let values = [("total_loss", record.totalLoss), ("recon_loss", record.reconLoss), ("kl_loss", record.klLoss),
                          ("lr", record.lr), ("seconds", record.seconds), ("images_per_second", record.imagesPerSecond),
                          ("comm_share", record.commShare)]
            for (field, value) in values where !value.isFinite {
                throw refuse("position.history[\(index)].\(field)", "is \(value), not a finite number")
            }
        }
    }

    /// Checks that `contents` can continue as a run with `given` options (the data set's fingerprint included) on
    /// `imageCount` images: the options that shape the training are unchanged (the resume rules of
    /// `TrainingOptions.table`) and the position lies within an epoch of this data. Returns the accepted changes, to be logged.
    public static func checkResume(_ contents: TrainingCheckpoint.Contents, path: String, given: TrainingOptions,
                                   imageCount: Int) throws -> [String] {
        let changes = try contents.options.resumeChanges(given: given, checkpoint: path)
        let p = contents.position
        func refuse(_ field: String, _ problem: String) -> VAEDistError {
            VAEDistError("\(path): checkpoint metadata '\(field)' \(problem); cannot resume from it")
        }
        let batch = given.stepBatch
        let steps = (imageCount + batch - 1) / batch
        guard p.step < steps else {
            throw refuse("position.step", "is \(p.step), beyond the \(steps) steps of an epoch of \(imageCount) images at batch size \(batch)")
        }
        guard p.samples == p.step * batch else {
            throw refuse("position.samples", "is \(p.samples), but \(p.step) steps of batch size \(batch) saw \(p.step * batch)")
        }
        // history.count == epoch (checked on read) keeps the product small. A continued original run counts from
        // where the original stopped.
        let base = p.continuedFrom.map { ($0.epoch, $0.adamStep) } ?? (0, 0)
        let expected = base.1 + (p.epoch - base.0) * steps + p.step
        guard p.adamStep == expected else {
            throw refuse("position.adamStep", "is \(p.adamStep), but epoch \(p.epoch) step \(p.step) at \(steps) steps per epoch makes \(expected)")
        }
        guard p.epoch <= given.epochs else {
            throw VAEDistError("--epochs \(given.epochs) is below the \(p.epoch) epochs \(path) has completed")
        }
        let stored = contents.options
        let horizon = given.schedule.horizonChange(base: given.lr, was: (stored.schedule, stored.lr, stored.epochs), epochs: given.epochs,
                                                   nextStep: p.adamStep, stepsPerEpoch: steps)
        return changes + (horizon.map { [$0] } ?? [])
    }
}
