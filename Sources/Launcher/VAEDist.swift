import ArgumentParser
import VAECore

@main
struct VAEDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-dist",
        abstract: "Train Stable-Diffusion-layout VAEs on CPU clusters with MPI and analyse their decoder layer by layer.",
        version: BuildInfo.versionLine,
        subcommands: [Train.self, Analyze.self, AnalyzeFolder.self, Reconstruct.self, Export.self, SynthData.self, MakePairs.self, Bench.self])

    static func main() {
        // Before anything loads work onto OpenBLAS: may restart this process on better kernels (BLASCore). Arguments
        // are parsed later, so --quiet (only warnings, errors and results) is looked for among them as they are.
        BLASCore.ensureCoreMatchesCPU(quiet: CommandLine.arguments.dropFirst().contains("--quiet"))
        MemoryPolicy.keepFreedMemory()
        main(nil)
    }
}
