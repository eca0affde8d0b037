import Foundation
@testable import VAECore
import VAEFormats
@testable import VAEJobs
@testable import VAETraining
import XCTest

/// The memory check comes before any image is decoded (issue #21), counts the images a job keeps decoded, and makes
/// training stream its images when caching them would not fit.
final class MemoryEstimateCacheTests: TemporaryDirectoryTestCase {
    let tiny = VAEConfig(ch: 16, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], resolution: 16, normNumGroups: 8)

    func testTheImageCacheIsPartOfTheEstimate() {
        let bare = MemoryEstimate(config: tiny, imageSize: 64, batch: 2, work: .training)
        let cached = MemoryEstimate(config: tiny, imageSize: 64, batch: 2, work: .training, cachedImages: 10)
        XCTAssertEqual(cached.imageCacheBytes, 10 * 3 * 64 * 64)
        XCTAssertEqual(cached.totalBytes - bare.totalBytes, cached.imageCacheBytes)
        XCTAssertTrue(cached.summary.contains("decoded images 123 kB"), cached.summary)
        // Any count is representable: a million 32768² images.
        XCTAssertEqual(MemoryEstimate(config: tiny, imageSize: 32768, batch: 1, work: .inference, cachedImages: 1_000_000).imageCacheBytes,
                       3 * 32768 * 32768 * 1e6)
    }

    func testTrainingCachesOnlyWhereTheCacheFitsBesideIt() throws {
        let training = MemoryEstimate(config: tiny, imageSize: 64, batch: 2, work: .training).totalBytes
        func decide(available: Double?, cache: Bool = true) throws -> (cache: Bool, notice: String?) {
            try MemoryEstimate.trainingImageCache(config: tiny, imageSize: 64, batch: 2, imageCount: 10, cache: cache, available: available)
        }
        XCTAssertTrue(try decide(available: training + 200_000) == (true, nil))
        XCTAssertTrue(try decide(available: nil) == (true, nil), "unknown availability (macOS) is not refused")
        XCTAssertTrue(try decide(available: training + 200_000, cache: false) == (false, nil))
        let tight = try decide(available: training + 100_000)
        XCTAssertFalse(tight.cache)
        for part in ["--cache_images: the 10 decoded images at 64×64 would take 123 kB", "loading them on demand instead"] {
            XCTAssertTrue(tight.notice?.contains(part) == true, "\(tight.notice ?? "no notice") lacks \(part)")
        }
        XCTAssertThrowsError(try decide(available: training - 1)) { error in
            XCTAssertTrue("\(error)".contains("img_size 64, 2 images per process: training needs about"), "\(error)")
        }
    }

    /// TrainingData checks once the files are listed: a run that cannot fit is refused before any image is decoded
    /// (the unreadable one is never reached), and a cache that would not fit becomes streaming, said in the log.
    func testTrainingDataChecksTheMemoryBeforeDecoding() throws {
        for i in 0..<4 { try writePNG(RGB8Image(width: 8, height: 8, pixels: [UInt8](repeating: UInt8(i * 40), count: 192)), to: "\(dir!)/img\(i).png") }
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: "\(dir!)/broken.png"))
        var options = TrainingOptions(trainDir: dir)
        (options.imgSize, options.batchSize, options.skipBadImages) = (64, 2, true)
        let training = MemoryEstimate(config: tiny, imageSize: 64, batch: 2, work: .training).totalBytes
        func prepare(available: Double) throws -> (TrainingSets, [String]) {
            var lines: [String] = []
            let memory = TrainingMemory(config: tiny, options: options, ranks: 1, available: available)
            let sets = try TrainingData.prepare(options, replicas: SingleReplica(), memory: memory) { lines.append($0) }
            return (sets, lines)
        }
        XCTAssertThrowsError(try prepare(available: training / 2)) { error in
            XCTAssertTrue("\(error)".contains("training needs about"), "\(error)")
        }
        let (streamed, lines) = try prepare(available: training + 1_000)
        XCTAssertTrue(streamed.train is StreamingImages)
        XCTAssertEqual(streamed.train.count, 4)
        XCTAssertTrue(lines.contains { $0.contains("--cache_images: the 5 decoded images at 64×64") }, "\(lines)")
        let (cached, quiet) = try prepare(available: training + 1_000_000)
        XCTAssertTrue(cached.train is CachedImages)
        XCTAssertFalse(quiet.contains { $0.contains("--cache_images") }, "\(quiet)")
        // The options a run's checkpoints store say how it held the images: streamed, though --cache_images was true.
        options.outputDir = "\(dir!)/run"
        try FileManager.default.createDirectory(atPath: options.outputDir, withIntermediateDirectories: true)
        XCTAssertTrue(options.cacheImages)
        for (sets, stored) in [(streamed, false), (cached, true)] {
            let trainer = try Trainer(model: AutoencoderKL(tiny), options: options, data: sets, replicas: SingleReplica())
            XCTAssertEqual(trainer.options.cacheImages, stored)
        }
    }
}
