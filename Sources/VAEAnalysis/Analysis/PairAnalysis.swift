import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// Two images analysed together: how every decoder layer's output differs between them, where in the image
/// it differs, and the reconstructions.
public struct PairAnalysis {
    /// In forward order: the encoder's (with `--layers encoder|both`), then the decoder's (`model.decoder.layerNames`).
    public let layers: [LayerDifference]
    /// One per layer, aligned with `layers`.
    public let maps: [DifferenceMap]
    /// [2, 3, H, W]: item 0 reconstructs image 1.
    public let reconstruction: Tensor
    /// The lesion of image 1 at the analysis size, if given.
    public let mask: LesionMask?

    /// Decodes the two latents [1, E, h, w] (item 0 from image 1) stage by stage in turn
    /// (`Network.forward(items:observe:)`). Each layer is measured in `observe` the moment both items' outputs
    /// exist and only its small difference map is kept, so memory stays that of both items' stage inputs beside
    /// one item's working set. `stage` hears of each layer measured (`PairStage`, counting the decoder's layers).
    public init(decoding latents: [Tensor], mask: LesionMask? = nil, with model: AutoencoderKL, stage: PairStage.Report? = nil) {
        precondition(latents.count == 2, "a pair analysis decodes 2 latents, got \(latents.count)")
        var layers: [LayerDifference] = []
        var maps: [DifferenceMap] = []
        self.mask = mask
        let total = model.decoder.layerNames.count
        let reconstructions = model.decode(items: latents) { name, outputs in
            let (difference, map) = compareBatchItems(outputs, layer: name, mask: mask)
            layers.append(difference)
            maps.append(map)
            stage?(PairStage(done: layers.count, total: total, what: name))
        }
        reconstruction = Tensor(joining: reconstructions)
        self.layers = layers
        self.maps = maps
    }

    /// Encodes both images (already at the analysis size) and decodes the posterior modes, each image a tensor of
    /// its own; with `layers` including the encoder, its layers are measured too (first, in forward order).
    public init(images: (RGB8Image, RGB8Image), mask: LesionMask? = nil, layers: AnalysisLayers = .decoder,
                with model: AutoencoderKL, stage: PairStage.Report? = nil) {
        var encoderLayers: [LayerDifference] = [], encoderMaps: [DifferenceMap] = []
        // Stages: each encoder layer when they are measured, else each image's encoding; then the decoder's layers.
        let encoding = layers.encoder ? model.encoderLayerNames.count : 2
        let total = encoding + model.decoder.layerNames.count
        let inputs = [images.0, images.1].map { imageBatch([$0]) }
        stage?(PairStage(done: 0, total: total, what: "encoding"))
        let posteriors: [DiagonalGaussian]
        if layers.encoder {
            posteriors = model.encode(items: inputs) { name, outputs in
                let (difference, map) = compareBatchItems(outputs, layer: name, mask: mask)
                encoderLayers.append(difference)
                encoderMaps.append(map)
                stage?(PairStage(done: encoderLayers.count, total: total, what: name))
            }
        } else {
            // Unobserved, the items are encoded one after the other anyway: the same arithmetic, one at a time.
            posteriors = inputs.enumerated().flatMap { index, input in
                defer { stage?(PairStage(done: index + 1, total: total, what: "image \(index + 1) of 2 encoded")) }
                return model.encode(items: [input])
            }
        }
        let decoded = PairAnalysis(decoding: posteriors.map(\.mode), mask: mask, with: model,
                                   stage: stage.map { report in { report(PairStage(done: encoding + $0.done, total: total, what: $0.what)) } })
        self.layers = encoderLayers + (layers.decoder ? decoded.layers : [])
        maps = encoderMaps + (layers.decoder ? decoded.maps : [])
        reconstruction = decoded.reconstruction
        self.mask = mask
    }

    /// The metrics its files report: the method's, and the lesion metrics with a mask.
    public func reportedMetrics(_ method: AnalysisMethod) -> [DifferenceMetric] {
        DifferenceMetric.reported(method, masked: mask != nil)
    }

    /// Reconstruction `item` (0 or 1) as an 8-bit image.
    public func reconstructedImage(_ item: Int) -> RGB8Image {
        batchImages(reconstruction)[item]
    }
}


/// Where a pair's analysis is, in steps of `total`: 0 at the start, then each image encoded (or each encoder layer
/// measured), then each decoder layer measured; for a progress display of pairs that take long (a 512 px pair takes
/// half a minute on a few cores).
public struct PairStage: Sendable {
    public typealias Report = (PairStage) -> Void
    public let done: Int, total: Int
    /// The encoding, or the layer just measured.
    public let what: String
}
