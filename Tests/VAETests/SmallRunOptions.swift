import Foundation
import VAETraining

/// The short run the resume and run-directory tests train: the images in DIR/images (5 of 16 px: batch 2 gives
/// 3 steps an epoch), a checkpoint and a 2-image grid every epoch, output in DIR/OUTPUT.
func smallRunOptions(in dir: String, output: String, epochs: Int, format: SaveFormat = .safetensors) -> TrainingOptions {
    var o = TrainingOptions(trainDir: "\(dir)/images")
    o.outputDir = "\(dir)/\(output)"
    o.batchSize = 2
    o.epochs = epochs
    o.lr = 1e-3
    o.klWeight = 0.01
    o.imgSize = 16
    o.saveInterval = 1
    o.numRecon = 2
    o.saveFormat = format
    return o
}
