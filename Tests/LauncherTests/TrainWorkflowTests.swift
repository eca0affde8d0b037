import Foundation
import VAEFormats
import XCTest

/// A researcher's training workflow through the binary: every new option under mpirun, and the original
/// tool's entry points (train_vae.sh, run_analysis.sh) on phantoms.
final class TrainWorkflowTests: XCTestCase {
    var dir: String!
    let config = VAEDistBinary.fixture("vae-tiny-g8/config.yaml")

    override func setUpWithError() throws {
        dir = try temporaryDirectory("workflow")
        let synth = try VAEDistBinary.run(["synth-data", "--output", "\(dir!)/phantoms", "--count", "10", "--pairs", "3",
                                           "--img_size", "32", "--seed", "4"])
        XCTAssertEqual(synth.status, 0, synth.output)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func args(_ output: String) -> [String] {
        ["train", "--train_dir", "\(dir!)/phantoms/train", "--config_path", config, "--output_dir", "\(dir!)/\(output)",
         "--batch_size", "2", "--grad_accum", "2", "--epochs", "2", "--lr", "1e-3", "--kl_weight", "1e-4",
         "--img_size", "16", "--save_interval", "1", "--num_recon", "2", "--threads", "1",
         "--optimizer", "adamw", "--weight_decay", "0.02", "--lr_schedule", "cosine", "--warmup_steps", "1",
         "--min_lr", "1e-5", "--grad_clip", "1.0", "--ema_decay", "0.9", "--augment", "hflip",
         "--val_fraction", "0.2", "--keep_best", "--log_every", "1"]
    }

    func weights(_ path: String) throws -> [String: [Float]] {
        let file = try SafeTensors.read(path: path)
        return Dictionary(uniqueKeysWithValues: file.names.filter { !$0.hasPrefix("optimizer.") }.map { ($0, file[$0]!.values) })
    }

    func testEveryOptionGivesTheSameRunAtOneAndTwoRanks() throws {
        for ranks in [1, 2] {
            // --tensorboard changes what is logged, not the run.
            let r = try VAEDistBinary.run(args("np\(ranks)") + ["--tensorboard", ranks == 1 ? "false" : "true"], ranks: ranks)
            XCTAssertEqual(r.status, 0, r.output)
            assertMentions(r.output, ["step 1/", "ETA", "val recon", "PSNR", "vae_final_ema.safetensors"])
        }
        for file in ["vae_final.safetensors", "vae_final_ema.safetensors"] {
            let (a, b) = (try weights("\(dir!)/np1/\(file)"), try weights("\(dir!)/np2/\(file)"))
            XCTAssertEqual(Set(a.keys), Set(b.keys))
            var worst: Float = 0
            for (name, values) in a { for (x, y) in zip(values, b[name]!) { worst = max(worst, abs(x - y)) } }
            XCTAssertLessThanOrEqual(worst, 1e-4, "\(file): np 2 vs np 1 max difference \(worst)")
        }
        func held(_ run: String) throws -> String { try String(contentsOfFile: "\(dir!)/\(run)/validation_images.txt", encoding: .utf8) }
        XCTAssertEqual(try held("np1"), try held("np2"))
        // metrics.jsonl: pandas-ready, one record per optimizer step (8 training images, 4 per step, 2 epochs) and
        // one per validation, each with its time.
        let lines = try String(contentsOfFile: "\(dir!)/np2/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(records.map { $0["kind"] as? String }, ["step", "step", "validation", "step", "step", "validation"])
        for (record, line) in zip(records, lines) {
            let keys = record["kind"] as? String == "step"
                ? ["epoch", "step", "global_step", "loss", "recon_loss", "kl_loss", "lr", "grad_norm", "images_per_second", "comm_wait"]
                : ["epoch", "global_step", "val_loss", "val_recon_loss", "val_kl_loss", "val_psnr", "val_ssim"]
            for key in keys + ["time"] { XCTAssertNotNil(record[key], "\(key) in \(line)") }
        }
        // The TensorBoard log, written by rank 0 alone: one event file.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir!)/np2/tensorboard").filter { $0.contains("tfevents") }.count, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/np1/tensorboard"), "--tensorboard false")
        // The EMA weights load without --config (their config travels with them).
        let recon = try VAEDistBinary.run(["reconstruct", "--checkpoint", "\(dir!)/np1/vae_final_ema.safetensors",
                                           "--img_size", "16", "--output", "\(dir!)/recon", "\(dir!)/phantoms/pairs/positive/case_0001.png"])
        XCTAssertEqual(recon.status, 0, recon.output)
    }

    func testTheOriginalScriptsRunEndToEnd() throws {
        let train = try VAEDistBinary.runScript("train_vae.sh", ["--config_path", config, "--threads", "1", "--device", "cuda:0"], environment: [
            "NP": "2", "MPIRUN_FLAGS": "--oversubscribe", "TRAIN_DIR": "\(dir!)/phantoms/train", "OUTPUT_DIR": "\(dir!)/vae_output",
            "EPOCHS": "1", "IMG_SIZE": "16", "BATCH_SIZE": "4", "KL_WEIGHT": "1e-4", "SAVE_INTERVAL": "1",
        ])
        XCTAssertEqual(train.status, 0, train.output)
        assertMentions(train.output, ["--device cuda:0 ignored", "epoch 1/1"])
        let weights = "\(dir!)/vae_output/vae_final.safetensors"
        XCTAssertTrue(FileManager.default.fileExists(atPath: weights))

        let pair = ["--img1", "\(dir!)/phantoms/pairs/positive/case_0001.png", "--img2", "\(dir!)/phantoms/pairs/negative/case_0001.png"]
        let single = try VAEDistBinary.runScript("run_analysis.sh", ["single"] + pair + [
            "--method", "both", "--checkpoint", weights, "--img_size", "16", "--output", "\(dir!)/outputs", "--device", "cuda:5"])
        XCTAssertEqual(single.status, 0, single.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/outputs/single/layer_differences.json"))

        let folder = try VAEDistBinary.runScript("run_analysis.sh", ["folder", "--folder", "\(dir!)/phantoms/pairs", "--method", "both",
                                                                      "--checkpoint", weights, "--img_size", "16", "--output", "\(dir!)/outputs", "--threads", "1"],
                                                 environment: ["NP": "2", "MPIRUN_FLAGS": "--oversubscribe"])
        XCTAssertEqual(folder.status, 0, folder.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/outputs/batch/aggregated_results.json"))

        let wrong = try VAEDistBinary.runScript("run_analysis.sh", ["pairs"])
        XCTAssertNotEqual(wrong.status, 0)
        assertMentions(wrong.stderr, ["unknown mode 'pairs'", "single|folder"])
    }
}
