#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM: the running command's loop ends and it exits cleanly (the one
/// flag every long-running command polls; a process runs one command).
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// SIGINT and SIGTERM ask the loop to stop; SIGPIPE is ignored (a closed peer is an error
/// return, not a death). Both are unblocked too: a parent that blocks them (a test runner)
/// would otherwise leave the process unstoppable but by SIGKILL. Call before starting threads,
/// which inherit the mask.
func installStopSignals() {
    var stops = sigset_t()
    sigemptyset(&stops)
    sigaddset(&stops, SIGINT)
    sigaddset(&stops, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &stops, nil)
    signal(SIGPIPE, SIG_IGN)
    signal(SIGINT) { _ in stopRequested = 1 }
    signal(SIGTERM) { _ in stopRequested = 1 }
}
