import XCTest
import VAE

final class InitializationTests: XCTestCase {
    func testPyTorchDefaultBoundsAndDeterminism() {
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
        let norm = a.decoder.normOut
        XCTAssertEqual(Set(norm.weight.value.array), [1])
        XCTAssertEqual(Set(norm.bias.value.array), [0])
        let convInBias = a.encoder.convIn.bias.value
        XCTAssertLessThanOrEqual(convInBias.maxAbs, 1 / Float(27).squareRoot())
        XCTAssertGreaterThan(convInBias.maxAbs, 0)
    }
}
