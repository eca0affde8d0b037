import Foundation

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

    /// Decodes latents [2, E, h, w] (item 0 from image 1) as one batch. Each layer is measured in `observe`
    /// the moment its output appears and only its small difference map is kept, so memory stays that of one
    /// decode of a batch of two.
    public init(decoding latents: Tensor, mask: LesionMask? = nil, with model: AutoencoderKL) {
        var layers: [LayerDifference] = []
        var maps: [DifferenceMap] = []
        self.mask = mask
        reconstruction = model.decode(latents, train: false) { name, output in
            let (difference, map) = compareBatchItems(output, layer: name, mask: mask)
            layers.append(difference)
            maps.append(map)
        }
        self.layers = layers
        self.maps = maps
    }

    /// Encodes both images (already at the analysis size) as one batch and decodes the posterior mode; with
    /// `layers` including the encoder, its layers are measured too (first, in forward order).
    public init(images: (RGB8Image, RGB8Image), mask: LesionMask? = nil, layers: AnalysisLayers = .decoder,
                with model: AutoencoderKL) {
        precondition(images.0.width == images.1.width && images.0.height == images.1.height,
                     "the images of a pair are resized to one size first")
        let batch = Tensor(shape: [2, 3, images.0.height, images.0.width])
        fillBatch(batch, with: [images.0, images.1])
        var encoderLayers: [LayerDifference] = [], encoderMaps: [DifferenceMap] = []
        let observe: ((String, Tensor) -> Void)? = !layers.encoder ? nil : { name, output in
            let (difference, map) = compareBatchItems(output, layer: name, mask: mask)
            encoderLayers.append(difference)
            encoderMaps.append(map)
        }
        let decoded = PairAnalysis(decoding: model.encode(batch, train: false, observe: observe).mode, mask: mask, with: model)
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
        let d = reconstruction.dims
        return withExtendedLifetime(reconstruction) {
            rgb8FromCHW(reconstruction.data + item * d.c * d.plane, width: d.w, height: d.h)
        }
    }
}

