import Foundation

/// Time spent by kind of work, for `vae-dist bench`: one per `ComputeContext`. Off unless enabled: then each
/// instrumented kernel adds its wall time to its kind (kernels run one at a time; their inner loops are what run
/// in parallel).
public final class Profile {
    public enum Kind: String, CaseIterable, Sendable {
        case conv = "conv (GEMM)"
        case layout = "im2col / layout"
        case winograd = "winograd transforms"
        case groupNorm = "group norm"
        case attention = "attention"
        case elementwise = "elementwise"
        case optimizer = "optimizer"
    }

    public var enabled = false
    private var seconds = [Kind: Double]()
    /// Floating-point operations of convolutions and matmuls (multiply-add = 2).
    public private(set) var flops = 0.0

    init() {}

    /// Runs `body`, adding its time (and `count` flops) to the profile of the bound context when it is enabled.
    @inline(__always)
    public static func measure<T>(_ kind: Kind, flops count: Double = 0, _ body: () throws -> T) rethrows -> T {
        let profile = ComputeContext.current.profile
        guard profile.enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            profile.seconds[kind, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            profile.flops += count
        }
        return try body()
    }

    public func reset() {
        seconds = [:]
        flops = 0
    }

    public var breakdown: [(kind: Kind, seconds: Double)] {
        Kind.allCases.map { ($0, seconds[$0] ?? 0) }
    }
}
