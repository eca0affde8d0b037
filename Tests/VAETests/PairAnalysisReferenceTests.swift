import Foundation
import VAEAnalysis
import XCTest

/// The pair analysis against the reference: batch items 0 and 1 of the fixtures' `input` form a pair, and
/// `pair_metrics_item0_vs_item1` holds the float64 L2 and cosine per encoder and decoder layer between them, of
/// the analysed forward (encode `input`, decode the posterior mean at the fixture's weights). The analysis is fed
/// the encoded mean, since `input` is not an 8-bit image; the encoder's layers are measured as `PairAnalysis`
/// measures them, with `compareBatchItems` on each layer's two outputs as they appear.
extension ReferenceModelTests {
    func assertPairMetrics(_ measured: [LayerDifference], _ r: Reference, _ name: String,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try XCTUnwrap(r.json["pair_metrics_item0_vs_item1"] as? [String: [String: Any]])
        for layer in measured {
            let expected = try XCTUnwrap(reference[layer.layer], layer.layer)
            let l2 = try XCTUnwrap(expected["l2_value"] as? Double)
            let cosine = try XCTUnwrap(expected["cosine_value"] as? Double)
            for (metric, ours, ref) in [("l2_value", layer.l2, l2), ("cosine_value", layer.cosine, cosine)] {
                record(ContractCheck(key: "pair.\(layer.layer).\(metric)", error: abs(ours - ref), bound: ReferenceTolerance.forward(abs(ref))),
                       "\(name) \(layer.layer) \(metric)", file: file, line: line)
            }
            XCTAssertEqual(layer.shape, try XCTUnwrap(expected["shape"] as? [Int]), "\(name) \(layer.layer) shape", file: file, line: line)
        }
    }

    func checkPairMetrics(_ name: String) throws {
        try checkPairMetrics(try load(name), name)
    }

    func checkPairMetrics(_ r: Reference, _ name: String) throws {
        var encoderLayers: [LayerDifference] = []
        XCTAssertEqual(r.input.shape[0], 2, "the fixtures hold one pair")
        let means = r.model.encode(items: r.input.batchItems) { layer, outputs in
            encoderLayers.append(compareBatchItems(outputs, layer: layer).difference)
        }.map(\.mode)
        let encoderOrder = try XCTUnwrap(r.json["encoder_layers"] as? [String])
        XCTAssertEqual(encoderLayers.map(\.layer), encoderOrder)
        try assertPairMetrics(encoderLayers, r, name)

        let analysis = PairAnalysis(decoding: means, with: r.model)
        let order = try XCTUnwrap(r.json["decoder_layers"] as? [String])
        XCTAssertEqual(analysis.layers.map(\.layer), order)
        XCTAssertEqual(analysis.maps.count, order.count)
        try assertPairMetrics(analysis.layers, r, name)
        try assertMatchesReference(analysis.reconstruction, r, "rec_mode", "\(name) reconstruction",
                                   within: ReferenceTolerance.decoderForward)
    }

    func testTinyPairMetricsMatchReference() throws {
        try checkPairMetrics("vae-tiny-g8")
    }

    func testSmallPairMetricsMatchReference() throws {
        try checkPairMetrics("vae-small-g32")
    }
}
