/// The tiles a Winograd transform works on at once, one tile per lane: `SIMD8<Float>` (AVX2) or `SIMD16<Float>`
/// (AVX-512). The transforms are written once, generic over it, and every module that calls them with a concrete
/// width compiles them with its own CPU flags (everything here is inlinable). An incremental debug build may keep
/// TileTransformsAVX512's old copy after a change here: touch its source (release builds recompile it).
public protocol TileLanes: SIMD where Scalar == Float {
    static var lanes: Int { get }
    /// (p[2j], p[2j + 1]) for j < lanes: the even and odd values of 2 · lanes floats.
    static func pairs(_ p: UnsafeRawPointer) -> (Self, Self)
    /// (p[4j], p[4j + 1], p[4j + 2], p[4j + 3]) for j < lanes.
    static func quads(_ p: UnsafeRawPointer) -> (Self, Self, Self, Self)
}

extension SIMD8: TileLanes where Scalar == Float {
    @inlinable public static var lanes: Int { 8 }

    @inlinable @inline(__always)
    public static func pairs(_ p: UnsafeRawPointer) -> (Self, Self) {
        let a = p.loadUnaligned(as: SIMD16<Float>.self)
        return (a.evenHalf, a.oddHalf)
    }

    @inlinable @inline(__always)
    public static func quads(_ p: UnsafeRawPointer) -> (Self, Self, Self, Self) {
        let a = p.loadUnaligned(as: SIMD32<Float>.self)
        return (a.evenHalf.evenHalf, a.oddHalf.evenHalf, a.evenHalf.oddHalf, a.oddHalf.oddHalf)
    }
}

extension SIMD16: TileLanes where Scalar == Float {
    @inlinable public static var lanes: Int { 16 }

    @inlinable @inline(__always)
    public static func pairs(_ p: UnsafeRawPointer) -> (Self, Self) {
        let a = p.loadUnaligned(as: SIMD32<Float>.self)
        return (a.evenHalf, a.oddHalf)
    }

    @inlinable @inline(__always)
    public static func quads(_ p: UnsafeRawPointer) -> (Self, Self, Self, Self) {
        // Two 32-wide halves rather than one 64-wide load, whose shuffles the compiler leaves lane by lane.
        let a = p.loadUnaligned(as: SIMD32<Float>.self), b = p.loadUnaligned(fromByteOffset: 128, as: SIMD32<Float>.self)
        let even = SIMD32(lowHalf: a.evenHalf, highHalf: b.evenHalf), odd = SIMD32(lowHalf: a.oddHalf, highHalf: b.oddHalf)
        return (even.evenHalf, odd.evenHalf, even.oddHalf, odd.oddHalf)
    }
}

extension TileLanes {
    /// The first `count` (≤ lanes) values into the first lanes, zeros in the rest: a row's last, partial vector.
    @inlinable @inline(__always)
    public init(loading p: UnsafePointer<Float>, count: Int) {
        if count == Self.lanes {
            self = UnsafeRawPointer(p).loadUnaligned(as: Self.self)
            return
        }
        self = Self()
        for j in 0..<count { self[j] = p[j] }
    }

    /// The first `count` (≤ lanes) lanes only.
    @inlinable @inline(__always)
    public func store(to p: UnsafeMutablePointer<Float>, count: Int) {
        if count == Self.lanes {
            UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self)
        } else {
            for j in 0..<count { p[j] = self[j] }
        }
    }
}

/// Groups of `lanes` tiles that cover `tiles` (the last one partial).
@inlinable @inline(__always)
func tileGroups(_ tiles: Int, lanes: Int) -> Int { (tiles + lanes - 1) / lanes }
