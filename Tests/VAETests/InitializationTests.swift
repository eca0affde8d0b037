import VAECore
import VAETraining
import XCTest

final class InitializationTests: XCTestCase {
    func testPyTorchDefaultBoundsAndDeterminism() throws {
        var cfg = VAEConfig.sdV1
        (cfg.ch, cfg.chMult, cfg.numResBlocks, cfg.normNumGroups) = (8, [1, 2], 1, 4)
        let a = AutoencoderKL(cfg), b = AutoencoderKL(cfg), c = AutoencoderKL(cfg)
        a.initialize(seed: 7); b.initialize(seed: 7); c.initialize(seed: 8)
        for ((name, pa), (pb, pc)) in zip(a.namedParameters, zip(b.namedParameters.map(\.parameter), c.namedParameters.map(\.parameter))) {
            XCTAssertEqual(pa.value.array, pb.value.array, "\(name) is reproducible from the seed")
            let shape = pa.value.shape
            if shape.count == 4 {
                let bound = 1 / Float(shape[1...].reduce(1, *)).squareRoot()
                XCTAssertLessThanOrEqual(pa.value.maxAbs, bound, name)
                XCTAssertGreaterThan(pa.value.maxAbs, 0.5 * bound, name)
                XCTAssertNotEqual(pa.value.array, pc.value.array, "\(name) depends on the seed")
            }
        }
        let values = Dictionary(uniqueKeysWithValues: a.namedParameters.map { ($0.name, $0.parameter.value) })
        XCTAssertEqual(Set(try XCTUnwrap(values["decoder.norm_out.weight"]).array), [1])
        XCTAssertEqual(Set(try XCTUnwrap(values["decoder.norm_out.bias"]).array), [0])
        let convInBias = try XCTUnwrap(values["encoder.conv_in.bias"])
        XCTAssertLessThanOrEqual(convInBias.maxAbs, 1 / Float(27).squareRoot())
        XCTAssertGreaterThan(convInBias.maxAbs, 0)
    }
}

final class BackwardGroupTests: XCTestCase {
    /// Bucketed all-reduce relies on it: at the k-th `ready` call exactly groups 0...k have gradients.
    func testReadyCallbacksFollowBackwardGroups() throws {
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")))
        model.initialize(seed: 3)
        let groups = model.backwardGroups
        XCTAssertEqual(Set(groups.flatMap { $0 }.map(ObjectIdentifier.init)),
                       Set(model.namedParameters.map { ObjectIdentifier($0.parameter) }), "every parameter in exactly one group")
        XCTAssertEqual(groups.flatMap { $0 }.count, model.namedParameters.count)
        let x = Tensor(shape: [1, 3, 16, 16])
        for i in 0..<x.count { x.data[i] = sin(Float(i)) }
        var calls = 0
        model.zeroGradients()
        model.forwardBackward(input: x, eps: Tensor(shape: [1, 4, 8, 8]), loss: VAELoss(klWeight: 1)) {
            for (k, group) in groups.enumerated() {
                // A group has gradients once done, none before.
                let done = group.contains { $0.grad.maxAbs > 0 }
                XCTAssertEqual(done, k <= calls, "group \(k) at ready call \(calls)")
            }
            calls += 1
        }
        XCTAssertEqual(calls, groups.count)
    }
}
