import Foundation
import VAECore
import VAEFormats
import VAEJobs

/// The reconstruction grids of a run (`reconstructions/recon_epoch_N.png`, `val_recon_epoch_N.png` and their
/// PDFs): which images they show and how they are labelled.
enum ReconstructionGrids {
    static func trainingFile(epoch: Int) -> String { "recon_epoch_\(epoch).png" }
    static func validationFile(epoch: Int) -> String { "val_recon_epoch_\(epoch).png" }

    /// `count` of the `total` images, spread over their classes (parent folders, e.g. BUSI's benign/ and
    /// malignant/) rather than the first ones of one: the folders take turns, each folder's images are drawn
    /// evenly through it (in natural order of names), and the result lists them folder by folder. Without
    /// paths, evenly through all.
    static func sample(paths: [String], total: Int, count: Int) -> [Int] {
        let n = min(max(0, count), total)
        guard n > 0 else { return [] }
        let folders = paths.count == total
            ? Dictionary(grouping: 0..<total) { (paths[$0] as NSString).deletingLastPathComponent }
                .sorted { naturalOrder($0.key, $1.key) }
                .map { $0.value.sorted { naturalOrder(paths[$0], paths[$1]) } }
            : [Array(0..<total)]
        var quota = [Int](repeating: 0, count: folders.count), taken = 0
        while taken < n {
            for (index, folder) in folders.enumerated() where taken < n && quota[index] < folder.count {
                quota[index] += 1
                taken += 1
            }
        }
        return zip(folders, quota).flatMap { folder, q in
            (0..<q).map { folder[Int((Double($0) + 0.5) * Double(folder.count) / Double(q))] }
        }
    }

    /// The images at `indices` above their reconstructions (posterior mode), each column captioned with its file.
    static func write(model: AutoencoderKL, images: ImageSource, indices: [Int], paths: [String], epoch: Int,
                      set: String, to path: String) throws {
        guard !indices.isEmpty else { return }
        let x = try images.batch(indices, upcoming: [])
        let rec = model.decode(model.encode(x, train: false).mode, train: false)
        let columns = zip(zip(batchImages(x), batchImages(rec)), indices).map { pair, index in
            ImageGridColumn(caption: paths.indices.contains(index) ? paths[index].shortFileName : "image \(index + 1)",
                            images: [pair.0, pair.1])
        }
        try writeImageGrid(path: path, title: "Reconstructions after epoch \(epoch): \(indices.count) \(set) images",
                           subtitle: "\(images.size)×\(images.size) px, reconstructions decoded from the posterior mode",
                           rowLabels: ["input", "reconstruction"], columns: columns)
    }
}

extension String {
    /// A file as a grid captions it: its name without extension, after its folder (the class) unless the name
    /// already says it (BUSI's `benign/benign (3).png`).
    var shortFileName: String {
        let path = self as NSString
        let folder = (path.deletingLastPathComponent as NSString).lastPathComponent
        let stem = (path.lastPathComponent as NSString).deletingPathExtension
        return folder.isEmpty || folder == "/" || folder == "." || stem.lowercased().contains(folder.lowercased())
            ? stem : "\(folder)/\(stem)"
    }
}
