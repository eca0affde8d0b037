import Foundation
import VAECore
import VAEFormats
import XCTest

/// A BUSI-like tree (benign/, malignant/, normal/ with `_mask` files beside the images) → make-pairs --recursive
/// → analyze-folder, which groups the pairs by class folder, resamples patients with --cluster_by and gives the
/// same group statistics on one rank and on two.
extension AnalyzeCommandTests {
    /// benign/ and malignant/: two patients each with two images (`benign P1 a.png` …); normal/ with an empty mask.
    func writeBUSITree(_ root: String) throws {
        for (classIndex, name) in ["benign", "malignant"].enumerated() {
            for patient in 1...2 {
                for (view, suffix) in ["a", "b"].enumerated() {
                    let seed = 2 * classIndex + patient + view - 1
                    let stem = "\(root)/\(name)/\(name) P\(patient) \(suffix)"
                    try writePNG(pattern(seed: seed, blob: true), to: "\(stem).png")
                    try writePNG(blobMask(seed: seed), to: "\(stem)_mask.png")
                }
            }
        }
        try writePNG(pattern(seed: 1, blob: false), to: "\(root)/normal/normal (1).png")
        try writePNG(RGB8Image(width: 40, height: 40, pixels: [UInt8](repeating: 0, count: 40 * 40 * 3)),
                     to: "\(root)/normal/normal (1)_mask.png")
    }

    func testGroupsAndClustersFromClassFoldersAreTheSameOnAnyRankCount() throws {
        try writeBUSITree("\(dir!)/busi")
        let made = try VAEDistBinary.run(["make-pairs", "--images", "\(dir!)/busi", "--output", "\(dir!)/made", "--recursive", "--dilate", "2"])
        XCTAssertEqual(made.status, 0, made.output)
        assertMentions(made.stdout, ["wrote 8 pair(s)", "normal/normal (1).png: empty mask"])
        for folder in ["positive", "negative", "masks"] {
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir!)/made/\(folder)").sorted(), ["benign", "malignant"], folder)
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/made/\(folder)/malignant/malignant P2 b.png"), folder)
        }

        let flags = ["--folder", "\(dir!)/made", "--cluster_by", "regex:^([a-z]+/[a-z]+ P[0-9])", "--ci_level", "0.9",
                     "--bootstrap_samples", "300", "--seed", "5"] + modelArgs
        var runs: [Int: [String: Any]] = [:]
        for ranks in [1, 2] {
            let out = "\(dir!)/groups\(ranks)"
            let r = try VAEDistBinary.run(["analyze-folder", "--output", out] + flags, ranks: ranks)
            XCTAssertEqual(r.status, 0, "np \(ranks):\n\(r.output)")
            assertMentions(r.output, ["groups by folder: benign (4 pairs), malignant (4 pairs)", "resamples 4 clusters",
                                      "GROUPS by folder: benign 4 pairs in 2 clusters, malignant 4 pairs in 2 clusters",
                                      "l2_value, benign − malignant:", "[bootstrap 90 % CI]"])
            let batch = "\(out)/batch"
            XCTAssertNotNil(try parseJSON("\(batch)/benign/benign P1 a/layer_differences.json"))
            runs[ranks] = try parseJSON("\(batch)/aggregated_results.json")
            let csv = try String(contentsOfFile: "\(batch)/pair_metrics.csv", encoding: .utf8).split(separator: "\n")
            XCTAssertTrue(csv[0].hasPrefix("pair,group,cluster,layer,l2_value,"), String(csv[0]))
            XCTAssertTrue(csv[1].hasPrefix("benign/benign P1 a,benign,benign/benign P1,decoder."), String(csv[1]))
            let comparisons = try String(contentsOfFile: "\(batch)/group_comparisons.csv", encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(comparisons.first, "metric,layer,first,second,n_first,n_second,units_first,units_second,mean_first,mean_second,difference,ci_low,ci_high,p,p_exact,p_holm")
            XCTAssertTrue(comparisons[1].hasPrefix("l2_value,decoder.conv_in,benign,malignant,4,4,2,2,"), String(comparisons[1]))
            XCTAssertTrue(try String(contentsOfFile: "\(batch)/group_summary.csv", encoding: .utf8).hasPrefix("group,metric,layer,n,mean,std,ci_low,ci_high,median,iqr\nbenign,l2_value,"))
            XCTAssertGreaterThan(try loadImage(path: "\(batch)/group_differences.png").height, 1000)
            let report = try String(contentsOfFile: "\(batch)/report.html", encoding: .utf8)
            assertMentions(report, ["<h2 id=\"groups\">Groups by folder</h2>", "Holm", "cluster bootstrap", "90 % confidence intervals"])
        }
        let one = try XCTUnwrap(runs[1]), two = try XCTUnwrap(runs[2])
        let bootstrap = try XCTUnwrap(one["bootstrap"] as? [String: Any])
        XCTAssertEqual(bootstrap["method"] as? String, "percentile")
        XCTAssertEqual(bootstrap["resampling"] as? String, "clusters")
        XCTAssertEqual(bootstrap["ci_level"] as? Double, 0.9)
        XCTAssertEqual(bootstrap["resamples"] as? Int, 300)
        XCTAssertEqual(bootstrap["seed"] as? Int, 5, "the seed as a number")
        XCTAssertEqual(bootstrap["clusters"] as? Int, 4)
        let groups = try XCTUnwrap(one["groups"] as? [String: Any])
        XCTAssertEqual(groups["names"] as? [String], ["benign", "malignant"])
        XCTAssertEqual(groups["group_by"] as? String, "folder")
        let tests = try XCTUnwrap(one["group_comparisons"] as? [String: Any])
        XCTAssertTrue((tests["correction"] as? String)?.hasPrefix("Holm") ?? false)
        let conv = try XCTUnwrap(((((tests["comparisons"] as? [[String: Any]])?.first?["metrics"] as? [String: Any])?["l2_value"]
                                   as? [String: Any])?["decoder.conv_in"] as? [String: Any]))
        XCTAssertEqual(conv["p_exact"] as? Bool, true, "2 + 2 clusters: the 6 splits enumerated")
        let p = try XCTUnwrap(conv["p"] as? Double)
        XCTAssertEqual(p * 6, (p * 6).rounded(), accuracy: 1e-12, "a count of the 6 splits")
        for key in ["layers", "bootstrap", "ranking", "groups", "group_comparisons", "lesion_area_fraction"] {
            XCTAssertEqual(one[key] as? NSObject, two[key] as? NSObject, "np 1 and np 2 give the same \(key)")
        }
    }

