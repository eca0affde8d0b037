import VAECore

extension AutoencoderKL {
    /// The parameter list a weights file must provide: ldm names and shapes.
    public var expectedParameters: [(name: String, shape: [Int])] {
        namedParameters.map { ($0.name, $0.parameter.value.shape) }
    }

    /// Loads weights saved with ldm names, diffusers names or inside a full SD checkpoint
    /// (`first_stage_model.`), or behind a wrapper prefix (`module.`, `vae.`, …), whatever file they were read from. Missing, unexpected or mis-shaped tensors are
    /// all reported in one error that names the file and the configuration that was expected; so are tensors
    /// holding NaN or Inf (they would analyse to meaningless numbers and reconstruct to a black image).
    /// `configOrigin` says in messages where the model's config came from.
    @discardableResult
    public func loadWeights(tensors: [String: SafeTensors.Entry], path: String, configOrigin: String? = nil) throws -> LDMTensors {
        let description = config.yamlDescription + (configOrigin.map { "; config: \($0)" } ?? "")
        let converted = try ldmTensors(from: tensors, path: path, expected: Set(expectedParameters.map(\.name)),
                                       modelDescription: description)
        try refuseUnsupportedLayout(converted.tensors, path: path)
        let values = try matchParameters(expected: expectedParameters, loaded: converted.tensors, path: path,
                                         configDescription: description)
        try rejectNonFinite(values, order: namedParameters.map(\.name), path: path)
        for (name, p) in namedParameters {
            p.value.copy(from: values[name]!)
        }
        return converted
    }

    /// Returns the naming that was detected.
    @discardableResult
    public func loadWeights(_ file: SafeTensors, path: String) throws -> WeightNaming {
        try loadWeights(tensors: file.tensors, path: path).naming
    }

    @discardableResult
    public func loadWeights(path: String) throws -> WeightNaming {
        try loadWeights(SafeTensors.read(path: path), path: path)
    }

    /// The weights under ldm names, as a PyTorch user's `load_state_dict` expects them.
    public func weightsFile() -> SafeTensors {
        var file = SafeTensors()
        for (name, p) in namedParameters { file.add(name, p.value) }
        return file
    }
}

/// Throws naming the first few tensors (in model order) that hold NaN or Inf, how many values each, and the count.
func rejectNonFinite(_ values: [String: [Float]], order: [String], path: String) throws {
    let bad = order.compactMap { name -> String? in
        let count = values[name]?.reduce(0) { $1.isFinite ? $0 : $0 + 1 } ?? 0
        return count == 0 ? nil : "\(name) (\(count) of \(values[name]!.count) values)"
    }
    guard !bad.isEmpty else { return }
    let shown = 5
    let more = bad.count > shown ? ", … and \(bad.count - shown) more" : ""
    throw VAEDistError("\(path): \(bad.count) tensor\(bad.count == 1 ? " holds" : "s hold") NaN or Inf: "
                    + bad.prefix(shown).joined(separator: ", ") + more
                    + "; these weights are broken (a diverged or corrupted run) and cannot be used")
}
