import XCTest
import VAE

/// Finite-difference checks of every layer kind on small random shapes: the analytic input and parameter
/// gradients of L = Σ r ⊙ layer(x) (r a fixed random weighting) match central differences computed in float.
final class GradientCheckTests: XCTestCase {
    struct Probe {
        let forward: (Tensor) -> Tensor
        let backward: (Tensor) -> Tensor
        let parameters: [(name: String, parameter: Parameter)]
    }

    var rng = SplitMix64(seed: 42)

    func random(_ shape: [Int], scale: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = scale * Float(rng.nextUniform() * 2 - 1) }
        return t
    }

    func randomize(_ params: [(name: String, parameter: Parameter)]) {
        for (_, p) in params {
            let r = random(p.value.shape, scale: 0.5)
            p.value.copy(from: r)
            p.grad.zero()
        }
    }

    func loss(_ y: Tensor, _ r: Tensor) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
        return s
    }

    /// Checks a sample of coordinates of x and of each parameter.
    func check(_ name: String, _ probe: Probe, input: Tensor, samples: Int = 12, file: StaticString = #filePath, line: UInt = #line) {
        let y = probe.forward(input)
        let r = random(y.shape)
        let dx = probe.backward(r)
        let h: Float = 1e-2
        func numeric(_ buffer: UnsafeMutablePointer<Float>, _ i: Int) -> Double {
            let saved = buffer[i]
            buffer[i] = saved + h
            let plus = loss(probe.forward(input), r)
            buffer[i] = saved - h
            let minus = loss(probe.forward(input), r)
            buffer[i] = saved
            return (plus - minus) / Double(2 * h)
        }
        func compare(_ what: String, _ analytic: Float, _ num: Double) {
            let tol = 2e-2 * max(1, abs(num))
            XCTAssertEqual(Double(analytic), num, accuracy: tol, "\(name) \(what)", file: file, line: line)
        }
        for s in 0..<samples {
            let i = (s * 7919) % input.count
            compare("d input[\(i)]", dx.data[i], numeric(input.data, i))
        }
        for (pname, p) in probe.parameters {
            for s in 0..<min(samples, p.value.count) {
                let i = (s * 7919) % p.value.count
                compare("d \(pname)[\(i)]", p.grad.data[i], numeric(p.value.data, i))
            }
        }
    }

    func testConv3x3() {
        let conv = Conv2D(3, 4, kernel: 3)
        randomize(conv.namedParameters)
        check("conv3x3", Probe(forward: { conv.forward($0, train: true) }, backward: { conv.backward($0) },
                               parameters: conv.namedParameters), input: random([2, 3, 5, 6]))
    }

    func testConv1x1() {
        let conv = Conv2D(4, 3, kernel: 1)
        randomize(conv.namedParameters)
        check("conv1x1", Probe(forward: { conv.forward($0, train: true) }, backward: { conv.backward($0) },
                               parameters: conv.namedParameters), input: random([2, 4, 3, 5]))
    }

    func testDownsampleOddAndEvenSizes() {
        let down = Downsample(channels: 3)
        randomize(down.namedParameters)
        for shape in [[2, 3, 6, 5], [1, 3, 7, 8]] {
            check("downsample \(shape)", Probe(forward: { down.forward($0, train: true) }, backward: down.backward,
                                               parameters: down.namedParameters), input: random(shape))
            down.namedParameters.forEach { $0.parameter.grad.zero() }
        }
    }

    func testUpsample() {
        let up = Upsample(channels: 2)
        randomize(up.namedParameters)
        check("upsample", Probe(forward: { up.forward($0, train: true) }, backward: up.backward,
                                parameters: up.namedParameters), input: random([2, 2, 3, 4]))
    }

    func testGroupNorm() {
        let norm = GroupNorm(channels: 6, groups: 3)
        randomize(norm.namedParameters)
        check("groupnorm", Probe(forward: { norm.forward($0, train: true) }, backward: norm.backward,
                                 parameters: norm.namedParameters), input: random([2, 6, 3, 4]))
    }

    func testGroupNormFusedWithSwish() {
        let norm = GroupNorm(channels: 6, groups: 2, swish: true)
        randomize(norm.namedParameters)
        check("groupnorm+swish", Probe(forward: { norm.forward($0, train: true) }, backward: norm.backward,
                                       parameters: norm.namedParameters), input: random([2, 6, 3, 4], scale: 3))
    }

    func testResnetBlockWithShortcut() {
        let block = ResnetBlock(4, 6, groups: 2)
        randomize(block.namedParameters)
        check("resnet", Probe(forward: { block.forward($0, train: true) }, backward: block.backward,
                              parameters: block.namedParameters), input: random([2, 4, 4, 3]))
    }

    func testAttention() {
        let attn = AttnBlock(channels: 4, groups: 2)
        randomize(attn.namedParameters)
        check("attention", Probe(forward: { attn.forward($0, train: true) }, backward: attn.backward,
                                 parameters: attn.namedParameters), input: random([2, 4, 3, 4]))
    }
}