    func testGroupAndClusterFlagsAreRefusedByName() throws {
        try writeBUSITree("\(dir!)/busi")
        XCTAssertEqual(try VAEDistBinary.run(["make-pairs", "--images", "\(dir!)/busi", "--output", "\(dir!)/made", "--recursive"]).status, 0)
        let base = ["analyze-folder", "--folder", "\(dir!)/made", "--output", "\(dir!)/out"] + modelArgs
        for (flags, status, mentions) in [
            (["--group_by", "regex:("], 64, ["--group_by regex:(", "not a valid regular expression"]),
            (["--group_by", "class"], 64, ["--group_by class", "folder or regex:PATTERN"]),
            (["--cluster_by", "folder"], 64, ["--cluster_by folder", "regex:PATTERN"]),
            (["--ci_level", "95"], 64, ["--ci_level", "0.95"]),
            (["--bootstrap_samples", "0"], 64, ["--bootstrap_samples"]),
            (["--group_by", "regex:^normal"], 1, ["--group_by regex:^normal matches no pair's name"]),
            (["--cluster_by", "regex:(P[0-9])"], 1, ["--cluster_by regex:(P[0-9]): cluster P1 has pairs in groups benign and malignant"]),
        ] as [([String], Int32, [String])] {
            let r = try VAEDistBinary.run(base + flags)
            XCTAssertEqual(r.status, status, "\(flags):\n\(r.output)")
            assertMentions(r.stderr, mentions)
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/out/batch/benign"), "\(flags): refused before any pair is analysed")
        }
        let single = try VAEDistBinary.run(["analyze", "--img1", "\(dir!)/made/positive/benign/benign P1 a.png", "--img2",
                                            "\(dir!)/made/negative/benign/benign P1 a.png", "--group_by", "folder", "--output", "\(dir!)/out"] + modelArgs)
        XCTAssertEqual(single.status, 64, single.output)
        assertMentions(single.stderr, ["--group_by and --cluster_by are for a folder of pairs"])
        for flags in [["--bootstrap_samples", "50"], ["--ci_level", "0.9"], ["--permutations", "500"]] {
            let refused = try VAEDistBinary.run(["analyze", "--img1", "\(dir!)/made/positive/benign/benign P1 a.png", "--img2",
                                                 "\(dir!)/made/negative/benign/benign P1 a.png", "--output", "\(dir!)/out"] + flags + modelArgs)
            XCTAssertEqual(refused.status, 64, "\(flags): \(refused.output)")
            assertMentions(refused.stderr, ["--bootstrap_samples, --ci_level and --permutations are for a folder of pairs"])
        }
        // Every pair in one group: said, nothing compared.
        let one = try VAEDistBinary.run(base + ["--group_by", "regex:(P)", "--bootstrap_samples", "50"])
        XCTAssertEqual(one.status, 0, one.output)
        assertMentions(one.output, ["groups by regex:(P): P (8 pairs); one group, so nothing to compare", "one group: nothing to compare"])
        let none = try VAEDistBinary.run(base + ["--group_by", "none", "--bootstrap_samples", "50", "--output", "\(dir!)/none"])
        XCTAssertEqual(none.status, 0, none.output)
        XCTAssertNil(try parseJSON("\(dir!)/none/batch/aggregated_results.json")["groups"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/none/batch/group_comparisons.csv"))
    }
}
