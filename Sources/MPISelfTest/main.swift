import Distributed
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Line-buffered so a test reading the pipe sees "ready" as soon as it is printed.
setvbuf(stdout, nil, _IOLBF, 0)

let usage = "usage: mpi-selftest [collectives | wait-for-signal | abort | signal-twice]"
switch CommandLine.arguments.dropFirst().first ?? "collectives" {
case "collectives": runCollectiveChecks()
case "wait-for-signal": runSignalWait()
case "abort": runAbort()
case "signal-twice": runSignalTwice()
default:
    fputs(usage + "\n", stderr)
    exit(2)
}
