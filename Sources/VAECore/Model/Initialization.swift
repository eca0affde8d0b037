import Foundation

extension AutoencoderKL {
    /// PyTorch's default initialisation, which ldm keeps: a convolution's weight and bias are uniform in
    /// ±1/√fan_in (kaiming_uniform with a = √5 reduces to that bound), group norms start at weight 1, bias 0.
    /// A parameter's kind is read off its ldm name and shape: 4-D "weight" = conv, its "bias" shares its prefix.
    public func initialize(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let params = namedParameters
        let shapes = Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.parameter.value.shape) })
        for (name, p) in params {
            let prefix = String(name.dropLast(name.hasSuffix(".weight") ? 7 : 5))
            let weightShape = shapes[prefix + ".weight"] ?? []
            if weightShape.count == 4 {
                let bound = 1 / Double(weightShape[1...].reduce(1, *)).squareRoot()
                for i in 0..<p.value.count { p.value.data[i] = Float((rng.nextUniform() * 2 - 1) * bound) }
            } else {
                p.value.buffer.update(repeating: name.hasSuffix(".weight") ? 1 : 0)
            }
        }
    }
}
