import VAECore

/// A regular file's whole contents, with `ReadOnlyFile`'s checks (a FIFO or device is refused, every error names
/// the file): what rank 0 reads to send to the other ranks.
public func readRegularFile(_ path: String) throws -> [UInt8] {
    let file = try ReadOnlyFile(path: path)
    return try file.read(0..<file.size)
}
