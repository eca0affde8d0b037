import Foundation
import VAECore
import VAEJobs

/// Finding each pair's lesion mask: in a mask folder under the image's own name or stem (`vae-dist synth-data`
/// writes `pairs/masks/<name>`), or BUSI-style beside the image (`benign (1)_mask.png`, `benign (1)_mask_1.png`).
public enum MaskFiles {
    /// "<stem>" when `name` is `<stem>_mask.<ext>` or `<stem>_mask_N.<ext>` and an image of that stem is
    /// among `names` (so a mask is never taken for an image to pair).
    public static func maskedStem(_ name: String, among names: [String]) -> String? {
        let base = (name as NSString).deletingPathExtension
        guard let range = base.range(of: "_mask", options: .backwards) else { return nil }
        let suffix = base[range.upperBound...]
        guard suffix.isEmpty || (suffix.first == "_" && suffix.dropFirst().allSatisfy(\.isNumber) && suffix.count > 1) else {
            return nil
        }
        let stem = String(base[..<range.lowerBound])
        return names.contains { $0 != name && ($0 as NSString).deletingPathExtension == stem } ? stem : nil
    }

    /// The files of `names` that are masks of the image `stem` (BUSI naming), sorted.
    public static func busiMasks(of stem: String, in names: [String]) -> [String] {
        names.filter { maskedStem($0, among: names) == stem }.sorted()
    }

    /// The masks of image file `name` in a folder holding `names`: the same file name, else the same stem with
    /// any image extension, else BUSI-style masks.
    public static func masks(ofFile name: String, in names: [String]) -> [String] {
        let stem = (name as NSString).deletingPathExtension
        if names.contains(name) { return [name] }
        let sameStem = names.filter { ($0 as NSString).deletingPathExtension == stem }
        return sameStem.isEmpty ? busiMasks(of: stem, in: names) : [sameStem.sorted()[0]]
    }

    /// Sets every pair's masks: from `maskFolder` (`--masks`), else FOLDER/masks/, else BUSI-style files
    /// beside the positives. `files`: each pair's path under positive/; `positiveFiles`: every image there (paths
    /// relative to it). A pair in a sub-folder finds its masks at the same path in the mask folder. Once masks are
    /// found, every pair must have one (the lesion metrics are compared over pairs); the pairs without are listed.
    static func attach(to pairs: inout [ImagePair], files: [String], folder: String, maskFolder: String?, positiveFiles: [String]) throws {
        let defaultFolder = (folder as NSString).appendingPathComponent("masks")
        let (directory, option): (String?, String)
        if let maskFolder {
            (directory, option) = (maskFolder, "--masks \(maskFolder)")
        } else if FileManager.default.fileExists(atPath: defaultFolder) {
            (directory, option) = (defaultFolder, "--folder \(folder): masks/")
        } else {
            (directory, option) = (nil, "--folder \(folder): BUSI-style <stem>_mask files in positive/")
        }
        let names = try directory.map { try TrainingImages.recursiveImageNames(in: $0, option: option) } ?? positiveFiles
        let base = directory ?? (folder as NSString).appendingPathComponent("positive")
        for (index, file) in zip(pairs.indices, files) {
            let found = directory == nil ? busiMasks(of: (file as NSString).deletingPathExtension, in: names)
                                         : masks(ofFile: file, in: names)
            pairs[index].masks = found.map { (base as NSString).appendingPathComponent($0) }
        }
        let missing = pairs.filter(\.masks.isEmpty)
        guard directory != nil || missing.count < pairs.count else { return }
        guard missing.isEmpty else {
            throw VAEDistError("\(option): no mask for \(missing.count) of \(pairs.count) pair(s) (looked for the image's file name, its stem with any image extension, or <stem>_mask.<ext>): "
                            + missing.map(\.name).joined(separator: ", "))
        }
    }
}
