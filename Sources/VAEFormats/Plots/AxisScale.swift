import Foundation

/// A linear axis over [lower, upper] with "nice" tick values (1, 2 or 5 times a power of ten).
struct AxisScale: Equatable {
    let lower: Double
    let upper: Double
    let ticks: [Double]
    let step: Double

    /// Ticks covering the data range, widened by `margin` (a fraction of it) on each side; a zero
    /// range (one point, a constant series) is widened around the value so it sits mid-axis.
    /// With `snapToTicks` the range then grows to whole steps.
    /// With `wholeNumbers` (epochs, counts) the step is at least 1.
    init(dataMin: Double, dataMax: Double, snapToTicks: Bool, margin: Double = 0, targetTicks: Int = 6,
         wholeNumbers: Bool = false) {
        var low = dataMin.isFinite ? dataMin : 0
        var high = dataMax.isFinite ? dataMax : 1
        if high < low { swap(&low, &high) }
        if high - low <= max(abs(low), abs(high)) * 1e-12 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        }
        let span = high - low
        low -= span * margin
        high += span * margin
        let rough = (high - low) / Double(max(1, targetTicks - 1))
        let (mantissa, exponent) = AxisScale.niceStep(for: wholeNumbers ? max(1, rough) : rough)
        // k × mantissa ÷ 10^n is exact where k × mantissa × 10^-n is not (0.6, not 0.6000000000000001).
        let value = { (k: Double) in
            exponent < 0 ? k * mantissa / pow(10, Double(-exponent)) : k * mantissa * pow(10, Double(exponent))
        }
        let step = value(1)
        // The tolerance keeps a bound that is already a whole step (up to rounding) where it is.
        if snapToTicks {
            low = value((low / step + 1e-9).rounded(.down))
            high = value((high / step - 1e-9).rounded(.up))
        }
        var ticks: [Double] = []
        var k = (low / step - 1e-9).rounded(.up)
        while value(k) <= high + step * 1e-9 {
            ticks.append(value(k) + 0)  // + 0 turns -0 into 0
            k += 1
        }
        lower = low
        upper = high
        self.ticks = ticks
        self.step = step
    }

    /// The step nearest `rough` among 1, 2 and 5 times a power of ten, as (1, 2 or 5, power).
    static func niceStep(for rough: Double) -> (mantissa: Double, exponent: Int) {
        let exponent = Int(log10(rough).rounded(.down))
        let fraction = rough / pow(10, Double(exponent))
        if fraction < 1.5 { return (1, exponent) }
        if fraction < 3 { return (2, exponent) }
        if fraction < 7 { return (5, exponent) }
        return (1, exponent + 1)
    }

    /// Position of `value` between `start` (lower) and `end` (upper) in device units.
    func position(of value: Double, from start: Double, to end: Double) -> Double {
        start + (value - lower) / (upper - lower) * (end - start)
    }

    /// Tick labels with just enough decimals to tell neighbours apart; scientific notation for
    /// very large or very small magnitudes.
    func label(_ value: Double) -> String {
        let largest = max(abs(lower), abs(upper))
        let stepExponent = Int(log10(step).rounded(.down))
        if largest >= 1e6 || stepExponent < -5 {
            let digits = max(0, min(6, Int(log10(largest).rounded(.down)) - stepExponent))
            return value == 0 ? "0" : String(format: "%.\(digits)e", value)
        }
        return String(format: "%.\(max(0, -stepExponent))f", value)
    }
}
