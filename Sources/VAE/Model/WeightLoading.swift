extension AutoencoderKL {
    /// The parameter list a weights file must provide: ldm names and shapes.
    public var expectedParameters: [(name: String, shape: [Int])] {
        namedParameters.map { ($0.name, $0.parameter.value.shape) }
    }

    /// Loads weights saved with ldm names, diffusers names or inside a full SD checkpoint
    /// (`first_stage_model.`), converting F16/BF16 to float. Missing, unexpected or mis-shaped tensors are all
    /// reported in one error that names the file and the configuration that was expected.
    /// Returns the naming that was detected.
    @discardableResult
    public func loadWeights(_ file: SafeTensors, path: String) throws -> CheckpointNaming {
        let (tensors, naming) = try ldmTensors(from: file, path: path)
        let values = try matchParameters(expected: expectedParameters, loaded: tensors, path: path,
                                         configDescription: config.yamlDescription)
        for (name, p) in namedParameters {
            values[name]!.withUnsafeBufferPointer { p.value.data.update(from: $0.baseAddress!, count: p.value.count) }
        }
        return naming
    }

    @discardableResult
    public func loadWeights(path: String) throws -> CheckpointNaming {
        try loadWeights(SafeTensors.read(path: path), path: path)
    }

    /// The weights under ldm names, as a PyTorch user's `load_state_dict` expects them.
    public func weightsFile() -> SafeTensors {
        var file = SafeTensors()
        for (name, p) in namedParameters { file.add(name, p.value) }
        return file
    }
}
