import ArgumentParser
import Foundation
import VAETools

struct SynthData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth-data",
        abstract: "Write breast-ultrasound-like phantom images: a training folder and matched lesion / no-lesion pairs.",
        discussion: """
            Grey B-mode-like images: speckle over skin, fat, glandular tissue and muscle, darker with depth, seen \
            by a linear or curvilinear probe, with dark lesions (cysts, circumscribed and irregular masses; some \
            with a bright rim, posterior shadowing or enhancement). Pairs are never training images. The same \
            options write the same bytes.

            OUTPUT/train/case_NNNN.png           training images
            OUTPUT/pairs/positive/case_NNNN.png  with a lesion
            OUTPUT/pairs/negative/case_NNNN.png  the same image without it
            OUTPUT/pairs/masks/case_NNNN.png     the lesion in white
            OUTPUT/pairs/lesions.json            kind, centre, radii, area, boxes
            """)

    @Option(help: "Output directory.")
    var output = "phantoms"

    @Option(help: "Training images to write.")
    var count = 64

    @Option(help: "Positive/negative pairs to write (0 for none).")
    var pairs = 8

    @Option(name: snakeAndKebab("img_size"), help: "Width and height of the images in pixels.")
    var imgSize = 256

    @Option(help: "Seed: the same seed writes the same images.")
    var seed: UInt64 = 0

    @Option(name: snakeAndKebab("lesion_fraction"),
            help: "Share of training images with a lesion, 0…1. (default: 2/3)")
    var lesionFraction: Double?

    func validate() throws {
        try checkOutputPathGiven(output, flag: "--output")
        let most = PhantomOptions.maxCount
        if !(1...most).contains(count) {
            throw ValidationError("--count must be at least 1 and at most \(most) (training images to write), got \(count)")
        }
        if !(0...most).contains(pairs) { throw ValidationError("--pairs must be 0 or more and at most \(most), got \(pairs)") }
        if imgSize < 16 {
            throw ValidationError("--img_size must be at least 16 pixels for the tissue layers and a lesion to fit, got \(imgSize)")
        }
        if imgSize > 4096 { throw ValidationError("--img_size must be at most 4096 pixels, got \(imgSize)") }
        if let lesionFraction, !(0...1).contains(lesionFraction) {
            throw ValidationError("--lesion_fraction must be between 0 and 1, got \(lesionFraction)")
        }
    }

    func run() throws {
        try reportingFailures {
            let options = PhantomOptions(outputDirectory: output, trainingCount: count, pairCount: pairs, imageSize: imgSize,
                                         seed: seed, lesionFraction: lesionFraction ?? 2.0 / 3)
            let summary = try writePhantoms(options)
            print("wrote \(counted(summary.trainingImages.count, "training image")) (\(summary.trainingWithLesion) with a lesion) to \(summary.trainingDirectory)")
            if let lesionsFile = summary.lesionsFile {
                print("wrote \(counted(summary.pairNames.count, "pair")) with matching names:")
                print("  \(summary.positiveDirectory)  with a lesion")
                print("  \(summary.negativeDirectory)  the same images without it")
                print("  \(summary.maskDirectory)  lesion masks")
                print("  \(lesionsFile)  lesion kind, centre, radii, area in pixels")
            }
            print("train on them with: vae-dist train --train_dir \(summary.trainingDirectory) --img_size \(imgSize)")
        }
    }
}

private func counted(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }
