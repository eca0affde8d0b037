import ArgumentParser
import Foundation
import VAETools

struct MakePairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-pairs",
        abstract: "Make lesion / lesion-free pairs for analyze-folder from images and their lesion masks.",
        discussion: """
            OUTPUT/positive/<stem>.png  the original image
            OUTPUT/negative/<stem>.png  the same image with the lesion (its mask dilated by --dilate pixels) \
            filled from the surrounding tissue
            OUTPUT/masks/<stem>.png     the lesion mask (several masks of one image merged)

            --recursive reads the images' sub-folders too and keeps them: BUSI's benign/ and malignant/ give \
            OUTPUT/positive/benign/<stem>.png and so on, which analyze-folder compares as groups (--group_by folder).

            Masks come from --masks DIR (named like the image, or its stem with any image extension) or, without \
            it, BUSI-style from beside the images: benign (1).png with benign (1)_mask.png and \
            benign (1)_mask_1.png. Images without a mask or with an empty one (BUSI's normal cases) are listed \
            and skipped.

            The fill keeps the speckle: the low-frequency part (a box blur) is continued smoothly into the region \
            (Laplace's equation), and the speckle residual is copied in patches drawn (with --seed) from the ring \
            of tissue around the lesion. Then: vae-dist analyze-folder --folder OUTPUT ...
            """)

    @Option(help: "Folder of lesion images (BUSI-style masks may sit beside them).")
    var images: String

    @Option(help: "Folder of masks named like the images (default: <stem>_mask files beside the images).")
    var masks: String?

    @Option(help: "Output folder: positive/, negative/ and masks/ are written inside.")
    var output: String

    @Flag(help: "Read the sub-folders of --images too (e.g. BUSI's benign/, malignant/, normal/), keeping them in the output (groups for analyze-folder).")
    var recursive = false

    @Option(help: "Pixels by which the mask is grown before filling (covers the lesion's rim).")
    var dilate = 5
    static let dilateRange = 0...4096

    @Option(help: "Side of the texture patches copied from around the lesion, in pixels.")
    var patch = 8
    static let patchRange = 2...1024

    @Option(help: "Seed of the patch draws: the same seed writes the same images.")
    var seed: UInt64 = 0

    func validate() throws {
        try checkOutputPathGiven(output, flag: "--output")
        try checkRange(dilate, Self.dilateRange, flag: "--dilate")
        try checkRange(patch, Self.patchRange, flag: "--patch")
    }

    func run() throws {
        try reportingFailures {
            let summary = try makePairs(MakePairsOptions(images: images, masks: masks, output: output,
                                                         inpainting: LesionInpainting(dilate: dilate, patch: patch, seed: seed),
                                                         recursive: recursive))
            if !summary.skipped.isEmpty {
                print("skipped \(summary.skipped.count) image(s):\n" + summary.skipped.map { "  \($0)" }.joined(separator: "\n"))
            }
            print("wrote \(summary.pairs.count) pair(s) to \(output)/{positive,negative,masks}; next: vae-dist analyze-folder --folder \(output) ...")
        }
    }
}
