import Foundation
@testable import VAEAnalysis
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
import XCTest

/// Every layer computes each batch item the same way whatever its slot and whatever the other items are: the
/// layer analysis compares items 0 and 1 of one batch, so identical images must give exactly zero differences.
final class BatchSlotTests: XCTestCase {
    /// Small enough to run quickly, with attention and two levels; 2^18 / 32 channels puts a whole batch of
    /// these sizes into one Winograd chunk, the case where tiles of two items used to share GEMM columns.
    let config = VAEConfig(ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [20, 24, 28], zChannels: 4,
                           embedDim: 4, resolution: 40)

    func model() -> AutoencoderKL {
        let model = AutoencoderKL(config)
        model.initialize(seed: 5)
        return model
    }

    func randomItems(_ count: Int, channels: Int, size: Int, seed: UInt64) -> [[Float]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (0..<channels * size * size).map { _ in Float(rng.nextUniform() * 2 - 1) } }
    }

    /// Every observed layer's output, one array per batch item.
    func layerOutputs(_ items: [[Float]], channels: Int, size: Int,
                      run: (Tensor, @escaping (String, Tensor) -> Void) -> Void) -> [(String, [[Float]])] {
        let batch = Tensor(shape: [items.count, channels, size, size], values: items.flatMap { $0 })
        var outputs: [(String, [[Float]])] = []
        run(batch) { name, output in
            let per = output.count / output.dims.n
            outputs.append((name, (0..<output.dims.n).map { Array(output.buffer[($0 * per)..<(($0 + 1) * per)]) }))
        }
        return outputs
    }

    func assertSlotIndependent(channels: Int, size: Int, file: StaticString = #filePath, line: UInt = #line,
                               run: (Tensor, @escaping (String, Tensor) -> Void) -> Void) {
        let items = randomItems(3, channels: channels, size: size, seed: UInt64(size))
        // Item 0 first in one batch, second in another, beside different neighbours.
        let first = layerOutputs([items[0], items[1]], channels: channels, size: size, run: run)
        let second = layerOutputs([items[2], items[0]], channels: channels, size: size, run: run)
        XCTAssertFalse(first.isEmpty, file: file, line: line)
        XCTAssertEqual(first.map(\.0), second.map(\.0), file: file, line: line)
        for ((name, a), (_, b)) in zip(first, second) {
            XCTAssertTrue(a[0] == b[1], "size \(size): \(name) differs between slot 0 and slot 1", file: file, line: line)
        }
    }

    func testEncoderLayersComputeAnItemBitwiseTheSameInEitherSlot() {
        let model = model()
        for size in [40, 48, 56] {
            assertSlotIndependent(channels: 3, size: size) { batch, observe in
                _ = model.encode(batch, train: false, observe: observe)
            }
        }
    }

    func testDecoderLayersComputeAnItemBitwiseTheSameInEitherSlot() {
        let model = model()
        for size in [10, 12, 14] {
            assertSlotIndependent(channels: 4, size: size) { batch, observe in
                _ = model.decode(batch, train: false, observe: observe)
            }
        }
    }

    func testTheSameImageTwiceGivesExactlyZeroDifferences() {
        let model = model()
        var rng = SplitMix64(seed: 3)
        for size in [40, 48] {
            let image = RGB8Image(width: size, height: size, pixels: (0..<size * size * 3).map { _ in UInt8(rng.next() % 256) })
            let analysis = PairAnalysis(images: (image, image), with: model)
            XCTAssertEqual(analysis.layers.count, model.decoder.layerNames.count)
            for layer in analysis.layers {
                XCTAssertEqual(layer.l2, 0, "size \(size): \(layer.layer)")
                XCTAssertEqual(layer.cosine, 0, "size \(size): \(layer.layer)")
            }
            XCTAssertTrue(analysis.maps.allSatisfy { $0.values.allSatisfy { $0 == 0 } })
        }
    }
}

/// `--layers`: the encoder's layers measured like the decoder's, in forward order.
extension BatchSlotTests {
    func testEncoderLayersAreMeasuredInForwardOrderBeforeTheDecoder() {
        let model = model()
        var rng = SplitMix64(seed: 8)
        let images = (0..<2).map { _ in RGB8Image(width: 40, height: 40, pixels: (0..<40 * 40 * 3).map { _ in UInt8(rng.next() % 256) }) }
        let both = PairAnalysis(images: (images[0], images[1]), layers: .both, with: model)
        let decoder = PairAnalysis(images: (images[0], images[1]), with: model)
        let encoder = PairAnalysis(images: (images[0], images[1]), layers: .encoder, with: model)
        // One res block per encoder level (the decoder has one more), attention at 20 px.
        let encoderNames = ["encoder.conv_in", "encoder.down.0.block.0", "encoder.down.0.downsample",
                            "encoder.down.1.block.0", "encoder.down.1.attn.0", "encoder.mid.block_1", "encoder.mid.attn_1", "encoder.mid.block_2", "encoder.norm_out",
                            "encoder.conv_out", "quant_conv"]
        XCTAssertEqual(model.encoderLayerNames, encoderNames)
        XCTAssertEqual(encoder.layers.map(\.layer), encoderNames)
        XCTAssertEqual(both.layers.map(\.layer), encoderNames + model.decoder.layerNames)
        XCTAssertEqual(Array(both.layers.suffix(decoder.layers.count)), decoder.layers)
        XCTAssertEqual(Array(both.layers.prefix(encoderNames.count)), encoder.layers)
        XCTAssertEqual(both.maps.count, both.layers.count)
        // encoder.conv_in measured directly; quant_conv holds the moments (mean and log-variance channels).
        let batch = imageBatch(images)
        XCTAssertEqual(encoder.layers[0], compareBatchItems(model.encoder.stages[0].layer.forward(batch, train: false).batchItems, layer: "encoder.conv_in").difference)
        XCTAssertEqual(encoder.layers.last?.shape, [1, 8, 20, 20])
        XCTAssertGreaterThan(encoder.layers.last!.l2, 0)
    }
}
