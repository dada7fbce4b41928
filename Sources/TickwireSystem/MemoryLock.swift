import CTickwire

#if canImport(Glibc)
import Glibc
#endif

/// `mlockall(MCL_CURRENT | MCL_FUTURE)`: keeps the process's pages resident so the
/// hot path never takes a major fault.
public enum MemoryLock {
    public static func lockAll() throws(SystemError) {
        try syscall("mlockall") { ctw_mlockall_current_future() }
    }

    public static func unlockAll() throws(SystemError) {
        try syscall("munlockall") { ctw_munlockall() }
    }

    /// What an operator should do when `lockAll` fails with `error`.
    public static func remedy(for error: SystemError) -> String {
        switch error.errno {
        case EPERM:
            return "the process may not lock memory: grant CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK) or raise the limit (LimitMEMLOCK=infinity, ulimit -l unlimited)"
        case ENOMEM:
            return "the locked-memory limit is too small for the process: set LimitMEMLOCK=infinity in the unit or run 'ulimit -l unlimited', or grant CAP_IPC_LOCK"
        default:
            return "see mlockall(2)"
        }
    }
}
