import VAECore

/// Prefixes that training code puts before a model's parameter names without changing the model: DataParallel's
/// and DDP's `module.`, torch.compile's `_orig_mod.` (any number of either), and at most one attribute of a
/// wrapper holding the VAE (`model.`, `vae.`, `autoencoder.`: Lightning modules, `{"model": …}` training scripts).
/// A prefix is only stripped when what it leaves is a complete VAE for the model, so that a UNet's `model.` or a
/// stray copy of a few tensors is never taken for one.
enum WrapperPrefix {
    private static let transparent: Set<Substring> = ["module", "_orig_mod"]
    private static let attributes: Set<Substring> = ["model", "vae", "autoencoder"]

    /// The wrapper prefix of `name` and the VAE key after it ("module.vae.encoder.conv_in.weight" → "module.vae.",
    /// "encoder.conv_in.weight"); nil when `name` has no such prefix or no VAE key after it.
    static func split(_ name: String) -> (prefix: String, key: String)? {
        var rest = Substring(name)
        var sawAttribute = false
        while let dot = rest.firstIndex(of: ".") {
            let part = rest[..<dot]
            if transparent.contains(part) {
                // any number of these
            } else if !sawAttribute && attributes.contains(part) {
                sawAttribute = true
            } else {
                break
            }
            rest = rest[rest.index(after: dot)...]
        }
        guard rest.startIndex != name.startIndex, vaeRoots.contains(where: { rest.hasPrefix($0 + ".") }) else { return nil }
        return (String(name[..<rest.startIndex]), String(rest))
    }

    /// The VAE of `tensors` (which hold no VAE key as they are) from behind the one wrapper prefix that leaves all
    /// of `expected` (the model's parameter names) once `convert`ed to ldm names. Refused as a file without VAE
    /// tensors when no prefix does (saying what each one lacks), or when several do.
    static func unwrap(_ tensors: [String: SafeTensors.Entry], path: String, expected: Set<String>?, modelDescription: String,
                       convert: ([String: SafeTensors.Entry]) throws -> LDMTensors) throws -> LDMTensors {
        var groups: [String: [String: SafeTensors.Entry]] = [:]
        for (name, entry) in tensors {
            if let (prefix, key) = split(name) { groups[prefix, default: [:]][key] = entry }
        }
        guard let expected, !groups.isEmpty else { throw noVAETensors(path: path, names: Array(tensors.keys)) }
        var complete: [LDMTensors] = [], shortfalls: [String] = []
        for prefix in groups.keys.sorted() {
            let shown = printable(prefix)
            let converted: LDMTensors
            do {
                converted = try convert(groups[prefix]!)
            } catch {
                shortfalls.append("under \(shown): \(error)")
                continue
            }
            let missing = expected.subtracting(converted.tensors.keys).sorted()
            guard missing.isEmpty else {
                let examples = missing.prefix(3).joined(separator: ", ") + (missing.count > 3 ? ", …" : "")
                shortfalls.append("under \(shown) \(missing.count) of its \(expected.count) tensors are missing (\(examples))")
                continue
            }
            var found = converted
            found.strippedPrefix = prefix
            complete.append(found)
        }
        if complete.count == 1 { return complete[0] }
        if complete.count > 1 {
            let prefixes = complete.compactMap(\.strippedPrefix).prefix(5).map(printable).joined(separator: ", ")
            throw VAEDistError("\(path): holds a complete VAE under each of the prefixes \(prefixes); vae-dist cannot tell "
                            + "which one is meant: save that one's state dict alone")
        }
        let shownShortfalls = shortfalls.prefix(3).joined(separator: "; ") + (shortfalls.count > 3 ? "; … (\(shortfalls.count) prefixes)" : "")
        throw noVAETensors(path: path, names: Array(tensors.keys),
                           note: "behind a wrapper prefix they are no complete VAE for the model (\(modelDescription)), so none "
                               + "was stripped: \(shownShortfalls)")
    }
}
