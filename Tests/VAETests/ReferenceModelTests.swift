import Foundation
@testable import VAECore
import VAEFormats
import VAETraining
import XCTest

/// The tolerances of Tests/Fixtures/README.md: each tensor's is max(its fixed bound below, 1.5 × PyTorch's own
/// float32 error on it, float32-errors.json beside the fixture).
enum ReferenceTolerance {
    /// Forward tensors through the encoder (moments, mean, logvar, z, `act.encoder.*`, `act.quant_conv`), the
    /// loss scalars and the pair metrics: 1e-6 · max(1, max|ref|).
    static func forward(_ refMaxAbs: Double) -> Double { 1e-6 * max(1, refMaxAbs) }
    /// Forward tensors through the decoder (`act.decoder.*`, rec, rec_mode): 1e-5 · max(1, max|ref|). Rounding
    /// grows with depth: PyTorch's own float32 reaches 3.4e-6 relative at the last decoder layers, ours 2.2e-6.
    static func decoderForward(_ refMaxAbs: Double) -> Double { 1e-5 * max(1, refMaxAbs) }
    /// Gradients: 1e-3 · max|ref| + 1e-6 (some are analytically zero, so a relative bound alone cannot work).
    static func gradient(_ refMaxAbs: Double) -> Double { 1e-3 * refMaxAbs + 1e-6 }
    /// Parameters after Adam steps (lr 1e-3): 2.2e-5 absolute, as elements with tiny gradients make the step sensitive.
    static let afterAdam = 2.2e-5
    /// Every layer with `--fast_conv` (Winograd F(4×4)): 1.5e-5 · max(1, max|ref|), the bound
    /// ConvolutionAlgorithmTests sets for one F(4×4) convolution at SD's channel counts.
    static func fastConvolution(_ refMaxAbs: Double) -> Double { 1.5e-5 * max(1, refMaxAbs) }
    /// How far beyond PyTorch's own float32 error on a tensor ours may go: the reference framework's float32 is
    /// what users compare with, so a fixed bound it misses itself is no contract.
    static let float32Factor = 1.5

    /// A tensor's tolerance: its fixed bound, or 1.5 × PyTorch float32's error on it where that is larger.
    static func tensor(fixed: Double, float32Error: Double) -> Double { max(fixed, float32Factor * float32Error) }
}

/// One comparison of the accuracy contract: the error of a tensor or scalar and its tolerance.
struct ContractCheck {
    let key: String
    let error: Double
    let bound: Double
    var ratio: Double { error / bound }
}

extension ReferenceModelTests {
    /// max|ours − ref| of the fixture tensor `key` within its tolerance (`ReferenceTolerance.tensor` of
    /// `fixed(max|ref|)` and PyTorch float32's error on it); recorded instead while `recording` is set.
    func assertMatchesReference(_ ours: Tensor, _ r: Reference, _ key: String, _ what: String? = nil,
                                within fixed: (Double) -> Double = ReferenceTolerance.forward,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try Fixtures.tensor(r.tensors, key)
        XCTAssertEqual(ours.shape, ref.shape, what ?? key, file: file, line: line)
        guard ours.shape == ref.shape else { return }
        let float32Error = try XCTUnwrap(r.float32Errors[key], "\(key) has no PyTorch float32 error in float32-errors.json")
        let check = ContractCheck(key: key, error: Double(maxAbsDifference(ours, ref)),
                                  bound: ReferenceTolerance.tensor(fixed: fixed(Double(ref.maxAbs)), float32Error: float32Error))
        record(check, what, file: file, line: line)
    }

    /// A loss scalar of reference.json's `scalars` within the forward tolerance.
    func assertScalar(_ ours: Double, _ r: Reference, _ key: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let scalars = try XCTUnwrap(r.json["scalars"] as? [String: Double])
        let ref = try XCTUnwrap(scalars[key], "scalar \(key) missing")
        record(ContractCheck(key: key, error: abs(ours - ref), bound: ReferenceTolerance.forward(abs(ref))), nil, file: file, line: line)
    }

