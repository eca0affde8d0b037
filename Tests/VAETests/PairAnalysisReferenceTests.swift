import Foundation
import XCTest
import VAE

/// The pair analysis against the ldm reference: batch items 0 and 1 of the fixtures' `input` form a pair, and
/// `pair_metrics_item0_vs_item1` holds ldm's L2 and cosine per decoder layer between them.
///
/// Fixture quirk: those metrics were computed from the `act.` tensors, which (see `stateOfTheLayerFixtures`) come
/// from decoding the sampled z = mean + std·eps at the weights after one Adam step — not from the posterior mode
/// at the initial weights that reference.json describes. So the analysis is fed that z directly: the part of the
/// analysis under test (decode as a batch of two, measure each layer as it appears) is the same; only the
/// encoding of image files is bypassed.
extension ReferenceModelTests {
    func checkPairMetrics(_ name: String) throws {
        let r = try load(name)
        let (_, z) = try stateOfTheLayerFixtures(r)
        XCTAssertEqual(z.shape[0], 2, "the fixtures hold one pair")
        let analysis = PairAnalysis(decoding: z, with: r.model)

        let order = try XCTUnwrap(r.json["decoder_layers"] as? [String])
        let reference = try XCTUnwrap(r.json["pair_metrics_item0_vs_item1"] as? [String: [String: Any]])
        XCTAssertEqual(analysis.layers.map(\.layer), order)
        XCTAssertEqual(analysis.maps.count, order.count)
        for layer in analysis.layers {
            let expected = try XCTUnwrap(reference[layer.layer], layer.layer)
            let l2 = try XCTUnwrap(expected["l2_value"] as? Double)
            let cosine = try XCTUnwrap(expected["cosine_value"] as? Double)
            XCTAssertEqual(layer.l2, l2, accuracy: 1e-4 * abs(l2), "\(name) \(layer.layer) l2_value")
            XCTAssertEqual(layer.cosine, cosine, accuracy: 1e-4 * abs(cosine), "\(name) \(layer.layer) cosine_value")
            XCTAssertEqual(layer.shape, try XCTUnwrap(expected["shape"] as? [Int]), "\(name) \(layer.layer) shape")
        }
        // Item 0 of the reconstruction is what the decoder made of z[0].
        let rec = try Fixtures.tensor(r.tensors, "act.decoder.conv_out")
        assertForwardClose(analysis.reconstruction, rec, "\(name) reconstruction")
    }

    func testTinyPairMetricsMatchReference() throws {
        try checkPairMetrics("vae-tiny-g8")
    }

    func testSmallPairMetricsMatchReference() throws {
        try checkPairMetrics("vae-small-g32")
    }
}
