import Foundation
@testable import VAEAnalysis
@testable import VAECore
@testable import VAEFormats
@testable import VAEJobs
import XCTest

/// `Network.forward(items:observe:)`, the forward-only path of the layer analysis: the items of a batch held as
/// separate tensors give bitwise the batch forward's outputs at every observed layer, and each stage input is
/// released as soon as its item's output exists.
final class ItemForwardTests: XCTestCase {
    /// SD's layout in small: a 1×1 nin_shortcut where the channel count changes (encoder down.1.block.0, decoder
    /// up.0.block.0), attention in the middle and at 20 px, one downsampling.
    let config = VAEConfig(ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [20, 21], zChannels: 4,
                           embedDim: 4, resolution: 40)

    func model(_ arithmetic: ConvolutionArithmetic) -> AutoencoderKL {
        let model = AutoencoderKL(config)
        model.initialize(seed: 7)
        model.arithmetic = arithmetic
        return model
    }

    func randomBatch(channels: Int, size: Int, seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: [2, channels, size, size], values: (0..<2 * channels * size * size).map { _ in Float(rng.nextUniform() * 2 - 1) })
    }

    /// Each item's values as bit patterns: equal only if bitwise equal.
    func bits(_ items: [Tensor]) -> [[UInt32]] { items.map { $0.array.map(\.bitPattern) } }

    /// Every observed layer's outputs per item, from the batch forward and from the per-item forward.
    func assertItemsMatchBatch(_ label: String,
                               batch: (@escaping (String, Tensor) -> Void) -> Tensor,
                               items: (@escaping (String, [Tensor]) -> Void) -> [Tensor],
                               file: StaticString = #filePath, line: UInt = #line) {
        var batchLayers: [(String, [[UInt32]])] = [], itemLayers: [(String, [[UInt32]])] = []
        let batchResult = batch { name, output in batchLayers.append((name, self.bits(output.batchItems))) }
        let itemResult = items { name, outputs in itemLayers.append((name, self.bits(outputs))) }
        XCTAssertFalse(batchLayers.isEmpty, label, file: file, line: line)
        XCTAssertEqual(itemLayers.map(\.0), batchLayers.map(\.0), label, file: file, line: line)
        for ((name, a), (_, b)) in zip(batchLayers, itemLayers) {
            XCTAssertTrue(a == b, "\(label): \(name) differs between the batch and the items", file: file, line: line)
        }
        XCTAssertTrue(bits(batchResult.batchItems) == bits(itemResult), "\(label): the results differ", file: file, line: line)
    }

    /// Each arithmetic's model with a random batch [2, channels, size, size] of each size.
    func forEachCase(_ arithmetics: [ConvolutionArithmetic], channels: Int, sizes: [Int],
                     _ body: (AutoencoderKL, Tensor, String) -> Void) {
        for arithmetic in arithmetics {
            let model = model(arithmetic)
            for size in sizes {
                body(model, randomBatch(channels: channels, size: size, seed: UInt64(size)), "\(arithmetic), \(size) px")
            }
        }
    }

    func testEncoderItemsGiveTheBatchForwardBitForBit() {
        forEachCase([.exact, .fast], channels: 3, sizes: [40, 42]) { model, x, label in
            assertItemsMatchBatch(label, batch: { observe in
                model.encode(x, train: false, observe: observe).moments
            }, items: { observe in
                model.encode(items: x.batchItems, observe: observe).map(\.moments)
            })
            // Unobserved, each image runs the whole encoder alone.
            XCTAssertTrue(bits(model.encode(x, train: false).mean.batchItems) == bits(model.encode(items: x.batchItems).map(\.mean)), label)
        }
    }

    func testDecoderItemsGiveTheBatchForwardBitForBit() {
        forEachCase([.exact, .default], channels: 4, sizes: [10, 11]) { model, z, label in
            assertItemsMatchBatch(label, batch: { observe in
                model.decode(z, train: false, observe: observe)
            }, items: { observe in
                model.decode(items: z.batchItems, observe: observe)
            })
            XCTAssertTrue(bits(model.decode(z, train: false).batchItems) == bits(model.decode(items: z.batchItems)), label)
        }
    }

    /// The analysis of a pair is what comparing the batch forward's items gives, layer by layer and map by map.
    func testPairAnalysisEqualsTheBatchForwardsComparison() {
        let model = model(.default)
        var rng = SplitMix64(seed: 12)
        let images = (0..<2).map { _ in RGB8Image(width: 40, height: 40, pixels: (0..<40 * 40 * 3).map { _ in UInt8(rng.next() % 256) }) }
        var expected: [(LayerDifference, DifferenceMap)] = []
        let compare = { (name: String, output: Tensor) in expected.append(compareBatchItems(output.batchItems, layer: name)) }
        let reconstruction = model.decode(model.encode(imageBatch(images), train: false, observe: compare).mode,
                                          train: false, observe: compare)
        let analysis = PairAnalysis(images: (images[0], images[1]), layers: .both, with: model)
        XCTAssertEqual(analysis.layers, expected.map(\.0))
        XCTAssertEqual(analysis.maps, expected.map(\.1))
        XCTAssertEqual(analysis.reconstruction.shape, reconstruction.shape)
        XCTAssertTrue(analysis.reconstruction.array.map(\.bitPattern) == reconstruction.array.map(\.bitPattern))
    }
}

