@testable import VAECore
@testable import VAEFormats
@testable import VAETraining
import XCTest

/// Three steps of each update rule against torch.optim (tools/make_training_references.py, float64 in torch,
/// float32 here).
final class OptimizerTests: XCTestCase {
    private func settings(_ json: [String: Any]) -> (lr: Double, OptimizerSettings) {
        var s = OptimizerSettings()
        let betas = json["betas"] as? [Double] ?? [0.9, 0.999]
        (s.beta1, s.beta2) = (betas[0], betas[1])
        s.eps = json["eps"] as? Double ?? 1e-8
        s.weightDecay = json["weight_decay"] as? Double ?? 0
        s.momentum = json["momentum"] as? Double ?? 0
        s.dampening = json["dampening"] as? Double ?? 0
        s.nesterov = json["nesterov"] as? Bool ?? false
        return (json["lr"] as! Double, s)
    }

    private func parameter(from tensor: Tensor) -> Parameter {
        let p = Parameter(shape: tensor.shape)
        p.value.copy(from: tensor)
        return p
    }

    func testThreeStepsMatchTorch() throws {
        let reference = try XCTUnwrap(Fixtures.json("training/reference.json")["optimizers"] as? [String: [String: Any]])
        let file = try SafeTensors.read(path: Fixtures.path("training/optimizer_steps.safetensors"))
        let kinds: [String: OptimizerKind] = ["adam": .adam, "adam_wd": .adam, "adamw": .adamw,
                                              "sgd": .sgd, "sgd_momentum": .sgd, "sgd_nesterov": .sgd]
        XCTAssertEqual(Set(reference.keys), Set(kinds.keys))
        for (name, json) in reference.sorted(by: { $0.key < $1.key }) {
            var (lr, s) = settings(json)
            s.kind = kinds[name]!
            XCTAssertNoThrow(try s.validate(), name)
            let parameter = try parameter(from: Fixtures.tensor(file, "w0"))
            let optimizer = Optimizer(parameters: [parameter], lr: lr, settings: s)
            for step in 1...3 {
                parameter.grad.copy(from: try Fixtures.tensor(file, "grad\(step - 1)"))
                optimizer.update()
                let expected = try Fixtures.tensor(file, "\(name).step\(step)")
                for i in 0..<expected.count {
                    XCTAssertEqual(parameter.value.data[i], expected.data[i],
                                   accuracy: 1e-5 * max(1, abs(expected.data[i])), "\(name) step \(step) element \(i)")
                }
            }
        }
    }

    func testStateNamesFollowTorch() {
        XCTAssertEqual(OptimizerSettings.defaults(for: .adamw).stateNames, ["exp_avg", "exp_avg_sq"])
        XCTAssertEqual(OptimizerSettings.defaults(for: .adamw).weightDecay, 1e-2)
        XCTAssertEqual(OptimizerSettings.defaults(for: .sgd).stateNames, [])
        var momentum = OptimizerSettings.defaults(for: .sgd)
        momentum.momentum = 0.9
        XCTAssertEqual(momentum.stateNames, ["momentum_buffer"])
    }

    func testRefusesWhatTorchRefuses() {
        var nesterov = OptimizerSettings.defaults(for: .sgd)
        nesterov.nesterov = true
        XCTAssertThrowsError(try nesterov.validate()) { XCTAssertTrue("\($0)".contains("--nesterov")) }
        var adamMomentum = OptimizerSettings.defaults(for: .adam)
        adamMomentum.momentum = 0.9
        XCTAssertThrowsError(try adamMomentum.validate()) { XCTAssertTrue("\($0)".contains("--momentum")) }
        var negative = OptimizerSettings.defaults(for: .adamw)
        negative.weightDecay = -1
        XCTAssertThrowsError(try negative.validate()) { XCTAssertTrue("\($0)".contains("--weight_decay")) }
    }

    func testRestoreContinuesBitwise() throws {
        var s = OptimizerSettings.defaults(for: .sgd)
        s.momentum = 0.9
        let grads = (0..<4).map { k in Tensor(shape: [5], values: (0..<5).map { Float($0 + k) * 0.1 - 0.2 }) }
        let straight = parameter(from: Tensor(shape: [5], values: [1, 2, 3, 4, 5]))
        let a = Optimizer(parameters: [straight], lr: 0.05, settings: s)
        for g in grads { straight.grad.copy(from: g); a.update() }

        let resumed = parameter(from: Tensor(shape: [5], values: [1, 2, 3, 4, 5]))
        let first = Optimizer(parameters: [resumed], lr: 0.05, settings: s)
        for g in grads[..<2] { resumed.grad.copy(from: g); first.update() }
        let second = Optimizer(parameters: [resumed], lr: 0.05, settings: s)
        try second.restore(step: first.step, saved: first.state)
        for g in grads[2...] { resumed.grad.copy(from: g); second.update() }
        XCTAssertEqual(straight.value.array, resumed.value.array)
    }
}
