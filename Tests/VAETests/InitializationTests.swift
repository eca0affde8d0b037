@testable import VAECore
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

    /// The weights of `initialize(seed:)`, recorded before the layers declared their initialisation, when it was
    /// read off each parameter's name and rank (a 4-D weight and its bias were a convolution's): FNV-1a over the
    /// names and value bits in state-dict order, and the first value of a few parameters (bit patterns).
    func testSeededWeightsAreThoseOfTheNameAndRankRule() throws {
        var cfg = VAEConfig.sdV1
        (cfg.ch, cfg.chMult, cfg.numResBlocks, cfg.normNumGroups) = (8, [1, 2], 1, 4)
        let recorded: [(config: VAEConfig, seed: UInt64, checksum: UInt64, first: [String: UInt32])] = [
            (try VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")), 0, 0x71e8_588d_9b20_cec6,
             ["encoder.conv_in.weight": 1041699784, "encoder.conv_in.bias": 3180801861,
              "decoder.mid.attn_1.k.bias": 3166857693, "post_quant_conv.weight": 1055712621]),
            (try VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")), 7, 0x53a7_7bc5_0259_a063,
             ["encoder.conv_in.weight": 3173888101, "decoder.mid.attn_1.k.bias": 1040877214,
              "post_quant_conv.bias": 1056136791]),
            (try VAEConfig.load(path: Fixtures.path("vae-small-g32/config.yaml")), 0, 0xa9fd_3aae_bd5a_e5fa,
             ["encoder.conv_in.bias": 1041577085, "decoder.mid.attn_1.norm.weight": 1065353216,
              "post_quant_conv.weight": 1045343609, "post_quant_conv.bias": 1035709728]),
            (try VAEConfig.load(path: Fixtures.path("vae-small-g32/config.yaml")), 7, 0xc76b_e314_db33_29f5,
             ["encoder.conv_in.bias": 3154199363, "post_quant_conv.weight": 1051381266]),
            (cfg, 0, 0x0e2a_7df5_107a_e190, ["encoder.conv_in.bias": 1043083805, "post_quant_conv.bias": 3191621509]),
            (cfg, 7, 0x632d_b97d_3fb0_1dd6, ["encoder.conv_in.bias": 3171560575, "post_quant_conv.weight": 1055264525]),
        ]
        for (config, seed, checksum, first) in recorded {
            let model = AutoencoderKL(config)
            model.initialize(seed: seed)
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            func mix(_ byte: UInt64) { hash = (hash ^ byte) &* 0x100_0000_01b3 }
            for (name, p) in model.namedParameters {
                name.utf8.forEach { mix(UInt64($0)) }
                p.value.array.forEach { mix(UInt64($0.bitPattern)) }
            }
            XCTAssertEqual(hash, checksum, "\(config.yamlDescription), seed \(seed)")
            let values = Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter.value) })
            for (name, bits) in first {
                XCTAssertEqual(try XCTUnwrap(values[name]).data[0].bitPattern, bits, "\(name), seed \(seed)")
            }
        }
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
