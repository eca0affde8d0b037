import CCPUFeatures
import Foundation

/// The machine's arithmetic peak in float32: cores × FMA ports × lanes × 2 flops × clock, beside which `vae-dist
/// bench --mode sgemm` sets the measured GEMM rates. The clock comes from CPUID (leaf 0x16, else the brand string's
/// "@ x.xxGHz"), else from the kernel's /proc/cpuinfo (under a hypervisor usually the TSC rate: turbo may run above
/// it, and AVX-512 code may run below it); `clockSource` says which, and the peak is nil where none could be read.
/// The FMA ports are not in CPUID: two, as on every Intel core since Haswell with AVX-512 server parts and on AMD Zen
/// (AVX-512 on one port on some client and Xeon Bronze/Silver parts would halve it). Hence the formula's peak is an
/// assumption; `MeasuredFMA` beside it is what the cores really reach.
public struct ArithmeticPeak: Codable, Sendable {
    public var cores: Int
    public var fmaPorts: Int
    public var lanes: Int
    public var megahertz: Double?
    public var clockSource: String
    public var gflops: Double?

    enum CodingKeys: String, CodingKey {
        case cores, lanes, megahertz, gflops
        case fmaPorts = "fma_ports", clockSource = "clock_source"
    }

    /// For `cores` cores of this CPU at its widest vectors (16 float lanes with AVX-512, 8 with AVX2), whichever
    /// kernels `VAE_DIST_KERNELS` runs: the machine's peak.
    public init(cores: Int) {
        self.cores = cores
        fmaPorts = Self.assumedFMAPorts
        lanes = TransformKernels.widest.lanes
        (megahertz, clockSource) = Self.clock()
        gflops = megahertz.map { Self.gflops(cores: cores, fmaPorts: fmaPorts, lanes: lanes, megahertz: $0) }
    }

    /// FMA ports per core: not in CPUID (see above).
    public static let assumedFMAPorts = 2

    /// cores × FMA ports × lanes × 2 flops (an FMA is a multiply and an add) × the clock.
    public static func gflops(cores: Int, fmaPorts: Int, lanes: Int, megahertz: Double) -> Double {
        Double(cores * fmaPorts * lanes * 2) * megahertz / 1000
    }

    /// The clock at which `cores` cores issuing an FMA on every port every cycle reach `gflops`: the clock a measured
    /// FMA rate implies (`MeasuredFMA`).
    public static func megahertz(gflops: Double, cores: Int, fmaPorts: Int, lanes: Int) -> Double {
        gflops * 1000 / Double(cores * fmaPorts * lanes * 2)
    }

    static func clock() -> (Double?, String) {
        var brandBytes = [CChar](repeating: 0, count: 49)
        let cpuid = Int(vd_cpu_clock_mhz(&brandBytes))
        if cpuid > 0 { return (Double(cpuid), "CPUID leaf 0x16") }
        let brand = String(decoding: brandBytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let ghz = Self.brandGigahertz(brand) { return (ghz * 1000, "CPUID brand string") }
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
           let mhz = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), mhz > 0 {
            return (mhz, "not in CPUID (leaf 0x16 empty, brand \"\(brand.trimmingCharacters(in: .whitespaces))\" names no clock); /proc/cpuinfo's cpu MHz")
        }
        return (nil, "not in CPUID (leaf 0x16 empty, brand \"\(brand.trimmingCharacters(in: .whitespaces))\" names no clock), nor in /proc/cpuinfo")
    }

    /// "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz" → 2.5.
    static func brandGigahertz(_ brand: String) -> Double? {
        guard let at = brand.range(of: "@"), let unit = brand.range(of: "GHz", range: at.upperBound..<brand.endIndex) else { return nil }
        return Double(brand[at.upperBound..<unit.lowerBound].trimmingCharacters(in: .whitespaces))
    }
}
