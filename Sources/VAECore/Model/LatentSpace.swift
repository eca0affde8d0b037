/// How a diffusion pipeline scales this VAE's latents, as a diffusers `AutoencoderKL` config states it
/// (`scaling_factor`, `shift_factor`, `latents_mean`, `latents_std`, `force_upcast`). The autoencoder never uses
/// them, but a pipeline trained on its latents does: they are carried from the config the weights came with into
/// checkpoints and exports, so that a fine-tuned SDXL VAE keeps SDXL's 0.13025. nil: not stated (diffusers then
/// takes 0.18215, no shift, no mean or std, force_upcast true).
public struct LatentSpace: Equatable, Sendable {
    public var scalingFactor: Double?
    public var shiftFactor: Double?
    public var latentsMean: [Double]?
    public var latentsStd: [Double]?
    public var forceUpcast: Bool?

    public init(scalingFactor: Double? = nil, shiftFactor: Double? = nil, latentsMean: [Double]? = nil,
                latentsStd: [Double]? = nil, forceUpcast: Bool? = nil) {
        self.scalingFactor = scalingFactor
        self.shiftFactor = shiftFactor
        self.latentsMean = latentsMean
        self.latentsStd = latentsStd
        self.forceUpcast = forceUpcast
    }

    public var isEmpty: Bool { self == LatentSpace() }

    /// The stated settings under diffusers' names, in its config's order, with their values as text ("0.13025",
    /// "[1.0, 2.0]"): for messages and logs.
    public var entries: [(key: String, json: String)] {
        func list(_ values: [Double]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }
        var entries: [(String, String)] = []
        if let forceUpcast { entries.append(("force_upcast", "\(forceUpcast)")) }
        if let latentsMean { entries.append(("latents_mean", list(latentsMean))) }
        if let latentsStd { entries.append(("latents_std", list(latentsStd))) }
        if let scalingFactor { entries.append(("scaling_factor", "\(scalingFactor)")) }
        if let shiftFactor { entries.append(("shift_factor", "\(shiftFactor)")) }
        return entries
    }

    /// What is wrong with the values for a model of `channels` latent channels, under diffusers' key names.
    public func problems(channels: Int) -> [String] {
        var found: [String] = []
        if let scalingFactor, !(scalingFactor.isFinite && scalingFactor > 0) {
            found.append("scaling_factor must be a positive number, got \(scalingFactor)")
        }
        if let shiftFactor, !shiftFactor.isFinite { found.append("shift_factor must be a finite number, got \(shiftFactor)") }
        for (key, values, positive) in [("latents_mean", latentsMean, false), ("latents_std", latentsStd, true)] {
            guard let values else { continue }
            if values.count != channels {
                found.append("\(key) has \(values.count) entries, but the model has \(channels) latent channels")
            } else if values.contains(where: { !$0.isFinite || (positive && $0 <= 0) }) {
                found.append("\(key) must hold \(positive ? "positive" : "finite") numbers, got \(values)")
            }
        }
        return found
    }
}
