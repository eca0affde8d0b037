@testable import VAECore
import XCTest

/// The networks' stage lists against ldm's module names: forward order for the layer analysis, registration
/// order for the state dict (checkpoints, exports and the seeded initialisation depend on it).
final class NetworkTests: XCTestCase {
    /// Two levels, one res block, attention at the lower resolution (8 of 16).
    let config = try! VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml"))

    func registered(_ network: Network) -> [String] {
        Network.registrationOrder(of: network.stages.map(\.name)).map { network.stages[$0].name }
    }

    func testEncoderStagesInForwardAndRegistrationOrder() {
        let encoder = Network.encoder(config)
        let modules = ["conv_in", "down.0.block.0", "down.0.downsample", "down.1.block.0", "down.1.attn.0",
                       "mid.block_1", "mid.attn_1", "mid.block_2", "norm_out", "conv_out"]
        XCTAssertEqual(encoder.layerNames, modules.map { "encoder.\($0)" })
        XCTAssertEqual(registered(encoder), modules)
    }

    func testDecoderRegistersLevelsByIndexAndBlocksBeforeAttention() {
        let decoder = Network.decoder(config)
        XCTAssertEqual(decoder.stages.map(\.name),
                       ["conv_in", "mid.block_1", "mid.attn_1", "mid.block_2",
                        "up.1.block.0", "up.1.attn.0", "up.1.block.1", "up.1.attn.1", "up.1.upsample",
                        "up.0.block.0", "up.0.block.1", "norm_out", "conv_out"])
        XCTAssertEqual(registered(decoder),
                       ["conv_in", "mid.block_1", "mid.attn_1", "mid.block_2", "up.0.block.0", "up.0.block.1",
                        "up.1.block.0", "up.1.block.1", "up.1.attn.0", "up.1.attn.1", "up.1.upsample",
                        "norm_out", "conv_out"])
        XCTAssertEqual(decoder.namedParameters.first?.name, "conv_in.weight")
        XCTAssertEqual(decoder.namedParameters.last?.name, "conv_out.bias")
    }
}
