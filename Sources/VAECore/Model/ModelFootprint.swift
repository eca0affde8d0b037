extension AutoencoderKL {
    /// Every layer's footprint for one image, in forward order: encoder, quant_conv, post_quant_conv, decoder.
    var footprints: [Footprint] {
        let encoded = encoder.footprints(ActivationShape(channels: config.inChannels, share: 1))
        let moments = quantConv.footprint(encoded[encoded.count - 1].output)
        let latent = postQuantConv.footprint(ActivationShape(channels: config.embedDim, share: moments.output.share))
        var decoded = decoder.footprints(latent.output)
        // The loss adds the reconstruction's gradient, counted with conv_out; in inference too, as its input: a few
        // floats per pixel beside the decoder's widest layers.
        let last = decoded.count - 1, reconstruction = decoded[last].output.floats
        decoded[last].kept += reconstruction
        decoded[last].inference?.input += reconstruction
        return encoded + [moments, latent].map(\.inputsOnlyInInference) + decoded
    }
}

private extension Footprint {
    /// Between the networks inference counts the 1×1 convolutions' inputs alone: their outputs are the next
    /// layer's inputs, counted there.
    var inputsOnlyInInference: Footprint {
        var footprint = self
        footprint.inference = inference.map { Inference(input: $0.input, working: 0, output: 0) }
        return footprint
    }
}

/// A model's memory per pixel of its input image, from its layers' footprints, as `MemoryEstimate` sums it.
struct ModelFootprint {
    let parameters: Int
    /// Floats per input pixel that a training forward keeps for backward, plus backward's temporaries.
    let trainingFloatsPerPixel: Double
    private let inferenceLayers: [Footprint.Inference]
    /// Attention layers by the share of the input's pixels they attend over (1/4 per level down).
    private let attentionShares: [Double]
    let winogradScratchFloats: Double

    /// Reads the model's shapes only: its parameters need not be allocated.
    init(_ model: AutoencoderKL) {
        let layers = model.footprints
        parameters = model.parameterCount
        trainingFloatsPerPixel = layers.reduce(0) { $0 + $1.kept } + (layers.map(\.backwardTemporaries).max() ?? 0)
        inferenceLayers = layers.compactMap(\.inference)
        attentionShares = layers.compactMap(\.attentionShare)
        winogradScratchFloats = layers.map(\.winogradScratch).max() ?? 0
    }

    /// Attention matrices kept by a training forward of one image.
    func attentionMatrices(pixels: Double) -> Double {
        attentionShares.reduce(0) { $0 + ($1 * pixels) * ($1 * pixels) }
    }

    func largestAttentionMatrix(pixels: Double) -> Double {
        attentionShares.max().map { ($0 * pixels) * ($0 * pixels) } ?? 0
    }

    /// Floats per input pixel alive at once in an inference forward of `items` images, at its largest layer:
    /// while item i runs a layer, items i+1… still hold their inputs and items …i−1 their outputs, so the most is
    /// alive while the first item runs or while the last one does. (Without observed layers the encoder runs the
    /// items one after the other, which holds less.)
    func inferenceFloatsPerPixel(items: Int) -> Double {
        let others = Double(max(items, 1) - 1)
        return inferenceLayers.map { $0.working + max(others * $0.input, others * $0.output) + $0.input }.max() ?? 0
    }
}
