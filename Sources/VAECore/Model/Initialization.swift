extension AutoencoderKL {
    /// PyTorch's default initialisation, which ldm keeps, as each layer declares it for its parameters
    /// (`Parameter.Initialization`): the uniform draws come from one generator in state-dict order.
    public func initialize(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for (_, p) in namedParameters { p.initialize(using: &rng) }
    }
}

extension Parameter {
    func initialize(using rng: inout SplitMix64) {
        let v = value
        switch initialization {
        case let .uniform(fanIn):
            let bound = 1 / Double(fanIn).squareRoot()
            for i in 0..<v.count { v.data[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
        case let .constant(c):
            v.buffer.update(repeating: c)
        }
    }
}
