import Foundation

/// Time spent by kind of work, for `vae-dist bench`. Off unless enabled: then each instrumented kernel adds
/// its wall time to its kind (kernels run one at a time; their inner loops are what run in parallel).
public enum Profile {
    public enum Kind: String, CaseIterable, Sendable {
        case conv = "conv (GEMM)"
        case layout = "im2col / layout"
        case winograd = "winograd transforms"
        case groupNorm = "group norm"
        case attention = "attention"
        case elementwise = "elementwise"
        case optimizer = "optimizer"
    }

    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) private static var seconds = [Kind: Double]()
    /// Floating-point operations of convolutions and matmuls (multiply-add = 2).
    nonisolated(unsafe) public private(set) static var flops = 0.0

    @inline(__always)
    public static func measure<T>(_ kind: Kind, flops count: Double = 0, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            seconds[kind, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            flops += count
        }
        return try body()
    }

    public static func reset() {
        seconds = [:]
        flops = 0
    }

    public static var breakdown: [(kind: Kind, seconds: Double)] {
        Kind.allCases.map { ($0, seconds[$0] ?? 0) }
    }
}
