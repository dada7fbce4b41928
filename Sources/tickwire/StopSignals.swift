#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM: the running command's loop ends and it exits cleanly (the one
/// flag every long-running command polls; a process runs one command).
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// SIGINT and SIGTERM ask the loop to stop; SIGPIPE is ignored (a closed peer is an error
/// return, not a death).
func installStopSignals() {
    signal(SIGPIPE, SIG_IGN)
    signal(SIGINT) { _ in stopRequested = 1 }
    signal(SIGTERM) { _ in stopRequested = 1 }
}
