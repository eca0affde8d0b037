/// Which Winograd algorithm each network's 3×3 stride-1 convolutions use. F(4×4) does 1.8× fewer
/// multiplications than F(2×2) at several times its rounding error (docs/PERFORMANCE-LOG.md, "Winograd F(4×4, 3×3)"), so it is
/// used where the ldm fixtures' tolerance allows it: the decoder of forward-only jobs, whose layers the fixtures
/// hold to 1e-5 · max(1, max|ref|) (F(4×4) stays within 0.52 of it). The encoder's layers are held to 1e-6,
/// which only F(2×2) meets, and training keeps F(2×2) in the decoder too: its weights after an Adam step
/// must stay within 2.2e-5 of the reference, which an F(4×4) decoder misses (4.1e-5).
public struct ConvolutionArithmetic: Sendable, Equatable, CustomStringConvertible {
    public var encoder: WinogradTiling
    public var decoder: WinogradTiling

    public init(encoder: WinogradTiling, decoder: WinogradTiling) {
        (self.encoder, self.decoder) = (encoder, decoder)
    }

    /// F(2×2) everywhere: training's default, and `--exact_conv`.
    public static let exact = ConvolutionArithmetic(encoder: .f2x2, decoder: .f2x2)
    /// F(4×4) in the decoder: the default of forward-only jobs (analysis, reconstruction).
    public static let fastDecoder = ConvolutionArithmetic(encoder: .f2x2, decoder: .f4x4)
    /// F(4×4) everywhere: `--fast_conv`.
    public static let fast = ConvolutionArithmetic(encoder: .f4x4, decoder: .f4x4)

    /// As result files record it.
    public var description: String {
        if self == .fast { return "\(encoder) (--fast_conv)" }
        return encoder == decoder ? "\(encoder)" : "\(encoder) in the encoder, \(decoder) in the decoder"
    }

    /// The default of a kind of work, or what --fast_conv / --exact_conv ask for.
    public static func chosen(for work: MemoryEstimate.Work, fast: Bool, exact: Bool) -> ConvolutionArithmetic {
        if fast { return .fast }
        return exact || work == .training ? .exact : .fastDecoder
    }
}
