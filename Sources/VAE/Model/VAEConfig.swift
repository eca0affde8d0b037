// Placeholder-free minimal definition until the yaml-loading version lands from branch `naming`
public struct VAEConfig: Equatable, Codable, Sendable {
    public var ch: Int = 128
    public var chMult: [Int] = [1, 2, 4, 4]
    public var numResBlocks: Int = 2
    public var attnResolutions: [Int] = []
    public var zChannels: Int = 4
    public var embedDim: Int = 4
    public var inChannels: Int = 3
    public var outCh: Int = 3
    public var resolution: Int = 256
    public var doubleZ: Bool = true
    public var normNumGroups: Int = 32
    public static let sdV1 = VAEConfig()
}
