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
    /// The decoded images the job keeps, 3 bytes per pixel at `imageSize`: the training cache (`--cache_images`),
    /// a rank's analysis pairs, reconstruct's inputs.
    public let imageCacheBytes: Double

    /// The process itself before any model: the Swift and MPI runtimes, OpenBLAS's buffers, the binary.
    static let baselineBytes = 60e6

    public var totalBytes: Double { Self.baselineBytes + weightBytes + optimizerBytes + activationBytes + imageCacheBytes }

    /// The estimate for `batch` images of `imageSize`² per process, keeping `cachedImages` decoded images besides.
    /// Arithmetic in Double: any size and count is representable.
    public init(config: VAEConfig, imageSize: Int, batch: Int, work: Work, cachedImages: Int = 0) {
        self.init(model: AutoencoderKL(config), imageSize: imageSize, batch: batch, work: work, cachedImages: cachedImages)
    }

    /// From the model's layers (`ModelFootprint`), which need not have allocated their parameters.
    init(model: AutoencoderKL, imageSize: Int, batch: Int, work: Work, cachedImages: Int = 0) {
        self.work = work
        self.imageSize = imageSize
        self.batch = batch
        imageCacheBytes = 3 * Double(imageSize) * Double(imageSize) * Double(cachedImages)
        let footprint = ModelFootprint(model)
        weightBytes = 4 * Double(footprint.parameters)
        optimizerBytes = work == .training ? 3 * weightBytes : 0
        let pixels = Double(imageSize) * Double(imageSize)
        let activations = work == .training ? Double(batch) * footprint.trainingFloatsPerPixel
                                            : footprint.inferenceFloatsPerPixel(items: batch)
        // Attention keeps a [pixels, pixels] weight matrix per image when training, one at a time otherwise.
        let attentionMatrices = work == .training ? Double(batch) * footprint.attentionMatrices(pixels: pixels)
                                                  : footprint.largestAttentionMatrix(pixels: pixels)
        let scratch = work == .training ? 0 : footprint.winogradScratchFloats
        activationBytes = 4 * (activations * pixels + attentionMatrices + scratch)
    }

    /// "training needs about 3.2 TB (weights 335 MB, gradients and Adam moments 1.0 GB, activations 3.2 TB)".
    public var summary: String {
        var parts = ["weights \(ByteCount.text(weightBytes))"]
        if optimizerBytes > 0 { parts.append("gradients and Adam moments \(ByteCount.text(optimizerBytes))") }
        parts.append("activations \(ByteCount.text(activationBytes))")
        if imageCacheBytes > 0 { parts.append("decoded images \(ByteCount.text(imageCacheBytes))") }
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

    /// The check every job runs as soon as it knows its config and its images, before it decodes one: the image
    /// size is in bounds and the work fits here, with the `cachedImages` decoded images it keeps.
    public static func require(config: VAEConfig, imageSize: Int, batch: Int, work: Work, cachedImages: Int = 0) throws {
        try checkImageSize(imageSize)
        try MemoryEstimate(config: config, imageSize: imageSize, batch: batch, work: work, cachedImages: cachedImages)
            .check(available: availableBytes())
    }

    /// Training's check before any image is decoded: refused when the training itself does not fit `available`;
    /// otherwise whether its `imageCount` images may be cached as asked (`cache`), with the line saying so when
    /// the cache would not fit beside the training and the images are to be loaded on demand instead.
    public static func trainingImageCache(config: VAEConfig, imageSize: Int, batch: Int, imageCount: Int, cache: Bool,
                                          available: Double?) throws -> (cache: Bool, notice: String?) {
        try checkImageSize(imageSize)
        let streaming = MemoryEstimate(config: config, imageSize: imageSize, batch: batch, work: .training)
        try streaming.check(available: available)
        guard cache, let available else { return (cache, nil) }
        let cached = MemoryEstimate(config: config, imageSize: imageSize, batch: batch, work: .training, cachedImages: imageCount)
        guard cached.totalBytes > available else { return (true, nil) }
        return (false, "--cache_images: the \(imageCount) decoded images at \(imageSize)×\(imageSize) would take "
            + "\(ByteCount.text(cached.imageCacheBytes)) beside the training's \(ByteCount.text(streaming.totalBytes)), more than "
            + "the \(ByteCount.text(available)) available; loading them on demand instead (as --cache_images false)")
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
