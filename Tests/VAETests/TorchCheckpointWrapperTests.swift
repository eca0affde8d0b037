import Foundation
@testable import VAECore
@testable import VAEFormats
import XCTest

/// State dicts as training code saves them (issue #21): behind DataParallel's `module.`, torch.compile's
/// `_orig_mod.` or a wrapper's attribute, under `model`, and Lightning checkpoints whose hyper_parameters are an
/// omegaconf DictConfig. Every file is a pickle built here (`CraftedPickle`) around the tiny fixture's weights.
final class TorchCheckpointWrapperTests: TemporaryDirectoryTestCase {
    let tinyYAML = Fixtures.path("vae-tiny-g8/config.yaml")
    var ldm: SafeTensors { get throws { try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors")) } }
    var diffusers: SafeTensors { get throws { try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.diffusers.safetensors")) } }

    func write(_ root: CraftedPickle.Value, _ name: String) throws -> String {
        let path = "\(dir!)/\(name)"
        try Data(CraftedPickle(root).archive()).write(to: URL(fileURLWithPath: path))
        return path
    }

    func parameters(_ model: AutoencoderKL) -> [String: [UInt32]] {
        Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter.value.array.map(\.bitPattern)) })
    }

    /// Loads `path` as every command does; returns the parameters and the line saying what was loaded.
    func load(_ path: String, config: String? = nil) throws -> ([String: [UInt32]], String) {
        let source = try ModelSource(checkpoint: path, config: config ?? tinyYAML)
        let model = AutoencoderKL(source.config)
        let line = try source.loadWeights(into: model)
        return (parameters(model), line)
    }

    func assertRefused(_ path: String, config: String? = nil, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(path, config: config), file: file, line: line) { error in
            for part in [path] + parts {
                XCTAssertTrue("\(error)".contains(part), "'\(error)' should mention '\(part)'", file: file, line: line)
            }
        }
    }

    /// ldm's hyper-parameters as Lightning saves them from the yaml: a DictConfig holding nested DictConfigs.
    static let hyperParameters = CraftedPickle.dictConfig([
        ("embed_dim", .int(4)), ("monitor", .string("val/rec_loss")),
        ("ddconfig", .dict([("double_z", .bool(true)), ("ch", .int(16)), ("ch_mult", .list([.int(1), .int(2)])), ("dropout", .float(0))])),
        ("lossconfig", .dict([("target", .string("ldm.modules.losses.LPIPSWithDiscriminator")),
                              ("params", .dict([("disc_start", .int(50001)), ("kl_weight", .float(1e-6))]))])),
    ])

