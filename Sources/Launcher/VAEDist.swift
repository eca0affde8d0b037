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
        // Before anything loads work onto OpenBLAS: may restart this process on better kernels (BLASCore).
        BLASCore.ensureCoreMatchesCPU()
        MemoryPolicy.keepFreedMemory()
        main(nil)
    }
}
