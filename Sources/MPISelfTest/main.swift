import Distributed
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

let usage = "usage: mpi-selftest [collectives | wait-for-signal | abort | signal-twice]"
switch CommandLine.arguments.dropFirst().first ?? "collectives" {
case "collectives": runCollectiveChecks()
case "wait-for-signal": runSignalWait()
case "abort": runAbort()
case "signal-twice": runSignalTwice()
default:
    printError(usage)
    exit(2)
}

/// One line on stderr (unbuffered, straight to the descriptor).
func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
