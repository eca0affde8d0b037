import Foundation
import VAECore
import VAEFormats

/// What `writePhantoms` writes.
public struct PhantomOptions: Equatable, Sendable {
    /// Most training images and most pairs: their file names are listed before the first image is drawn.
    public static let maxCount = 1_000_000

    public var outputDirectory: String
    /// Images in OUT/train.
    public var trainingCount: Int
    /// Positive/negative pairs in OUT/pairs (0 writes none).
    public var pairCount: Int
    public var imageSize: Int
    public var seed: UInt64
    /// Share of training images that have a lesion.
    public var lesionFraction: Double

    public init(outputDirectory: String, trainingCount: Int = 64, pairCount: Int = 8, imageSize: Int = 256,
                seed: UInt64 = 0, lesionFraction: Double = 2.0 / 3) {
        self.outputDirectory = outputDirectory
        self.trainingCount = trainingCount
        self.pairCount = pairCount
        self.imageSize = imageSize
        self.seed = seed
        self.lesionFraction = lesionFraction
    }
}

/// What `writePhantoms` wrote.
public struct PhantomSummary: Equatable, Sendable {
    public let trainingDirectory: String
    public let trainingImages: [String]
    public let trainingWithLesion: Int
    public let positiveDirectory: String
    public let negativeDirectory: String
    public let maskDirectory: String
    /// File names shared by a positive, its negative and its mask.
    public let pairNames: [String]
    /// nil when no pairs were asked for.
    public let lesionsFile: String?
}

/// OUT/pairs/lesions.json.
public struct PhantomLesionsFile: Codable, Equatable, Sendable {
    public struct Pair: Codable, Equatable, Sendable {
        public let name: String
        public let lesion: PhantomLesion
    }

    public var coordinates = "pixels; origin top left, x right, y down, pixel centres at +0.5; boxes are [x0, y0, x1, y1] with x1 and y1 excluded"
    public let imageSize: Int
    public let seed: UInt64
    public let pairs: [Pair]

    enum CodingKeys: String, CodingKey {
        case coordinates, seed, pairs
        case imageSize = "image_size"
    }
}

