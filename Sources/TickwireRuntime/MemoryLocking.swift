import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

extension MainConfig.MemoryLocking {
    /// Locks the process's memory as configured and says what it got. With a finite
    /// locked-memory limit and no CAP_IPC_LOCK, `mlockall(MCL_FUTURE)` would "succeed" and
    /// then make every allocation past the limit fail, so that case is refused up front.
    /// - Returns: the log line; throws the line (with its remedy) when `required` cannot be met.
    public func apply() throws(HostTuningError) -> String {
        guard self != .off else { return "mlockall: off (host.mlockall = \"off\")" }
        var soft: UInt64 = 0, hard: UInt64 = 0
        let limitKnown = ctw_host_memlock_limit(&soft, &hard) == 0
        if limitKnown, soft != .max, CapabilitySet.current()?.contains(.ipcLock) != true {
            let why = "mlockall: not attempted: the locked-memory limit is \(soft / 1024) KiB without CAP_IPC_LOCK, "
                + "so every allocation past it would fail (remedy: LimitMEMLOCK=infinity in the unit, ulimit -l unlimited, or CAP_IPC_LOCK)"
            if self == .required { throw HostTuningError(description: why) }
            return "WARNING: " + why
        }
        do throws(SystemError) {
            try MemoryLock.lockAll()
            return "mlockall: every page locked (MCL_CURRENT|MCL_FUTURE)"
        } catch {
            let why = "mlockall: \(error) (remedy: \(MemoryLock.remedy(for: error)))"
            if self == .required { throw HostTuningError(description: why) }
            return "WARNING: " + why
        }
    }
}

/// A host setting the configuration requires could not be had; `description` says why and how to fix it.
public struct HostTuningError: Error, CustomStringConvertible {
    public var description: String
}