    func record(_ check: ContractCheck, _ what: String?, file: StaticString, line: UInt) {
        if recording != nil { recording!.append(check); return }
        XCTAssertLessThanOrEqual(check.error, check.bound, "\(what ?? check.key): max error \(check.error), tolerance \(check.bound)",
                                 file: file, line: line)
    }
}

/// Replays the float64 reference (Tests/Fixtures/vae-*/, tools/make_reference_fixtures.py): forward tensors,
/// encoder and decoder layer outputs, losses, every gradient and, for the tiny model, two Adam steps.
final class ReferenceModelTests: XCTestCase {
    struct Reference {
        let model: AutoencoderKL
        let tensors: SafeTensors
        let json: [String: Any]
        let input: Tensor
        let eps: Tensor
        let loss: VAELoss
        /// PyTorch float32's error on each tensor of `tensors` (float32-errors.json).
        let float32Errors: [String: Double]
    }

    /// While set, the contract's comparisons are collected here instead of asserted (ArithmeticChoiceTests.swift).
    var recording: [ContractCheck]?

    func load(_ name: String, weights: String = "weights.ldm.safetensors") throws -> Reference {
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("\(name)/config.yaml")))
        let weightsFile = try SafeTensors.read(path: Fixtures.path("\(name)/\(weights)"))
        let naming = try model.loadWeights(weightsFile, path: weights)
        if naming == .ldm {
            XCTAssertEqual(Set(model.namedParameters.map(\.name)), Set(weightsFile.names), "parameter names match the ldm state dict")
        }
        let tensors = try SafeTensors.read(path: Fixtures.path("\(name)/reference.safetensors"))
        let json = try Fixtures.json("\(name)/reference.json")
        let klWeight = try XCTUnwrap(json["kl_weight"] as? Double)
        let float32Errors = try XCTUnwrap(try Fixtures.json("\(name)/float32-errors.json")["tensors"] as? [String: Double])
        return Reference(model: model, tensors: tensors, json: json,
                         input: try Fixtures.tensor(tensors, "input"), eps: try Fixtures.tensor(tensors, "eps"),
                         loss: VAELoss(klWeight: klWeight), float32Errors: float32Errors)
    }


    func checkForwardAndGradients(_ r: Reference) throws {
        let posterior = r.model.encode(r.input, train: true)
        try assertMatchesReference(posterior.moments, r, "moments")
        try assertMatchesReference(posterior.mean, r, "mean")
        try assertMatchesReference(posterior.logvar, r, "logvar")
        let z = posterior.sample(eps: r.eps)
        try assertMatchesReference(z, r, "z")
        let rec = r.model.decode(z, train: true)
        try assertMatchesReference(rec, r, "rec", within: ReferenceTolerance.decoderForward)

        let (losses, dRec) = r.loss.evaluate(rec: rec, input: r.input, posterior: posterior)
        try assertScalar(losses.reconstruction, r, "recon_loss")
        try assertScalar(losses.kl, r, "kl_loss_sum")
        try assertScalar(losses.total, r, "total_loss")
        let meanLoss = VAELoss(klWeight: r.loss.klWeight, klReduction: .mean)
        try assertScalar(meanLoss.evaluate(rec: rec, input: r.input, posterior: posterior).losses.kl, r, "kl_loss_mean")

        r.model.zeroGradients()
        let dz = r.model.decodeBackward(dRec)
        r.model.encodeBackward(posterior.momentsGradient(dz: dz, eps: r.eps,
                                                         klScale: r.loss.klGradientScale(posterior, batchTotal: r.input.shape[0])))
        try checkGradients(r)

        let recMode = r.model.decode(posterior.mode, train: false)
        try assertMatchesReference(recMode, r, "rec_mode", within: ReferenceTolerance.decoderForward)
    }

    func checkGradients(_ r: Reference) throws {
        var checked = 0
        for (name, p) in r.model.namedParameters {
            try assertMatchesReference(p.grad, r, "grad.\(name)", within: ReferenceTolerance.gradient)
            checked += 1
        }
        XCTAssertEqual(checked, r.tensors.names.filter { $0.hasPrefix("grad.") }.count)
    }

    func testTinyModelMatchesReference() throws {
        try checkForwardAndGradients(try load("vae-tiny-g8"))
    }

    func testSmallModelMatchesReference() throws {
        try checkForwardAndGradients(try load("vae-small-g32"))
    }

    func adam(for r: Reference) throws -> Optimizer {
        let json = try XCTUnwrap(r.json["adam"] as? [String: Double])
        var settings = OptimizerSettings()
        (settings.beta1, settings.beta2, settings.eps) = (json["beta1"]!, json["beta2"]!, json["eps"]!)
        return Optimizer(parameters: r.model.namedParameters.map { $0.parameter }, lr: json["lr"]!, settings: settings)
    }

    /// Two Adam steps from our own gradients (tiny stores the parameters after each); the loss taken at the
    /// first step's point is `total_loss_after_adam1`.
    func testTwoAdamStepsMatchReference() throws {
        try checkTwoAdamSteps(try load("vae-tiny-g8"))
    }

    func checkTwoAdamSteps(_ r: Reference) throws {
        let adam = try adam(for: r)
        var totals: [Double] = []
        for stepName in ["adam1", "adam2"] {
            r.model.zeroGradients()
            totals.append(r.model.forwardBackward(input: r.input, eps: r.eps, loss: r.loss).total)
            adam.update()
            for (name, p) in r.model.namedParameters {
                try assertMatchesReference(p.value, r, "\(stepName).\(name)", within: { _ in ReferenceTolerance.afterAdam })
            }
        }
        try assertScalar(totals[1], r, "total_loss_after_adam1")
    }

    /// The small model stores no parameters after Adam, only the loss after one step.
    func testSmallLossAfterOneAdamStepMatchesReference() throws {
        try checkLossAfterOneAdamStep(try load("vae-small-g32"))
    }

    func checkLossAfterOneAdamStep(_ r: Reference) throws {
        let adam = try adam(for: r)
        r.model.zeroGradients()
        _ = r.model.forwardBackward(input: r.input, eps: r.eps, loss: r.loss)
        adam.update()
        r.model.zeroGradients()
        try assertScalar(r.model.forwardBackward(input: r.input, eps: r.eps, loss: r.loss).total, r, "total_loss_after_adam1")
    }

    /// Encoder layers (ending with `quant_conv`, the moments) and decoder layers of the analysed forward: encoding
    /// `input` and decoding the posterior mean at the fixture's weights, as reference.json describes `act.`.
    @discardableResult
    func checkLayers(_ r: Reference, encoder encoderTolerance: (Double) -> Double = ReferenceTolerance.forward,
                     decoder decoderTolerance: (Double) -> Double = ReferenceTolerance.decoderForward) throws -> Tensor {
        var encoderOutputs: [(String, Tensor)] = []
        let posterior = r.model.encode(r.input, train: false) { name, t in encoderOutputs.append((name, t.clone())) }
        let encoderOrder = try XCTUnwrap(r.json["encoder_layers"] as? [String])
        XCTAssertEqual(r.model.encoderLayerNames, encoderOrder)
        XCTAssertEqual(encoderOutputs.map(\.0), encoderOrder)
        for (name, output) in encoderOutputs { try assertMatchesReference(output, r, "act.\(name)", within: encoderTolerance) }

        var decoderOutputs: [(String, Tensor)] = []
        let rec = r.model.decode(posterior.mode, train: false) { name, t in decoderOutputs.append((name, t.clone())) }
        let decoderOrder = try XCTUnwrap(r.json["decoder_layers"] as? [String])
        XCTAssertEqual(r.model.decoder.layerNames, decoderOrder)
        XCTAssertEqual(decoderOutputs.map(\.0), decoderOrder)
        for (name, output) in decoderOutputs {
            try assertMatchesReference(output, r, "act.\(name)", within: decoderTolerance)
        }
        try assertMatchesReference(rec, r, "rec_mode", within: decoderTolerance)
        return rec
    }

    func testTinyLayersMatchReference() throws {
        try checkLayers(try load("vae-tiny-g8"))
    }

    func testSmallLayersMatchReference() throws {
        try checkLayers(try load("vae-small-g32"))
    }

    /// `--fast_conv` builds the model with F(4×4) convolutions: every layer stays within that algorithm's bound,
    /// and the reconstruction is not the default's (the setting reaches the model).
    func testFastConvolutionLayersStayWithinItsBound() throws {
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            let r = try load(name)
            let exact = r.model.decode(r.model.encode(r.input, train: false).mode, train: false)
            r.model.arithmetic = .fast
            let fast = try checkLayers(r, encoder: ReferenceTolerance.fastConvolution, decoder: ReferenceTolerance.fastConvolution)
            XCTAssertNotEqual(fast.array, exact.array, name)
        }
    }

    /// The default of the forward-only jobs (analysis, reconstruction): F(4×4) in the decoder only, held to the
    /// fixtures' contract (the encoder's layers computed by F(2×2) as before).
    func testAnalysisArithmeticMeetsTheFixtureTolerances() throws {
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            let r = try load(name)
            let exact = r.model.decode(r.model.encode(r.input, train: false).mode, train: false)
            r.model.arithmetic = .fastDecoder
            XCTAssertNotEqual(try checkLayers(r).array, exact.array, name)
        }
    }

    /// With `--fast_conv` (F(4×4) for every 3×3 convolution's output, input gradient and weight gradient) every
    /// gradient of both fixture models stays within the gradient bound.
    func testFastConvolutionGradientsStayWithinTheGradientBound() throws {
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            let r = try load(name)
            r.model.arithmetic = .fast
            _ = r.model.forwardBackward(input: r.input, eps: r.eps, loss: r.loss)
            try checkGradients(r)
        }
    }

    func testDiffusersAndF16WeightsLoadIntoTheSameModel() throws {
        for name in ["vae-tiny-g8", "vae-small-g32"] {
            let ldm = try load(name)
            let diffusers = try load(name, weights: "weights.diffusers.safetensors")
            for ((pname, a), (_, b)) in zip(ldm.model.namedParameters, diffusers.model.namedParameters) {
                XCTAssertEqual(a.value.array, b.value.array, "\(name) \(pname)")
            }
            let rec = diffusers.model.decode(diffusers.model.encode(diffusers.input, train: false).mode, train: false)
            try assertMatchesReference(rec, diffusers, "rec_mode", "\(name) rec_mode via diffusers names", within: ReferenceTolerance.decoderForward)
        }
        let f32 = try load("vae-tiny-g8")
        let f16 = try load("vae-tiny-g8", weights: "weights.ldm-f16.safetensors")
        for ((pname, a), (_, b)) in zip(f32.model.namedParameters, f16.model.namedParameters) {
            for i in 0..<a.value.count {
                // float16 keeps 11 significant bits: half an ulp is 2^-11 relative.
                XCTAssertEqual(a.value.data[i], b.value.data[i], accuracy: abs(a.value.data[i]) * 0x1p-11 + 1e-7, pname)
            }
        }
    }

    func testWeightsOfAnotherConfigAreRejectedWithTheListOfDifferences() throws {
        let model = AutoencoderKL(try VAEConfig.load(path: Fixtures.path("vae-tiny-g8/config.yaml")))
        let path = Fixtures.path("vae-small-g32/weights.ldm.safetensors")
        XCTAssertThrowsError(try model.loadWeights(path: path)) { error in
            let message = "\(error)"
            for part in [path, "30 missing", "decoder.up.1.attn.0.q.weight [32, 32, 1, 1]",
                         "decoder.conv_in.weight: expected [32, 4, 3, 3], found [64, 4, 3, 3]", "ch 16", "norm_num_groups 8"] {
                XCTAssertTrue(message.contains(part), "'\(message)' should mention \(part)")
            }
        }
    }
}