/// What keeps the per-item forward's peak low: nothing holds a stage's inputs once their outputs exist.
extension ItemForwardTests {
    struct WeakTensor {
        weak var tensor: Tensor?
    }

    /// A stage that returns a fresh tensor and notes, before making it, how many tensors it made earlier are alive.
    final class LifetimeProbe: MeasuredLayer {
        var made: [WeakTensor] = []
        var aliveAtCall: [Int] = []
        var namedParameters: [(name: String, parameter: Parameter)] { [] }

        func forward(_ x: Tensor, train: Bool) -> Tensor {
            aliveAtCall.append(made.filter { $0.tensor != nil }.count)
            let y = Tensor(shape: x.shape)
            made.append(WeakTensor(tensor: y))
            return y
        }

        func backward(_ dy: Tensor) -> Tensor { dy }
        func footprint(_ input: ActivationShape) -> Footprint { Footprint(output: input) }
    }

    func testAnItemsStageInputIsReleasedBeforeTheNextItemRuns() {
        let probe = LifetimeProbe()
        let network = Network("probe", ["a", "b", "c"].map { Stage($0, probe) })
        let inputs = [Tensor(shape: [1, 1, 2, 2]), Tensor(shape: [1, 1, 2, 2])]
        var observed: [String] = []
        _ = network.forward(items: inputs) { name, outputs in
            observed.append(name)
            XCTAssertEqual(outputs.count, 2)
        }
        XCTAssertEqual(observed, ["probe.a", "probe.b", "probe.c"])
        // Calls a0 a1 b0 b1 c0 c1: from stage b on, alive are the unprocessed items' inputs and the processed
        // items' outputs, two in all; a batch (or an input dropped only when the stage ends) would hold three at b1.
        XCTAssertEqual(probe.aliveAtCall, [0, 1, 2, 2, 2, 2])
    }

    /// On the model: when a layer's outputs are observed, no earlier layer's output is alive any more, except the
    /// inputs of norm_out, which conv_out reads through the norm's written output.
    func testEarlierLayersOutputsAreReleasedWhenALayerIsObserved() {
        let model = model(.default)
        var seen: [(String, [WeakTensor])] = []
        let check = { (name: String, outputs: [Tensor]) in
            let alive = seen.filter { $0.1.contains { $0.tensor != nil } }.map(\.0)
            let allowed = name.hasSuffix("norm_out") ? Array(seen.suffix(1).map(\.0)) : []
            XCTAssertTrue(alive.allSatisfy(allowed.contains), "\(name): still alive \(alive)")
            seen.append((name, outputs.map { WeakTensor(tensor: $0) }))
        }
        let images = randomBatch(channels: 3, size: 40, seed: 3).batchItems
        let means = model.encode(items: images, observe: check).map(\.mode)
        seen.removeAll()
        _ = model.decode(items: means, observe: check)
        XCTAssertEqual(seen.map(\.0), model.decoder.layerNames)
    }
}
