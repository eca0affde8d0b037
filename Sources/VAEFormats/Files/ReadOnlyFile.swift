import Foundation
import VAECore

/// A regular file opened for reads at given offsets, so that a caller can read a header and then only the
/// byte ranges it wants; every error names the file and the reason.
final class ReadOnlyFile {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws {
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw VAEDistError("\(path): cannot read the file: \(String(cString: strerror(errno)))") }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw VAEDistError("\(path): cannot read the file: not a regular file")
        }
        self.path = path
        self.size = Int(status.st_size)
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Exactly the bytes in `range` (which must lie within the size seen when opening).
    func read(_ range: Range<Int>) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: range.count) { buffer, initialized in
            while initialized < range.count {
                let n = pread(descriptor, buffer.baseAddress! + initialized, range.count - initialized, off_t(range.lowerBound + initialized))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let reason = n == 0 ? "the file became shorter while being read" : String(cString: strerror(errno))
                    throw VAEDistError("\(path): cannot read bytes \(range.lowerBound)..<\(range.upperBound): \(reason)")
                }
                initialized += n
            }
        }
    }
}
