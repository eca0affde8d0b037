import Foundation
import VAECore
import VAEFormats

/// Which files are training images: a folder (optionally with its sub-folders) less the excluded names, or an
/// explicit list. Sorted, so every rank and every run sees the same order.
public enum TrainingImages {
    public struct Listing: Equatable {
        public let paths: [String]
        /// Image files left out by `exclude` patterns.
        public let excluded: [String]
    }

    public static func list(directory: String, selection: DataSelection, option: String) throws -> Listing {
        if let list = selection.trainList { return Listing(paths: try read(list: list), excluded: []) }
        let names = try selection.recursive
            ? recursiveImageNames(in: directory, option: option)
            : ImageFolder.imageNames(in: directory, option: option)
        var kept: [String] = [], excluded: [String] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            if matches((name as NSString).lastPathComponent, selection.exclude) { excluded.append(path) } else { kept.append(path) }
        }
        guard !kept.isEmpty else {
            let why = excluded.isEmpty ? "no images (png, jpg or jpeg)\(selection.recursive ? "" : "; pass --recursive to look in sub-folders")"
                                       : "all \(excluded.count) images match --exclude \(selection.exclude.joined(separator: ","))"
            throw VAEDistError("\(option) \(directory): \(why)")
        }
        return Listing(paths: kept, excluded: excluded)
    }

    /// fnmatch(3) on the file name: `*_mask*` leaves out `benign (1)_mask.png` and `benign (1)_mask_1.png`.
    static func matches(_ name: String, _ patterns: [String]) -> Bool {
        patterns.contains { fnmatch($0, name, 0) == 0 }
    }

    /// Image files under `dir` and its sub-folders, as paths relative to `dir`.
    public static func recursiveImageNames(in dir: String, option: String) throws -> [String] {
        _ = try ImageFolder.imageNames(in: dir, option: option)  // the folder exists and is readable
        guard let walk = FileManager.default.enumerator(atPath: dir) else {
            throw VAEDistError("\(option) \(dir): cannot list the directory")
        }
        var names: [String] = []
        while let relative = walk.nextObject() as? String {
            if isImageFile(relative) { names.append(relative) }
        }
        return names.sorted()
    }

    /// `--train_list`: one path per line; blank lines and lines starting with # are skipped; relative paths are
    /// relative to the list's folder.
    static func read(list: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: list) else {
            throw VAEDistError("--train_list \(list): cannot read the file (missing or unreadable)")
        }
        let folder = (list as NSString).deletingLastPathComponent
        let paths = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { $0.hasPrefix("/") ? $0 : (folder as NSString).appendingPathComponent($0) }
        guard !paths.isEmpty else { throw VAEDistError("--train_list \(list): lists no image") }
        return paths
    }

    /// A seeded hold-out of round(fraction · count) images (at least one, leaving at least one to train on);
    /// the same seed and list give the same split. Both parts keep the list's order.
    public static func split(_ paths: [String], fraction: Double, seed: UInt64) throws -> (train: [String], validation: [String]) {
        let held = min(max(Int((fraction * Double(paths.count)).rounded()), 1), paths.count - 1)
        guard held >= 1 else {
            throw VAEDistError("--val_fraction \(fraction): \(paths.count) image(s) are too few to hold any out")
        }
        let chosen = Set(SampleOrder.holdOut(count: paths.count, held: held, seed: seed))
        let train = paths.indices.filter { !chosen.contains($0) }.map { paths[$0] }
        let validation = paths.indices.filter { chosen.contains($0) }.map { paths[$0] }
        return (train, validation)
    }
}

/// Which files of --train_dir (or --train_list) are training images.
public struct DataSelection: Codable, Equatable, Sendable {
    /// Descend into sub-folders (BUSI keeps classes in benign/, malignant/, normal/).
    public var recursive = false
    /// Glob patterns on file names to leave out; BUSI-style masks (`benign (1)_mask.png`) by default.
    public var exclude = ["*_mask*"]
    /// A file listing one image path per line, instead of a folder.
    public var trainList: String?

    public init() {}

    enum CodingKeys: String, CodingKey { case recursive, exclude, trainList = "train_list" }
}
