import Foundation
import PackagePlugin

/// Names the git commit vae-dist is built from (`vae-dist --version`, the provenance records): runs
/// scripts/build-info.sh before every build, which writes BuildCommit.swift into this plugin's work folder only when
/// the commit (or whether the sources differ from it) changed. Run at every build, never stale; rewritten only on a
/// change, so an unchanged checkout recompiles nothing. Outside a git checkout, or without git, the commit is "unknown".
@main
struct BuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        let package = context.package.directoryURL
        return [.prebuildCommand(displayName: "vae-dist: the git commit of this build",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: [package.appendingPathComponent("scripts/build-info.sh").path, package.path,
                                             output.appendingPathComponent("BuildCommit.swift").path],
                                 outputFilesDirectory: output)]
    }
}
