/// A part of the networks whose 3×3 stride-1 convolutions share one Winograd algorithm: the stages of ldm's
/// encoder and decoder by kind (`down`/`up`: every level's res blocks, and the resampling convolution).
public enum ConvolutionPart: String, CaseIterable, Sendable, Comparable, CustomStringConvertible {
    case encoderConvIn = "encoder.conv_in", encoderDown = "encoder.down", encoderMid = "encoder.mid"
    case encoderConvOut = "encoder.conv_out"
    case decoderConvIn = "decoder.conv_in", decoderMid = "decoder.mid", decoderUp = "decoder.up"
    case decoderConvOut = "decoder.conv_out"

    /// The part of the stage named `stage` (e.g. "up.3.block.0") of the network named `network`; nil for
    /// stages without 3×3 convolutions of their own kind (norm_out).
    public init?(network: String, stage: String) {
        let kind = stage.split(separator: ".").first.map(String.init) ?? stage
        self.init(rawValue: "\(network).\(kind)")
    }

    /// The parts of the network named `network` ("encoder" or "decoder").
    public static func of(_ network: String) -> Set<ConvolutionPart> {
        Set(allCases.filter { $0.rawValue.hasPrefix("\(network).") })
    }

    public var description: String { rawValue }

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Which Winograd algorithm each part of the networks uses. F(4×4) does 1.8× fewer multiplications than F(2×2)
/// at several times its rounding error (docs/PERFORMANCE-LOG.md, "Winograd F(4×4, 3×3)"), so the defaults use it
/// where the fixtures' accuracy contract (Tests/Fixtures/README.md: each tensor within max(its fixed bound,
/// 1.5 × PyTorch float32's error on it)) holds with it on both kernel paths (AVX-512 and AVX2): chosen by
/// measurement and held to it by the tests of Tests/VAETests/ArithmeticChoiceTests.swift, which scripts/test.sh runs
/// on each path. Forward-only work is held to the forward tensors, training also to the gradients and Adam steps.
public struct ConvolutionArithmetic: Sendable, Equatable, CustomStringConvertible {
    /// The parts that compute with F(4×4); the others with F(2×2).
    public var f4x4: Set<ConvolutionPart>

    public init(f4x4: Set<ConvolutionPart>) { self.f4x4 = f4x4 }

    public func tiling(of part: ConvolutionPart) -> WinogradTiling { f4x4.contains(part) ? .f4x4 : .f2x2 }

    /// F(2×2) everywhere: `--exact_conv`.
    public static let exact = ConvolutionArithmetic(f4x4: [])
    /// F(4×4) everywhere: `--fast_conv`.
    public static let fast = ConvolutionArithmetic(f4x4: Set(ConvolutionPart.allCases))
    /// F(4×4) in the whole decoder: the default of forward-only work (analysis, reconstruction), whose forward
    /// tensors keep the contract with it; every encoder part misses the encoder's 1e-6 with F(4×4).
    public static let fastDecoder = ConvolutionArithmetic(f4x4: ConvolutionPart.of("decoder"))
    /// The default of training: F(4×4) only where the forward tensors, the gradients and the Adam steps keep the
    /// contract with it (both kernel paths compute bitwise the same, so one measurement holds for both). Adam's
    /// first step moves a weight by lr · g/(|g| + eps): where a gradient is near eps, its last bits decide the step,
    /// so a change of any kernel's summation order can move this choice, and the choice test then says so.
    public static let training = ConvolutionArithmetic(f4x4: [.decoderConvIn, .decoderMid, .decoderUp])

    /// The default of a kind of work.
    public static func `default`(for work: MemoryEstimate.Work) -> ConvolutionArithmetic {
        work == .training ? .training : .fastDecoder
    }

    /// As result files record it.
    public var description: String {
        if self == .fast { return "\(WinogradTiling.f4x4) (--fast_conv)" }
        if f4x4.isEmpty { return "\(WinogradTiling.f2x2)" }
        if f4x4 == ConvolutionPart.of("decoder") { return "\(WinogradTiling.f2x2) in the encoder, \(WinogradTiling.f4x4) in the decoder" }
        return "\(WinogradTiling.f4x4) in \(f4x4.sorted().map(\.rawValue).joined(separator: ", ")); \(WinogradTiling.f2x2) elsewhere"
    }

    /// The default of a kind of work, or what --fast_conv / --exact_conv ask for.
    public static func chosen(for work: MemoryEstimate.Work, fast: Bool, exact: Bool) -> ConvolutionArithmetic {
        fast ? .fast : exact ? .exact : .default(for: work)
    }
}
