import Foundation

/// What a job will hold in memory, estimated from the config, image size and batch before anything is
/// allocated, so that a size that cannot fit is refused with the figures instead of failing an allocation.
/// Calibrated against the peak resident size `vae-dist bench` measures (docs/PERFORMANCE-LOG.md, "Memory estimate").
public struct MemoryEstimate: Sendable {
    public enum Work: String, Sendable {
        /// Forward and backward with Adam: weights, gradients, two moments and every activation backward needs.
        case training
        /// Encode and decode without gradients, the images as separate tensors each layer in turn
        /// (`Network.forward(items:observe:)`): only the layer running holds more than its items' inputs.
        case inference
    }

    public let work: Work
    public let imageSize: Int
    public let batch: Int
    public let weightBytes: Double
    /// Gradients and Adam's two moments (training only).
    public let optimizerBytes: Double
    public let activationBytes: Double

    /// The process itself before any model: the Swift and MPI runtimes, OpenBLAS's buffers, the binary.
    static let baselineBytes = 60e6

    public var totalBytes: Double { Self.baselineBytes + weightBytes + optimizerBytes + activationBytes }

    /// The estimate for `batch` images of `imageSize`² per process. Arithmetic in Double: any size is representable.
    public init(config: VAEConfig, imageSize: Int, batch: Int, work: Work) {
        self.work = work
        self.imageSize = imageSize
        self.batch = batch
        let shape = ModelShape(config)
        weightBytes = 4 * Double(shape.parameters)
        optimizerBytes = work == .training ? 3 * weightBytes : 0
        let pixels = Double(imageSize) * Double(imageSize)
        let activations = work == .training ? Double(batch) * shape.trainingFloatsPerPixel
                                            : shape.inferenceFloatsPerPixel(items: batch)
        // Attention keeps a [pixels, pixels] weight matrix per image when training, one at a time otherwise.
        let attentionMatrices = work == .training ? Double(batch) * shape.attentionMatrices(pixels: pixels)
                                                  : shape.largestAttentionMatrix(pixels: pixels)
        let scratch = work == .training ? 0 : shape.winogradScratchFloats
        activationBytes = 4 * (activations * pixels + attentionMatrices + scratch)
    }

    /// "training needs about 3.2 TB (weights 335 MB, gradients and Adam moments 1.0 GB, activations 3.2 TB)".
    public var summary: String {
        var parts = ["weights \(ByteCount.text(weightBytes))"]
        if optimizerBytes > 0 { parts.append("gradients and Adam moments \(ByteCount.text(optimizerBytes))") }
        parts.append("activations \(ByteCount.text(activationBytes))")
        let what = work == .training ? "training" : "encoding and decoding"
        return "\(what) needs about \(ByteCount.text(totalBytes)) (" + parts.joined(separator: ", ") + ")"
    }

    /// Throws when the estimate exceeds `available` bytes (nil: unknown, accepted).
    public func check(available: Double?) throws {
        guard let available, totalBytes > available else { return }
        let images = batch == 1 ? "one image" : "\(batch) images"
        throw VAEDistError("img_size \(imageSize), \(images) per process: \(summary); this machine has "
                        + "\(ByteCount.text(available)) available. Use a smaller --img_size"
                        + (work == .training ? " or --batch_size, more ranks," : "") + " or a machine with more memory")
    }

    /// The check every job runs before it builds a batch: the image size is in bounds and the work fits here.
    public static func require(config: VAEConfig, imageSize: Int, batch: Int, work: Work) throws {
        try checkImageSize(imageSize)
        try MemoryEstimate(config: config, imageSize: imageSize, batch: batch, work: work).check(available: availableBytes())
    }

    /// The largest image side accepted: a 32768² image is a gigapixel, and one 128-channel activation of it
    /// alone is 550 GB.
    public static let maxImageSize = 32768

    public static func checkImageSize(_ size: Int) throws {
        guard size >= 1 && size <= maxImageSize else {
            throw VAEDistError("--img_size \(size): must be between 1 and \(maxImageSize) pixels")
        }
    }

