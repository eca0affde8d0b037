import Foundation
import VAECore
import XCTest

/// The default convolution arithmetic against the fixtures' accuracy contract (Tests/Fixtures/README.md), on the
/// kernels this process runs (`TransformKernels.active`; scripts/test.sh runs these tests again with
/// `VAE_DIST_KERNELS=avx2` where the CPU has AVX-512, so both paths are held to it). Forward-only work (analysis,
/// reconstruction) is held to the forward tensors; training to those, every gradient and the Adam steps.
extension ReferenceModelTests {
    /// Every comparison of the contract for `arithmetic` on the fixture model `name`: the analysed forward's
    /// layers and pair metrics, the training forward, losses and gradients, and the Adam steps.
    func contractChecks(_ name: String, _ arithmetic: ConvolutionArithmetic) throws -> [ContractCheck] {
        recording = []
        defer { recording = nil }
        func loaded() throws -> Reference {
            let r = try load(name)
            r.model.arithmetic = arithmetic
            return r
        }
        try checkLayers(loaded())
        try checkPairMetrics(loaded(), name)
        try checkForwardAndGradients(loaded())
        let r = try loaded()
        if r.tensors.names.contains(where: { $0.hasPrefix("adam1.") }) {
            try checkTwoAdamSteps(r)
        } else {
            try checkLossAfterOneAdamStep(r)
        }
        return try XCTUnwrap(recording)
    }

    enum CheckKind: String, CaseIterable {
        case forward, gradients, adam = "Adam steps"

        init(key: String) {
            if key.hasPrefix("grad.") {
                self = .gradients
            } else if key.hasPrefix("adam1.") || key.hasPrefix("adam2.") || key == "total_loss_after_adam1" {
                self = .adam
            } else {
                self = .forward
            }
        }
    }

    /// The worst comparison of each kind over both fixture models, as (error / tolerance, "model key").
    struct ContractMeasurement {
        var worst: [CheckKind: (ratio: Double, label: String)] = [:]

        /// Whether the comparisons of `kinds` all hold.
        func keeps(_ kinds: [CheckKind]) -> Bool { kinds.allSatisfy { (worst[$0]?.ratio ?? 0) <= 1 } }

        var cells: String {
            CheckKind.allCases.map { kind in worst[kind].map { String(format: "%.3f (%@)", $0.ratio, $0.label) } ?? "none" }
                .joined(separator: " | ")
        }
    }

    func measure(_ arithmetic: ConvolutionArithmetic) throws -> ContractMeasurement {
        var m = ContractMeasurement()
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            for check in try contractChecks(name, arithmetic) {
                let kind = CheckKind(key: check.key)
                if check.ratio > m.worst[kind]?.ratio ?? -1 { m.worst[kind] = (check.ratio, "\(name) \(check.key)") }
            }
        }
        return m
    }

    static let forwardOnly: [CheckKind] = [.forward]
    static let training = CheckKind.allCases

    /// The defaults keep the contract on this kernel path: forward-only work's in its forward tensors, training's
    /// in everything. Fails for a default that misses on either path (under scripts/test.sh's second run).
    func testDefaultArithmeticKeepsTheContract() throws {
        try assertKeepsTheContract(forwardOnly: .default(for: .inference), training: .default(for: .training))
        XCTAssertNotEqual(ConvolutionArithmetic.default(for: .training), .exact, "F(4×4) reaches training somewhere")
    }

    func assertKeepsTheContract(forwardOnly: ConvolutionArithmetic, training: ConvolutionArithmetic,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        for (work, arithmetic, kinds) in [("forward-only", forwardOnly, Self.forwardOnly), ("training", training, Self.training)] {
            let m = try measure(arithmetic)
            print("\(TransformKernels.active): \(work) \(arithmetic): \(m.cells)")
            XCTAssertTrue(m.keeps(kinds), "\(TransformKernels.active) kernels: \(work) arithmetic \(arithmetic) misses the contract: \(m.cells)",
                          file: file, line: line)
        }
    }

    /// The parts in the order of their share of SD v1's 3×3 stride-1 convolution work (multiply–adds per latent
    /// pixel, 420M in all: decoder up blocks 288M, encoder down blocks 113M, decoder and encoder mid 9.4M each,
    /// encoder conv_in and decoder conv_out 0.22M each, encoder conv_out 37k, decoder conv_in 18k), the largest first.
    static let partsByWork: [ConvolutionPart] = [.decoderUp, .encoderDown, .decoderMid, .encoderMid, .encoderConvIn,
                                                 .decoderConvOut, .encoderConvOut, .decoderConvIn]

    /// Taking the parts in order of work, each is kept when the contract's `kinds` still hold with it and those
    /// kept before; prints each row of the measurement (Tests/Fixtures/README.md).
    func greedyChoice(_ kinds: [CheckKind], _ what: String) throws -> Set<ConvolutionPart> {
        var keeping: Set<ConvolutionPart> = []
        for part in Self.partsByWork {
            let m = try measure(ConvolutionArithmetic(f4x4: keeping.union([part])))
            print("| \(what) | \((keeping.sorted().map(\.rawValue) + ["**\(part.rawValue)**"]).joined(separator: ", ")) | \(m.cells) |")
            if m.keeps(kinds) { keeping.insert(part) }
        }
        return keeping
    }

    /// The measurement the defaults are chosen from, on this kernel path: every part alone, then a greedy choice
    /// for forward-only work and one for training (Tests/Fixtures/README.md has the table). Both kernel paths
    /// compute bitwise the same, and scripts/test.sh runs this on each: both defaults must be the greedy choice.
    func testArithmeticChoiceMeasurement() throws {
        XCTAssertEqual(Set(Self.partsByWork), Set(ConvolutionPart.allCases))
        print("kernels \(TransformKernels.active)")
        print("| for | F(4×4) in | worst forward error / tolerance | worst gradient | worst after Adam |")
        print("| --- | --- | --- | --- | --- |")
        for (label, arithmetic) in [("nothing (`--exact_conv`)", ConvolutionArithmetic.exact), ("everything (`--fast_conv`)", .fast)]
            + ConvolutionPart.allCases.map({ ("\($0.rawValue) alone", ConvolutionArithmetic(f4x4: [$0])) }) {
            print("| | \(label) | \(try measure(arithmetic).cells) |")
        }
        let forward = try greedyChoice(Self.forwardOnly, "forward")
        let training = try greedyChoice(Self.training, "training")
        print("greedy choice on \(TransformKernels.active): forward-only \(forward.sorted()), training \(training.sorted())")
        XCTAssertEqual(forward, ConvolutionArithmetic.default(for: .inference).f4x4, "forward-only work's default is the greedy choice")
        XCTAssertEqual(training, ConvolutionArithmetic.default(for: .training).f4x4, "training's default is the greedy choice")
    }
}
