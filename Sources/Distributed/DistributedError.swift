import CMPI

/// A failed MPI call or a misuse of this module, with a message meant for the user.
public struct DistributedError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// MPI's error code when an MPI call failed; nil for misuse detected before calling MPI.
    public let mpiCode: Int32?

    public init(_ message: String, mpiCode: Int32? = nil) {
        description = message
        self.mpiCode = mpiCode
    }
}

/// Throws unless an MPI call returned MPI_SUCCESS. MPI_COMM_WORLD is set to MPI_ERRORS_RETURN,
/// so failures arrive here instead of aborting the job without naming the call.
@inline(__always)
func check(_ code: Int32, _ call: @autoclosure () -> String) throws {
    guard code != vd_success() else { return }
    throw DistributedError("\(call()) failed: \(mpiErrorString(code)) (MPI error \(code))", mpiCode: code)
}

func mpiErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(vd_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &buffer, &length) == vd_success() else { return "unknown MPI error" }
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