    /// MemAvailable of /proc/meminfo (memory usable without swapping); nil where there is none (macOS).
    public static func availableBytes(meminfo: String = "/proc/meminfo") -> Double? {
        guard let text = try? String(contentsOfFile: meminfo, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kib = Double(fields[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }
}

/// Byte counts for people: "335 MB", "22.9 GB", "3.2 TB" (decimal units, as `free -h` and disks show them).
public enum ByteCount {
    public static func text(_ bytes: Double) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
        var value = bytes, unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : String(format: value < 100 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }
}

/// The layers of the model a config builds, walked without building it: its parameter count and, per pixel of
/// the input image, the floats its activations take.
struct ModelShape {
    private(set) var parameters = 0
    /// Floats per input pixel that a training forward keeps for backward, plus backward's temporaries.
    private(set) var trainingFloatsPerPixel = 0.0
    /// Per layer, floats per input pixel of one item's input, of what it allocates while it runs (its output
    /// included) and of its output, for inference.
    private var inferenceLayers: [(input: Double, working: Double, output: Double)] = []
    /// Attention layers by the share of the input's pixels they attend over (1/4 per level down).
    private var attentionScales: [Double] = []
    /// Gradients, recomputed inputs and outputs alive during a backward step, as multiples of its largest activation.
    private static let backwardTemporaries = 3.0
    /// Floats per input pixel of the largest single activation.
    private var largestTensor = 0.0
    /// The Winograd scratch beside inference's largest res block: a chunk's transformed input and its products
    /// (about 16 MiB each, `WinogradGeometry.chunks`) and the transformed weights of the widest convolution.
    /// Training's backward temporaries allow for it.
    let winogradScratchFloats: Double

    init(_ cfg: VAEConfig) {
        let levels = cfg.chMult.count
        let widest = Double(cfg.ch * (cfg.chMult.max() ?? 1))
        winogradScratchFloats = 2 * Double(1 << 22) + 16 * widest * widest
        // Encoder
        var channels = cfg.ch, scale = 1.0
        conv(cfg.inChannels, cfg.ch, 3, keep: Double(cfg.inChannels) * scale, output: Double(cfg.ch) * scale)
        var resolution = cfg.resolution
        for (i, mult) in cfg.chMult.enumerated() {
            for _ in 0..<cfg.numResBlocks {
                resnet(channels, cfg.ch * mult, scale: scale)
                channels = cfg.ch * mult
                if cfg.attnResolutions.contains(resolution) { attention(channels, scale: scale) }
            }
            if i != levels - 1 {
                conv(channels, channels, 3, keep: Double(channels) * scale, output: Double(channels) * scale / 4)
                scale /= 4
                resolution /= 2
            }
        }
        middle(channels, scale: scale)
        // norm_out keeps its input, which conv_out reads normalised (`NormalizedTensor`) and keeps nothing more.
        groupNorm(channels, keep: Double(channels) * scale)
        conv(channels, 2 * cfg.zChannels, 3, keep: 0, output: 2 * Double(cfg.zChannels) * scale)
        conv(2 * cfg.zChannels, 2 * cfg.embedDim, 1, keep: 2 * Double(cfg.zChannels) * scale, output: 0)
        // Decoder
        conv(cfg.embedDim, cfg.zChannels, 1, keep: Double(cfg.embedDim) * scale, output: 0)
        channels = cfg.ch * cfg.chMult[levels - 1]
        conv(cfg.zChannels, channels, 3, keep: Double(cfg.zChannels) * scale, output: Double(channels) * scale)
        middle(channels, scale: scale)
        resolution = cfg.resolution >> (levels - 1)
        for i in (0..<levels).reversed() {
            for _ in 0...cfg.numResBlocks {
                resnet(channels, cfg.ch * cfg.chMult[i], scale: scale)
                channels = cfg.ch * cfg.chMult[i]
                if cfg.attnResolutions.contains(resolution) { attention(channels, scale: scale) }
            }
            if i != 0 {
                conv(channels, channels, 3, keep: Double(channels) * scale, output: 4 * Double(channels) * scale)
                scale *= 4
                resolution *= 2
            }
        }
        // norm_out and conv_out as in the encoder; the loss adds the reconstruction's gradient.
        groupNorm(channels, keep: Double(channels) * scale)
        conv(channels, cfg.outCh, 3, keep: Double(cfg.outCh), output: Double(cfg.outCh))
        trainingFloatsPerPixel += Self.backwardTemporaries * largestTensor
    }

    /// Attention matrices kept by a training forward of one image.
    func attentionMatrices(pixels: Double) -> Double {
        attentionScales.reduce(0) { $0 + ($1 * pixels) * ($1 * pixels) }
    }

    func largestAttentionMatrix(pixels: Double) -> Double {
        attentionScales.max().map { ($0 * pixels) * ($0 * pixels) } ?? 0
    }

    private mutating func conv(_ cin: Int, _ cout: Int, _ kernel: Int, keep: Double, output: Double) {
        parameters += cout * cin * kernel * kernel + cout
        trainingFloatsPerPixel += keep
        inferenceLayers.append((keep, output, output))
    }

    private mutating func groupNorm(_ channels: Int, keep: Double) {
        parameters += 2 * channels
        trainingFloatsPerPixel += keep
    }

    /// Keeps norm1's input (shared with the shortcut) and norm2's; the convs read their norms' outputs unwritten.
    /// In inference the input (the skip) is alive with conv1's output while conv2 writes its own, and then with
    /// conv2's output while the shortcut writes its own.
    private mutating func resnet(_ cin: Int, _ cout: Int, scale: Double) {
        parameters += 2 * cin + (cout * cin * 9 + cout) + 2 * cout + (cout * cout * 9 + cout)
        if cin != cout { parameters += cout * cin + cout }
        trainingFloatsPerPixel += Double(cin + cout) * scale
        largestTensor = max(largestTensor, Double(max(cin, cout)) * scale)
        inferenceLayers.append((Double(cin) * scale, Double(2 * cout) * scale, Double(cout) * scale))
    }

    /// Keeps the norm's input, q, k, v and the attended values (and the weight matrix, counted apart).
    private mutating func attention(_ channels: Int, scale: Double) {
        parameters += 2 * channels + 4 * (channels * channels + channels)
        trainingFloatsPerPixel += 5 * Double(channels) * scale
        inferenceLayers.append((Double(channels) * scale, 5 * Double(channels) * scale, Double(channels) * scale))
        attentionScales.append(scale)
    }

    private mutating func middle(_ channels: Int, scale: Double) {
        resnet(channels, channels, scale: scale)
        attention(channels, scale: scale)
        resnet(channels, channels, scale: scale)
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

extension VAEConfig {
    /// Trainable values of the model this config builds, counted without building it.
    public var parameterCount: Int { ModelShape(self).parameters }
}