/// Writes OUT/train/case_NNNN.png (training images, `lesionFraction` of them with a lesion) and, for pairs,
/// OUT/pairs/{positive,negative,masks}/case_NNNN.png plus OUT/pairs/lesions.json. Pairs come from their own seed
/// stream, so they are never training images. The same options always write the same bytes.
public func writePhantoms(_ options: PhantomOptions) throws -> PhantomSummary {
    let most = PhantomOptions.maxCount
    // "" + "/train" would be a folder at the root of the file system.
    guard !options.outputDirectory.isEmpty else { throw VAEDistError("invalid phantom options: the output directory is an empty path") }
    guard (1...most).contains(options.trainingCount), (0...most).contains(options.pairCount),
          (16...4096).contains(options.imageSize), (0...1).contains(options.lesionFraction) else {
        throw VAEDistError("invalid phantom options: \(options.trainingCount) training images (1…\(most)), "
                        + "\(options.pairCount) pairs (0…\(most)), \(options.imageSize) pixels (16…4096), "
                        + "lesion fraction \(options.lesionFraction) (0…1)")
    }
    let out = options.outputDirectory
    let train = "\(out)/train", positive = "\(out)/pairs/positive", negative = "\(out)/pairs/negative"
    let masks = "\(out)/pairs/masks"
    let trainNames = (0..<options.trainingCount).map { caseFileName($0, of: options.trainingCount) }
    let pairNames = (0..<options.pairCount).map { caseFileName($0, of: options.pairCount) }
    let folders = [train] + (options.pairCount > 0 ? [positive, negative, masks] : [])
    for dir in folders {
        try refuseForeignImages(in: dir, keeping: dir == train ? trainNames : pairNames)
        try createDirectory(dir)
    }

    let results = concurrentMap(options.trainingCount + options.pairCount) { job in
        Result { () throws -> PhantomLesionsFile.Pair? in
            if job < options.trainingCount {
                let lesion = trainingHasLesion(job, fraction: options.lesionFraction)
                let phantom = renderPhantom(size: options.imageSize, seed: caseSeed(options.seed, stream: 1, index: job),
                                            withLesion: lesion)
                try writeGreyPNG(phantom.positive, to: "\(train)/\(trainNames[job])")
                return nil
            }
            let index = job - options.trainingCount
            let phantom = renderPhantom(size: options.imageSize, seed: caseSeed(options.seed, stream: 2, index: index),
                                        withLesion: true)
            let name = pairNames[index]
            try writeGreyPNG(phantom.positive, to: "\(positive)/\(name)")
            try writeGreyPNG(phantom.negative, to: "\(negative)/\(name)")
            try writeGreyPNG(maskImage(phantom.lesionMask, size: options.imageSize), to: "\(masks)/\(name)")
            return phantom.lesion.map { PhantomLesionsFile.Pair(name: name, lesion: $0) }
        }
    }
    // In job order: the lowest-numbered failure is the one reported.
    let pairs = try results.compactMap { try $0.get() }

    var lesionsFile: String?
    if options.pairCount > 0 {
        let path = "\(out)/pairs/lesions.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let file = PhantomLesionsFile(imageSize: options.imageSize, seed: options.seed, pairs: pairs)
        try writeFileAtomically(Array(try encoder.encode(file)) + Array("\n".utf8), to: path)
        lesionsFile = path
    }
    let withLesion = (0..<options.trainingCount).filter { trainingHasLesion($0, fraction: options.lesionFraction) }.count
    return PhantomSummary(trainingDirectory: train, trainingImages: trainNames.map { "\(train)/\($0)" },
                          trainingWithLesion: withLesion, positiveDirectory: positive, negativeDirectory: negative,
                          maskDirectory: masks, pairNames: pairNames, lesionsFile: lesionsFile)
}

/// case_0001.png …, numbered from 1 and zero-padded so that names sort in order.
func caseFileName(_ index: Int, of count: Int) -> String {
    let digits = max(4, String(count).count)
    let number = String(index + 1)
    return "case_" + String(repeating: "0", count: digits - number.count) + number + ".png"
}

/// Spreads the lesions evenly: image i has one when ⌊(i+1)·f⌋ > ⌊i·f⌋, so exactly ⌊n·f⌋ of n images have one.
func trainingHasLesion(_ index: Int, fraction: Double) -> Bool {
    // The epsilon keeps 3 · (2/3) from flooring to 1.
    func lesionsBefore(_ i: Int) -> Int { Int((Double(i) * fraction + 1e-9).rounded(.down)) }
    return lesionsBefore(index + 1) > lesionsBefore(index)
}

/// Stream 1 is training, stream 2 pairs: one stream's count never changes the other's images.
func caseSeed(_ seed: UInt64, stream: UInt64, index: Int) -> UInt64 {
    derivedSeed(derivedSeed(seed, stream), UInt64(index))
}

/// Up front and with the reason in words: the parallel writers would otherwise each fail with Foundation's
/// error dump, for instance when OUT is a file.
private func createDirectory(_ path: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        // Foundation wraps the POSIX error, whose text says what is wrong ("Not a directory").
        let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
        let reason = underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : nil }
        throw VAEDistError("cannot create the directory \(path): \(reason ?? error.localizedDescription)")
    }
}

/// A folder left with images from an earlier, larger run would be trained on (or paired) with this run's.
private func refuseForeignImages(in dir: String, keeping names: [String]) throws {
    guard let existing = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
    let keep = Set(names)
    let foreign = existing.filter { isImageFile($0) && !keep.contains($0) }.sorted()
    guard let first = foreign.first else { return }
    throw VAEDistError("\(dir) already holds \(foreign.count) image(s) this run would not write (\(first)…); they would be "
                    + "mixed with the new ones. Remove them or choose another output directory.")
}