    func testWrappedStateDictsLoadTheSameNumbersAsThePlainFile() throws {
        let (plain, _) = try load(Fixtures.path("vae-tiny-g8/weights.ldm.safetensors"))
        let ldm = try ldm, diffusers = try diffusers
        let layouts: [(String, CraftedPickle.Value, expected: String)] = [
            ("ddp.pt", CraftedPickle.stateDict(ldm, prefix: "module."), "ldm names, prefix module. stripped, PyTorch checkpoint, state dict at the top level"),
            ("compiled.pt", CraftedPickle.stateDict(ldm, prefix: "_orig_mod."), "prefix _orig_mod. stripped, PyTorch checkpoint, state dict at the top level"),
            ("compiled-ddp.pt", CraftedPickle.stateDict(ldm, prefix: "_orig_mod.module."),
             "prefix _orig_mod.module. stripped, PyTorch checkpoint, state dict at the top level"),
            ("model.pt", .dict([("model", CraftedPickle.stateDict(ldm)), ("epoch", .int(7))]), "ldm names, PyTorch checkpoint, state dict at model"),
            ("model-ddp.pt", .dict([("model", CraftedPickle.stateDict(ldm, prefix: "module.")), ("optimizer", .dict([]))]),
             "prefix module. stripped, PyTorch checkpoint, state dict at model"),
            ("script.pt", .dict([("model_state_dict", CraftedPickle.stateDict(ldm, prefix: "model."))]),
             "prefix model. stripped, PyTorch checkpoint, state dict at model_state_dict"),
            ("lightning.ckpt", .dict([
                ("epoch", .int(3)), ("global_step", .int(1200)), ("pytorch-lightning_version", .string("2.1.0")),
                ("state_dict", CraftedPickle.stateDict(ldm, prefix: "vae.")), ("hyper_parameters", Self.hyperParameters),
            ]), "ldm names, prefix vae. stripped, PyTorch checkpoint, state dict at state_dict"),
            ("lightning-diffusers.ckpt", .dict([
                ("state_dict", CraftedPickle.stateDict(diffusers, prefix: "autoencoder.")),
                ("hyper_parameters", .dict([("config", Self.hyperParameters), ("lr", .float(1e-4))])),
            ]), "diffusers names, prefix autoencoder. stripped, PyTorch checkpoint, state dict at state_dict"),
        ]
        for (name, root, expected) in layouts {
            let path = try write(root, name)
            let (loaded, line) = try load(path)
            XCTAssertEqual(loaded, plain, name)
            XCTAssertTrue(line.hasPrefix("loaded \(path) (") && line.contains(expected + ");"), "\(name): \(line)")
        }
        // Safetensors files saved from a wrapped model strip the same way.
        var wrapped = SafeTensors()
        for name in ldm.names { wrapped.add("module." + name, shape: ldm[name]!.shape, values: ldm[name]!.values) }
        try wrapped.write(path: "\(dir!)/ddp.safetensors")
        let (loaded, line) = try load("\(dir!)/ddp.safetensors")
        XCTAssertEqual(loaded, plain)
        XCTAssertTrue(line.contains("(ldm names, prefix module. stripped)"), line)
    }

    func testAPrefixIsStrippedOnlyWhenThatLeavesACompleteVAE() throws {
        let ldm = try ldm
        // One tensor short: nothing is stripped, and the file is refused as one without VAE tensors, saying why.
        var short = SafeTensors()
        for name in ldm.names where name != "decoder.conv_out.bias" { short.add(name, shape: ldm[name]!.shape, values: ldm[name]!.values) }
        let incomplete = try write(CraftedPickle.stateDict(short, prefix: "module."), "short.pt")
        assertRefused(incomplete, mentioning: ["no VAE tensors found", "module.decoder", "no complete VAE",
                                               "under module. 1 of its", "decoder.conv_out.bias", "ch 16"])
        // Complete for the tiny model, but not for the SD v1 VAE assumed without --config: refused naming that config.
        let ddp = try write(CraftedPickle.stateDict(ldm, prefix: "module."), "ddp.pt")
        assertRefused(ddp, config: Fixtures.path("model-source/sd-v1/config.json"), mentioning: ["no complete VAE", "ch 128"])
        // A text model's `model.encoder.…` is no VAE behind `model.`.
        let text = try write(.dict([("state_dict", .dict([
            ("model.encoder.layer.0.attention.self.query.weight", .tensor(shape: [2, 2], values: [1, 2, 3, 4])),
            ("model.embeddings.word_embeddings.weight", .tensor(shape: [2], values: [1, 2])),
        ]))]), "text.ckpt")
        assertRefused(text, mentioning: ["no VAE tensors found", "under model."])
        // Only prefixes of wrappers are stripped: an unknown one still is no VAE.
        let other = try write(CraftedPickle.stateDict(ldm, prefix: "generator."), "other.pt")
        assertRefused(other, mentioning: ["no VAE tensors found", "generator.decoder"])
        // Two complete copies: which one is meant cannot be told.
        guard case .dict(let student) = CraftedPickle.stateDict(ldm, prefix: "model."),
              case .dict(let teacher) = CraftedPickle.stateDict(ldm, prefix: "vae.") else { return XCTFail() }
        let two = try write(.dict(student + teacher), "two.pt")
        assertRefused(two, mentioning: ["complete VAE under each of the prefixes model., vae."])
    }

