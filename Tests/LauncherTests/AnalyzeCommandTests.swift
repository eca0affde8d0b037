import Foundation
import VAEAnalysis
import VAECore
@testable import VAEFormats
import VAEJobs
import VAETraining
import XCTest

/// `vae-dist analyze` and `analyze-folder` as users run them, on small pair images with the tiny fixture model.
final class AnalyzeCommandTests: XCTestCase {
    var dir: String!
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")
    let weights = VAEDistBinary.fixture("vae-tiny-g8/weights.ldm.safetensors")
    let pairNames = ["case_0", "case_1", "case_2", "case_3"]

    override func setUpWithError() throws {
        dir = try temporaryDirectory("analyze")
        for (index, name) in pairNames.enumerated() {
            try writePNG(pattern(seed: index, blob: true), to: "\(dir!)/pairs/positive/\(name).png")
            try writePNG(pattern(seed: index, blob: false), to: "\(dir!)/pairs/negative/\(name).png")
        }
        try writePNG(pattern(seed: 9, blob: true), to: "\(dir!)/pairs/positive/lonely.png")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A smooth 40×40 pattern (resized to 32 by the command); with `blob`, a dark disc where a lesion would be.
    func pattern(seed: Int, blob: Bool) -> RGB8Image {
        let size = 40
        let (cx, cy) = (Double(12 + 4 * seed), Double(24 - 3 * seed))
        let pixels = (0..<size * size).flatMap { p -> [UInt8] in
            let (x, y) = (Double(p % size), Double(p / size))
            var v = 128 + 70 * sin(x / Double(5 + seed)) * cos(y / 7)
            if blob && hypot(x - cx, y - cy) < 7 { v = 20 }
            let g = UInt8(max(0, min(255, v)))
            return [g, g, UInt8(max(0, min(255, v * 0.8)))]
        }
        return RGB8Image(width: size, height: size, pixels: pixels)
    }

    var modelArgs: [String] { ["--config", config, "--checkpoint", weights, "--img_size", "32"] }

    /// The model as the analysis commands compute by default (F(4×4) convolutions in the decoder).
    func model(_ arithmetic: ConvolutionArithmetic = .fastDecoder) throws -> AutoencoderKL {
        let model = AutoencoderKL(try VAEConfig.load(path: config))
        try model.loadWeights(path: weights)
        model.arithmetic = arithmetic
        return model
    }

    func parseJSON(_ path: String) throws -> [String: Any] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "\(path) missing")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], path)
    }

    /// The top-level keys of a JSON object in the order the file writes them (JSONSerialization forgets it).
    func keysInFileOrder(_ path: String, among keys: [String]) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return keys.compactMap { key in text.range(of: "\"\(key)\": {").map { (key, $0.lowerBound) } }
            .sorted { $0.1 < $1.1 }.map(\.0)
    }

    func assertRelativelyClose(_ a: Double, _ b: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a, b, accuracy: 1e-9 * max(abs(a), abs(b)), what, file: file, line: line)
    }

    func testSinglePairWritesEveryOutputMatchingTheModel() throws {
        let (image1, image2) = ("\(dir!)/pairs/positive/case_1.png", "\(dir!)/pairs/negative/case_1.png")
        let out = "\(dir!)/out"
        let r = try VAEDistBinary.run(["analyze", "--img1", image1, "--img2", image2, "--method", "l2", "--output", out] + modelArgs)
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["TOP 5 layers with largest differences (l2_value)", "TOP 5 layers with largest differences (l2_per_element)"])
        XCTAssertFalse(r.stdout.contains("cosine_value"), "--method l2 reports no cosine:\n\(r.stdout)")

        let model = try model()
        let images = try [image1, image2].map { try loadResized($0, size: 32) }
        let expected = PairAnalysis(images: (images[0], images[1]), with: model)
        let single = "\(out)/single"
        let layerNames = model.decoder.layerNames
        let differencesPath = "\(single)/layer_differences.json"
        XCTAssertEqual(try keysInFileOrder(differencesPath, among: layerNames), layerNames)
        let differences = try parseJSON(differencesPath)
        XCTAssertEqual(Set(differences.keys), Set(layerNames))
        for layer in expected.layers {
            let entry = try XCTUnwrap(differences[layer.layer] as? [String: Any], layer.layer)
            XCTAssertEqual(Set(entry.keys), ["l2_value", "l2_per_element", "shape"], layer.layer)
            assertRelativelyClose(try XCTUnwrap(entry["l2_value"] as? Double), layer.l2, layer.layer)
            assertRelativelyClose(try XCTUnwrap(entry["l2_per_element"] as? Double), layer.l2PerElement, layer.layer)
            XCTAssertEqual(entry["shape"] as? [Int], layer.shape, layer.layer)
        }

        let summary = try parseJSON("\(single)/summary.json")
        XCTAssertEqual(summary["image1"] as? String, image1)
        XCTAssertEqual(summary["image2"] as? String, image2)
        XCTAssertEqual(summary["checkpoint"] as? String, weights)
        XCTAssertEqual(summary["img_size"] as? Int, 32)
        XCTAssertEqual(summary["method"] as? String, "l2")
        XCTAssertEqual(summary["convolution"] as? String, "winograd F(2x2, 3x3) in the encoder, winograd F(4x4, 3x3) in the decoder")
        let top = try XCTUnwrap((summary["top5"] as? [String: [[String: Any]]])?["l2_value"])
        XCTAssertEqual(top.compactMap { $0["layer"] as? String }, topLayers(expected.layers, by: .l2Value).map(\.layer))
        XCTAssertNil((summary["top5"] as? [String: Any])?["cosine_value"])

        // Inputs above their reconstructions, each image a column, enlarged 4 times to 128 px; also as PDF.
        let reconstructions = try loadImage(path: "\(single)/reconstructed_images.png")
        let layout = try ImageGridLayout(title: "Reconstructions at 32×32 px (posterior mode)",
                                         subtitle: "image 1: positive/case_1.png, image 2: negative/case_1.png",
                                         rowLabels: ["input", "reconstruction"], columns: 2, imageWidth: 32, imageHeight: 32,
                                         minimumTile: 128, columnsPerBlock: 8)
        XCTAssertEqual([reconstructions.width, reconstructions.height], [layout.width, layout.height])
        XCTAssertEqual(layout.scale, 4)
        for (column, tiles) in [[images[0], expected.reconstructedImage(0)], [images[1], expected.reconstructedImage(1)]].enumerated() {
            for (row, tile) in tiles.enumerated() {
                let origin = layout.tileOrigin(column: column, row: row)
                for y in 0..<32 {
                    for x in 0..<32 {
                        let source = 3 * (y * 32 + x), target = 3 * ((Int(origin.y) + 4 * y + 2) * layout.width + Int(origin.x) + 4 * x + 2)
                        guard tile.pixels[source..<source + 3] == reconstructions.pixels[target..<target + 3] else {
                            return XCTFail("reconstructed_images.png: column \(column) row \(row) differs at \(x),\(y)")
                        }
                    }
                }
            }
        }
        for figure in ["reconstructed_images", "layer_differences_plot", "difference_maps"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(single)/\(figure).pdf"), figure)
        }
        let plot = try loadImage(path: "\(single)/layer_differences_plot.png")
        XCTAssertGreaterThan(plot.width, 400)
        let maps = try loadImage(path: "\(single)/difference_maps.png")
        // The image and five maps, 32 px enlarged 8 times, and the colour bar.
        XCTAssertEqual(maps.width, 16 + 6 * (256 + 16) + 110)
    }

    /// --exact_conv and --fast_conv reach the model: the layer differences are those of an in-process model
    /// computing that way, and summary.json says which arithmetic it was.
    func testConvolutionChoiceReachesTheAnalysis() throws {
        let (image1, image2) = ("\(dir!)/pairs/positive/case_3.png", "\(dir!)/pairs/negative/case_3.png")
        let images = try [image1, image2].map { try loadResized($0, size: 32) }
        for (flag, arithmetic) in [("--exact_conv", ConvolutionArithmetic.exact), ("--fast_conv", .fast)] {
            let out = "\(dir!)/\(flag)"
            let r = try VAEDistBinary.run(["analyze", "--img1", image1, "--img2", image2, flag, "--output", out] + modelArgs)
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertEqual(try parseJSON("\(out)/single/summary.json")["convolution"] as? String, arithmetic.description)
            let differences = try parseJSON("\(out)/single/layer_differences.json")
            for layer in PairAnalysis(images: (images[0], images[1]), with: try model(arithmetic)).layers {
                let entry = try XCTUnwrap(differences[layer.layer] as? [String: Any], layer.layer)
                assertRelativelyClose(try XCTUnwrap(entry["l2_value"] as? Double), layer.l2, "\(flag) \(layer.layer)")
            }
        }
        let both = try VAEDistBinary.run(["analyze", "--img1", image1, "--img2", image2, "--exact_conv", "--fast_conv",
                                          "--output", "\(dir!)/both"] + modelArgs)
        XCTAssertEqual(both.status, 64, both.output)
        assertMentions(both.stderr, ["give --fast_conv or --exact_conv, not both"])
        let kernels = try VAEDistBinary.run(["analyze", "--img1", image1, "--img2", image2, "--output", "\(dir!)/kernels"] + modelArgs,
                                            environment: ["VAE_DIST_KERNELS": "sse"])
        XCTAssertEqual(kernels.status, 64, kernels.output)
        assertMentions(kernels.stderr, ["VAE_DIST_KERNELS=sse", "expected avx2 or avx512"])
    }

    func testModeSingleSpellingWithTheCosineMethod() throws {
        let out = "\(dir!)/out"
        let r = try VAEDistBinary.run(["analyze", "--mode", "single", "--img1", "\(dir!)/pairs/positive/case_0.png",
                                       "--img2", "\(dir!)/pairs/negative/case_0.png", "--method", "cosine",
                                       "--output", out] + modelArgs)
        XCTAssertEqual(r.status, 0, r.output)
        assertMentions(r.stdout, ["TOP 5 layers with largest differences (cosine_value)"])
        let differences = try parseJSON("\(out)/single/layer_differences.json")
        XCTAssertEqual(differences.count, 13)
        for (layer, entry) in differences {
            XCTAssertEqual(Set(try XCTUnwrap(entry as? [String: Any]).keys), ["cosine_value", "shape"], layer)
        }
    }

    /// A vae-dist checkpoint carries its config: no --config is needed, and the numbers are those of the weights.
    func testTrainingCheckpointBringsItsConfig() throws {
        let model = try model()
        let checkpoint = "\(dir!)/vae_epoch_1.safetensors"
        try TrainingCheckpoint.save(model: model, optimizer: Optimizer(parameters: model.namedParameters.map(\.parameter), lr: 1e-4),
                            position: TrainingPosition(), options: TrainingOptions(trainDir: dir), runID: "analyze-test", to: checkpoint)
        let pair = ["--img1", "\(dir!)/pairs/positive/case_2.png", "--img2", "\(dir!)/pairs/negative/case_2.png", "--img_size", "32"]
        let fromCheckpoint = try VAEDistBinary.run(["analyze", "--checkpoint", checkpoint, "--output", "\(dir!)/ckpt"] + pair)
        XCTAssertEqual(fromCheckpoint.status, 0, fromCheckpoint.output)
        let fromWeights = try VAEDistBinary.run(["analyze", "--checkpoint", weights, "--config", config, "--output", "\(dir!)/plain"] + pair)
        XCTAssertEqual(fromWeights.status, 0, fromWeights.output)
        XCTAssertEqual(try String(contentsOfFile: "\(dir!)/ckpt/single/layer_differences.json", encoding: .utf8),
                       try String(contentsOfFile: "\(dir!)/plain/single/layer_differences.json", encoding: .utf8))
        XCTAssertEqual(try parseJSON("\(dir!)/ckpt/single/summary.json")["config"] as? String, "stored in \(checkpoint)")
    }

    struct Aggregated {
        let pairs: [String]
        let layers: [String: [String: Double]]
    }

    func readAggregates(_ batch: String) throws -> Aggregated {
        let json = try parseJSON("\(batch)/aggregated_results.json")
        let layers = try XCTUnwrap(json["layers"] as? [String: [String: Any]])
        return Aggregated(pairs: try XCTUnwrap(json["pairs"] as? [String]),
                          layers: layers.mapValues { $0.compactMapValues { ($0 as? NSNumber)?.doubleValue } })
    }

    /// np 1 (with the original `--mode folder` spelling), 2 and 5 (more ranks than pairs, rank 0 idle):
    /// the same aggregates, and they are the mean and std of the per-pair files.
    func testFolderModeGivesTheSameAggregatesOnAnyRankCount() throws {
        var results: [Int: Aggregated] = [:]
        for ranks in [1, 2, 5] {
            let out = "\(dir!)/np\(ranks)"
            let command = ranks == 1 ? ["analyze", "--mode", "folder"] : ["analyze-folder"]
            let r = try VAEDistBinary.run(command + ["--folder", "\(dir!)/pairs", "--output", out] + modelArgs, ranks: ranks)
            XCTAssertEqual(r.status, 0, "np \(ranks):\n\(r.output)")
            assertMentions(r.output, ["lonely.png", "no file of the same name", "TOP 5 layers with largest differences (l2_value)",
                                      "TOP 5 layers with largest differences (cosine_value)", "4 pair(s)"])
            let batch = "\(out)/batch"
            for pair in pairNames {
                for file in ["layer_differences.json", "summary.json"] { _ = try parseJSON("\(batch)/\(pair)/\(file)") }
                for file in ["layer_differences_plot.png", "reconstructed_images.png", "difference_maps.png"] {
                    XCTAssertGreaterThan(try loadImage(path: "\(batch)/\(pair)/\(file)").width, 0, "\(pair)/\(file)")
                }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(batch)/lonely"))
            XCTAssertGreaterThan(try loadImage(path: "\(batch)/aggregated_differences.png").width, 400)
            results[ranks] = try readAggregates(batch)
        }

        let layerNames = try model().decoder.layerNames
        let reference = try XCTUnwrap(results[1])
        XCTAssertEqual(reference.pairs, pairNames)
        XCTAssertEqual(try keysInFileOrder("\(dir!)/np1/batch/aggregated_results.json", among: layerNames), layerNames)
        for ranks in [2, 5] {
            let other = try XCTUnwrap(results[ranks])
            XCTAssertEqual(other.pairs, reference.pairs)
            XCTAssertEqual(Set(other.layers.keys), Set(layerNames))
            for (layer, values) in reference.layers {
                XCTAssertEqual(Set(values.keys), Set(["l2", "cosine", "l2_per_element"].flatMap { metric in
                    ["mean", "std", "n", "ci95_low", "ci95_high", "median", "iqr"].map { "\(metric)_\($0)" }
                } + ["n"]))
                for (key, value) in values {
                    assertRelativelyClose(try XCTUnwrap(other.layers[layer]?[key]), value, "np \(ranks) \(layer) \(key)")
                }
            }
        }

        // The aggregates are numpy's mean and std (ddof 0) of the per-pair files.
        let perPair = try pairNames.map { try parseJSON("\(dir!)/np2/batch/\($0)/layer_differences.json") }
        for layer in layerNames {
            for (metric, key) in [("l2_value", "l2"), ("cosine_value", "cosine"), ("l2_per_element", "l2_per_element")] {
                let values = try perPair.map { try XCTUnwrap(($0[layer] as? [String: Any])?[metric] as? Double) }
                let mean = values.reduce(0, +) / 4
                let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4).squareRoot()
                assertRelativelyClose(try XCTUnwrap(reference.layers[layer]?["\(key)_mean"]), mean, "\(layer) \(key)_mean")
                assertRelativelyClose(try XCTUnwrap(reference.layers[layer]?["\(key)_std"]), std, "\(layer) \(key)_std")
            }
            XCTAssertEqual(reference.layers[layer]?["n"], 4)
        }

        let csv = try String(contentsOfFile: "\(dir!)/np5/batch/pair_metrics.csv", encoding: .utf8)
        let rows = csv.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(rows.first, ["pair", "layer", "l2_value", "l2_per_element", "cosine_value"])
        XCTAssertEqual(rows.count, 1 + pairNames.count * layerNames.count)
        XCTAssertEqual(rows.dropFirst().map { [$0[0], $0[1]] }, pairNames.flatMap { pair in layerNames.map { [pair, $0] } })
        let l2 = try XCTUnwrap(Double(rows[1][2]))
        let fromPairFile = try XCTUnwrap((perPair[0]["decoder.conv_in"] as? [String: Any])?["l2_value"] as? Double)
        assertRelativelyClose(l2, fromPairFile, "csv row of case_0 decoder.conv_in")
    }

    func testBadInputsGetTheirMessagesAndNonZeroExit() throws {
        func failure(_ args: [String], ranks: Int? = nil, mentions: [String], file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try VAEDistBinary.run(args, ranks: ranks)
            XCTAssertNotEqual(r.status, 0, "\(args) should fail:\n\(r.output)", file: file, line: line)
            assertMentions(r.stderr, mentions, file: file, line: line)
        }
        let out = ["--output", "\(dir!)/out"]
        try failure(["analyze-folder", "--folder", "\(dir!)/missing"] + out + modelArgs,
                    mentions: ["--folder \(dir!)/missing: no such directory", "positive", "negative"])

        try FileManager.default.createDirectory(atPath: "\(dir!)/half/positive", withIntermediateDirectories: true)
        try failure(["analyze-folder", "--folder", "\(dir!)/half"] + out + modelArgs, mentions: ["no negative/ sub-folder"])

        try writePNG(pattern(seed: 0, blob: true), to: "\(dir!)/nopairs/positive/a.png")
        try writePNG(pattern(seed: 0, blob: false), to: "\(dir!)/nopairs/negative/b.png")
        try failure(["analyze-folder", "--folder", "\(dir!)/nopairs"] + out + modelArgs, mentions: ["no pairs"])

        // Two unreadable images on different ranks: both are listed and nothing is analysed.
        try "not an image".write(toFile: "\(dir!)/pairs/negative/case_0.png", atomically: true, encoding: .utf8)
        try Data().write(to: URL(fileURLWithPath: "\(dir!)/pairs/positive/case_3.png"))
        try failure(["analyze-folder", "--folder", "\(dir!)/pairs"] + out + modelArgs, ranks: 2,
                    mentions: ["negative/case_0.png: not a PNG or JPEG", "positive/case_3.png: the file is empty", "no pair was analysed"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/batch/case_1"))
        try failure(["analyze", "--img1", "\(dir!)/pairs/positive/case_1.png", "--img2", "\(dir!)/pairs/negative/case_0.png"]
                    + out + modelArgs, mentions: ["negative/case_0.png: not a PNG or JPEG"])

        let noCheckpoint = ["analyze", "--img1", "\(dir!)/pairs/positive/case_1.png", "--img2", "\(dir!)/pairs/negative/case_1.png",
                            "--config", config, "--img_size", "32"] + out
        try failure(noCheckpoint, mentions: ["no --checkpoint", "random weights", "meaningless", "--allow_random_weights"])
        let random = try VAEDistBinary.run(noCheckpoint + ["--allow_random_weights", "--seed", "3"])
        XCTAssertEqual(random.status, 0, random.output)
        assertMentions(random.output, ["random weights"])
        XCTAssertEqual(try parseJSON("\(dir!)/out/single/summary.json")["random_weights_seed"] as? Int, 3)

        try failure(["analyze", "--mode", "folder"] + out + modelArgs, mentions: ["--mode folder needs --folder"])
        try failure(["analyze", "--img1", "a.png"] + out + modelArgs, mentions: ["needs --img1 and --img2"])
        try failure(["analyze-folder", "--folder", "\(dir!)/pairs", "--method", "l1"] + out + modelArgs, mentions: ["--method", "l1"])
        try failure(["analyze-folder", "--folder", "\(dir!)/pairs", "--config", config, "--checkpoint", weights, "--img_size", "33"] + out,
                    mentions: ["--img_size 33", "divisible by 2"])
    }

    func testHelpDocumentsEveryOption() throws {
        let analyze = try VAEDistBinary.run(["analyze", "--help"])
        XCTAssertEqual(analyze.status, 0)
        assertMentions(analyze.stdout, ["--img1", "--img2", "--mode", "--folder", "--method", "--config", "--checkpoint",
                                        "--allow_random_weights", "--img_size", "--output", "--threads", "layer_differences.json"])
        let folder = try VAEDistBinary.run(["analyze-folder", "--help"])
        XCTAssertEqual(folder.status, 0)
        assertMentions(folder.stdout, ["--folder", "mpirun", "aggregated_results.json", "pair_metrics.csv"])
        assertMentions(try VAEDistBinary.run(["--help"]).stdout, ["analyze", "analyze-folder"])
    }
}
