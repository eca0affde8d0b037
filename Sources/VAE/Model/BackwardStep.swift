/// One module's backward inside a model's backward pass, with the parameters whose gradients it completes.
struct BackwardStep {
    let parameters: [Parameter]
    let run: (Tensor) -> Tensor

    init(_ owner: ParameterOwner, _ run: @escaping (Tensor) -> Tensor) {
        parameters = owner.namedParameters.map(\.parameter)
        self.run = run
    }

    /// Runs the steps in order; `ready` is called after each step.
    static func run(_ steps: [BackwardStep], _ gradient: Tensor, ready: () -> Void) -> Tensor {
        var g = gradient
        for step in steps {
            g = step.run(g)
            ready()
        }
        return g
    }
}
