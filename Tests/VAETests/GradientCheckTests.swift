@testable import VAECore
import XCTest

/// Finite-difference checks of every layer kind on small random shapes: the analytic input and parameter
/// gradients of L = Σ r ⊙ layer(x) (r a fixed random weighting) match central differences computed in float.
final class GradientCheckTests: XCTestCase {
    var rng = SplitMix64(seed: 42)

    func random(_ shape: [Int], scale: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = scale * Float(rng.nextUniform() * 2 - 1) }
        return t
    }

    /// The layer with random parameters and cleared gradients.
    func randomized<L: Layer>(_ layer: L) -> L {
        for (_, p) in layer.namedParameters {
            let r = random(p.value.shape, scale: 0.5)
            p.value.copy(from: r)
            p.grad.zero()
        }
        return layer
    }

    func loss(_ y: Tensor, _ r: Tensor) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
        return s
    }

    /// The sampled coordinates of x and of each parameter whose analytic gradient is off the central difference.
    func mismatches(_ layer: some Layer, input: Tensor, samples: Int = 12) -> [String] {
        let y = layer.forward(input, train: true)
        let r = random(y.shape)
        let dx = layer.backward(r)
        let h: Float = 1e-2
        func numeric(_ buffer: UnsafeMutablePointer<Float>, _ i: Int) -> Double {
            let saved = buffer[i]
            buffer[i] = saved + h
            let plus = loss(layer.forward(input, train: true), r)
            buffer[i] = saved - h
            let minus = loss(layer.forward(input, train: true), r)
            buffer[i] = saved
            return (plus - minus) / Double(2 * h)
        }
        var found: [String] = []
        func compare(_ what: String, _ analytic: Float, _ num: Double) {
            let tol = 2e-2 * max(1, abs(num))
            if !(abs(Double(analytic) - num) <= tol) { found.append("\(what): analytic \(analytic), numeric \(num)") }
        }
        for s in 0..<samples {
            let i = (s * 7919) % input.count
            compare("d input[\(i)]", dx.data[i], numeric(input.data, i))
        }
        for (pname, p) in layer.namedParameters {
            for s in 0..<min(samples, p.value.count) {
                let i = (s * 7919) % p.value.count
                compare("d \(pname)[\(i)]", p.grad.data[i], numeric(p.value.data, i))
            }
        }
        return found
    }

    func check(_ name: String, _ layer: some Layer, input: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(mismatches(layer, input: input), [], name, file: file, line: line)
    }

    func testConv3x3() {
        check("conv3x3", randomized(Conv2D(inChannels: 3, outChannels: 4, kernel: 3)), input: random([2, 3, 5, 6]))
    }

    func testConv1x1() {
        check("conv1x1", randomized(Conv2D(inChannels: 4, outChannels: 3, kernel: 1)), input: random([2, 4, 3, 5]))
    }

    func testDownsampleOddAndEvenSizes() {
        let down = randomized(Downsample(channels: 3))
        for shape in [[2, 3, 6, 5], [1, 3, 7, 8]] {
            check("downsample \(shape)", down, input: random(shape))
            down.namedParameters.forEach { $0.parameter.grad.zero() }
        }
    }

    func testUpsample() {
        check("upsample", randomized(Upsample(channels: 2)), input: random([2, 2, 3, 4]))
    }

    func testGroupNorm() {
        check("groupnorm", randomized(GroupNorm(channels: 6, groups: 3)), input: random([2, 6, 3, 4]))
    }

    func testGroupNormFusedWithSwish() {
        check("groupnorm+swish", randomized(GroupNorm(channels: 6, groups: 2, swish: true)), input: random([2, 6, 3, 4], scale: 3))
    }

    func testResnetBlockWithShortcut() {
        check("resnet", randomized(ResnetBlock(inChannels: 4, outChannels: 6, groups: 2)), input: random([2, 4, 4, 3]))
    }

    func testAttention() {
        check("attention", randomized(AttnBlock(channels: 4, groups: 2)), input: random([2, 4, 3, 4]))
    }

    /// A layer whose backward is wrong by a factor: the check must report it.
    func testCheckCatchesAWrongGradient() {
        final class HalvedGradient: Layer {
            let conv = Conv2D(inChannels: 2, outChannels: 2, kernel: 3)
            var namedParameters: [(name: String, parameter: Parameter)] { conv.namedParameters }
            func forward(_ x: Tensor, train: Bool) -> Tensor { conv.forward(x, train: train) }
            func backward(_ dy: Tensor) -> Tensor {
                let dx = conv.backward(dy)
                for i in 0..<dx.count { dx.data[i] *= 0.5 }
                return dx
            }
        }
        let found = mismatches(randomized(HalvedGradient()), input: random([1, 2, 4, 4]))
        XCTAssertFalse(found.isEmpty)
        XCTAssertTrue(found.allSatisfy { $0.hasPrefix("d input") }, "only the input gradient is wrong: \(found)")
    }
}
