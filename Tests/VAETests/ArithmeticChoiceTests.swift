import Foundation
import VAECore
import XCTest

/// The default convolution arithmetic, chosen by measurement against the fixtures' accuracy contract
/// (Tests/Fixtures/README.md): F(4×4) in every part of the networks that keeps the contract with F(4×4) alone,
/// F(2×2) elsewhere, and the chosen whole keeps it too; one default for every command, held to
/// the analysed forward's layers and the training forward, losses, gradients and Adam steps alike.
extension ReferenceModelTests {
    /// Every comparison of the contract for `arithmetic` on the fixture model `name`: the analysed forward's
    /// layers, the training forward, losses and gradients, and the Adam steps.
    func contractChecks(_ name: String, _ arithmetic: ConvolutionArithmetic) throws -> [ContractCheck] {
        recording = []
        defer { recording = nil }
        func loaded() throws -> Reference {
            let r = try load(name)
            r.model.arithmetic = arithmetic
            return r
        }
        try checkLayers(loaded())
        try checkForwardAndGradients(loaded())
        let r = try loaded()
        if r.tensors.names.contains(where: { $0.hasPrefix("adam1.") }) {
            try checkTwoAdamSteps(r)
        } else {
            try checkLossAfterOneAdamStep(r)
        }
        return try XCTUnwrap(recording)
    }

    /// The kinds of comparison of the contract, as the measurement table groups them.
    static func kind(of key: String) -> String {
        if key.hasPrefix("grad.") { return "gradients" }
        if key.hasPrefix("adam1.") || key.hasPrefix("adam2.") || key == "total_loss_after_adam1" { return "Adam steps" }
        return "forward"
    }

    /// The worst comparison of each kind over both fixture models, as (ratio, "model key").
    func worstChecks(_ arithmetic: ConvolutionArithmetic) throws -> [String: (ratio: Double, label: String)] {
        var worst: [String: (ratio: Double, label: String)] = [:]
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            for check in try contractChecks(name, arithmetic) where check.ratio > worst[Self.kind(of: check.key)]?.ratio ?? -1 {
                worst[Self.kind(of: check.key)] = (check.ratio, "\(name) \(check.key)")
            }
        }
        return worst
    }

    /// Prints a row of the measurement table (Tests/Fixtures/README.md) and says whether every comparison holds.
    func keepsTheContract(_ label: String, _ arithmetic: ConvolutionArithmetic) throws -> Bool {
        let worst = try worstChecks(arithmetic)
        let cells = ["forward", "gradients", "Adam steps"].map { kind in
            worst[kind].map { String(format: "%.3f (%@)", $0.ratio, $0.label) } ?? "none"
        }
        print("| \(label) | \(cells.joined(separator: " | ")) |")
        return worst.values.allSatisfy { $0.ratio <= 1 }
    }

    /// The parts in the order of their share of SD v1's 3×3 convolution work (multiply–adds per latent pixel:
    /// decoder up blocks ~32M, mid ~1.0M, conv_out ~25k, conv_in ~2k; encoder down blocks ~28M, mid ~1.0M,
    /// conv_in ~14k, conv_out ~37k), the largest first.
    static let partsByWork: [ConvolutionPart] = [.decoderUp, .encoderDown, .decoderMid, .encoderMid, .encoderConvOut,
                                                 .decoderConvOut, .encoderConvIn, .decoderConvIn]

    /// The default computes with F(4×4) in the parts a greedy choice keeps: taking the parts in order of work,
    /// each is added when the whole contract (training included) still holds with it. Rounding errors of
    /// separate parts do not simply add: where Adam's step divides by a gradient near its eps, which weights
    /// move depends on every rounding before it, so parts that each keep the contract may miss it together.
    func testDefaultArithmeticIsF4x4WhereverItKeepsTheContract() throws {
        XCTAssertEqual(Set(Self.partsByWork), Set(ConvolutionPart.allCases))
        print("| F(4×4) in | worst forward error / tolerance | worst gradient | worst after Adam |")
        print("| --- | --- | --- | --- |")
        _ = try keepsTheContract("nothing (`--exact_conv`)", .exact)
        for part in ConvolutionPart.allCases {
            _ = try keepsTheContract("\(part.rawValue) alone", ConvolutionArithmetic(f4x4: [part]))
        }
        var keeping: Set<ConvolutionPart> = []
        for part in Self.partsByWork {
            let label = (keeping.sorted().map(\.rawValue) + ["**\(part.rawValue)**"]).joined(separator: ", ")
            if try keepsTheContract(label, ConvolutionArithmetic(f4x4: keeping.union([part]))) { keeping.insert(part) }
        }
        XCTAssertEqual(ConvolutionArithmetic.default.f4x4, keeping, "the default's F(4×4) parts are those the greedy choice keeps")
        _ = try keepsTheContract("everything (`--fast_conv`)", .fast)
    }
}
