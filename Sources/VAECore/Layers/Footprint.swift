/// A tensor entering or leaving a layer as the memory estimate sees it, for one image: its channels at `share`
/// of the input image's pixels (1 at full resolution, a quarter per level down).
struct ActivationShape {
    let channels: Int
    let share: Double
    /// A group norm's output left unwritten (`NormalizedTensor`): the tensor read is the norm's input.
    var normalized = false

    /// Floats per pixel of the input image.
    var floats: Double { Double(channels) * share }
}

/// What a layer holds in memory for one image, in floats per pixel of the model's input image, worked out from
/// its shapes alone (`MemoryEstimate`). Backward's temporaries and the Winograd scratch are reused from layer to
/// layer, so the estimate takes the largest; the res blocks report them, as the widest layers at each resolution.
struct Footprint {
    /// While an inference forward runs the layer on one item: that item's input, what the layer allocates
    /// (its output included), and its output.
    struct Inference {
        var input, working, output: Double
    }

    let output: ActivationShape
    /// What a training forward keeps for backward.
    var kept = 0.0
    var backwardTemporaries = 0.0
    /// Nil for a layer that allocates nothing of its own in inference.
    var inference: Inference?
    /// Attention's share of the image's pixels: it also holds the weights of every such pixel over all of them.
    var attentionShare: Double?
    /// Inference's; training's backward temporaries allow for it.
    var winogradScratch = 0.0
}

/// A layer of the networks, which can say what it holds in memory for an input shape.
protocol MeasuredLayer: Layer {
    func footprint(_ input: ActivationShape) -> Footprint
}