    /// Mutations of a Lightning pickle with a DictConfig beside wrapped weights (the paths this reader added: opaque
    /// data, the state-dict check, prefix stripping) are read or refused, never a crash or a hang.
    func testMutatedWrappedLightningPicklesAreAcceptedOrRefusedWithoutCrashing() throws {
        var small = SafeTensors()
        small.add("encoder.conv_in.weight", shape: [2, 2], values: [1, 2, 3, 4])
        small.add("quant_conv.bias", shape: [2], values: [5, 6])
        let archive = CraftedPickle(.dict([("state_dict", CraftedPickle.stateDict(small, prefix: "module.vae.")),
                                           ("hyper_parameters", Self.hyperParameters)])).archive()
        let seed = "\(dir!)/seed.ckpt"
        try Data(archive).write(to: URL(fileURLWithPath: seed))
        let zip = try ZipArchive(file: RandomAccessFile(path: seed))
        var files = try zip.entries.values.sorted { $0.name < $1.name }.map { ($0.name, try zip.read($0)) }
        let pickleAt = try XCTUnwrap(files.firstIndex { $0.0.hasSuffix("/data.pkl") })
        let pickle = files[pickleAt].1
        var mutator = FuzzMutator(seed: 21)
        var refused = 0, total = 0
        for _ in 0..<FuzzMutator.iterations(150) {
            files[pickleAt].1 = mutator.mutate(pickle)
            let path = "\(dir!)/mutant.ckpt"
            try Data(StoredZip.archive(files)).write(to: URL(fileURLWithPath: path))
            total += 1
            do {
                let read = try TorchCheckpoint.read(path: path, keep: mayBeVAEKey)
                _ = try? ldmTensors(from: read.tensors, path: path, expected: ["encoder.conv_in.weight", "quant_conv.bias"])
            } catch {
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, total / 4, "most mutated pickles should be refused")
    }

    func testGlobalsInsideTheStateDictAreRefusedAndDataBesideItIsReadAround() throws {
        let ldm = try ldm
        func lightning(_ stateDict: CraftedPickle.Value, beside: [(String, CraftedPickle.Value)] = []) -> CraftedPickle.Value {
            .dict([("state_dict", stateDict), ("hyper_parameters", Self.hyperParameters)] + beside)
        }
        guard case .dict(let weights) = CraftedPickle.stateDict(ldm, prefix: "vae.") else { return XCTFail() }
        // A DictConfig, a numpy scalar or a set are data beside the weights, but not in a state dict.
        for (name, value, global) in [
            ("config", Self.hyperParameters, "omegaconf.dictconfig.DictConfig"),
            ("step", .call("numpy.core.multiarray", "scalar", [.none, .string("x")]), "numpy.core.multiarray.scalar"),
            ("tags", .call("__builtin__", "set", [.list([])]), "__builtin__.set"),
        ] as [(String, CraftedPickle.Value, String)] {
            let path = try write(lightning(.dict(weights + [("vae.\(name)", value)])), "\(name).ckpt")
            assertRefused(path, mentioning: ["the state dict (at state_dict) holds a value built by \(global)",
                                             "[\"vae.\(name)\"]", "not a tensor"])
        }
        // A global outside every allow-list is refused wherever it is, also beside the weights.
        for (module, name) in [("posix", "system"), ("builtins", "eval"), ("typing", "get_type_hints")] {
            let inside = try write(lightning(.dict(weights + [("vae.x", .call(module, name, [.string("true")]))])), "inside.ckpt")
            assertRefused(inside, mentioning: ["\(module).\(name)", "[\"state_dict\"][\"vae.x\"]", "refused"])
            let beside = try write(lightning(.dict(weights), beside: [("callbacks", .call(module, name, [.string("true")]))]), "beside.ckpt")
            assertRefused(beside, mentioning: ["\(module).\(name)", "[\"callbacks\"]", "refused"])
        }
    }
}
