import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify(3) protocol without libsystemd: newline-separated `KEY=value` states sent as
/// one datagram to the AF_UNIX socket systemd names in `$NOTIFY_SOCKET` (a path, or `@name`
/// for the abstract namespace). Without `$NOTIFY_SOCKET` (not started by systemd, or a unit
/// that is not `Type=notify`) every call is a no-op, so the daemon calls it unconditionally.
///
/// Thread-safe: each state is one `sendto` on a socket no one else reads.
public final class SystemdNotifier: Sendable {
    /// Where the states go; nil when the process was not asked to notify.
    public let socketAddress: String?
    /// How often systemd expects `WATCHDOG=1` (`$WATCHDOG_USEC`); nil when the unit has no
    /// `WatchdogSec=` or the setting is meant for another process (`$WATCHDOG_PID`).
    public let watchdogInterval: Duration?
    private let descriptor: Int32

    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` from the process.
    public convenience init() throws(SystemError) {
        var environment: [String: String] = [:]
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        try self.init(environment: environment, processID: getpid())
    }

    /// `environment` holds the variables systemd sets; `processID` is compared with
    /// `WATCHDOG_PID` (the watchdog applies only to the process systemd named, as in
    /// sd_watchdog_enabled(3)).
    public init(environment: [String: String], processID: pid_t) throws(SystemError) {
        let address = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketAddress = address
        watchdogInterval = Self.watchdogInterval(environment: environment, processID: processID)
        descriptor = address == nil ? -1 : try syscall("socket(AF_UNIX)") { ctw_unix_datagram_socket() }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Whether states are actually sent (the process runs under a `Type=notify` unit).
    public var isEnabled: Bool { socketAddress != nil }

    /// Sends `states` (e.g. `"READY=1\nSTATUS=books valid"`) as one datagram.
    public func send(_ states: String) throws(SystemError) {
        guard let socketAddress else { return }
        var message = states
        // withUTF8 only rethrows untyped errors: carry the typed one out in a Result.
        let sent = message.withUTF8 { bytes in
            Result { () throws(SystemError) in
                try syscall("sendto(NOTIFY_SOCKET)") {
                    ctw_unix_datagram_send(descriptor, socketAddress, bytes.baseAddress, bytes.count)
                }
            }
        }
        _ = try sent.get()
    }

    /// Start-up is complete; with `status`, also the text `systemctl status` shows.
    public func ready(status: String? = nil) throws(SystemError) {
        try send(status.map { "READY=1\nSTATUS=\($0)" } ?? "READY=1")
    }

    /// The free-form line `systemctl status` shows.
    public func status(_ text: String) throws(SystemError) {
        try send("STATUS=\(text)")
    }

    /// "Still alive": resets systemd's watchdog timer.
    public func watchdog() throws(SystemError) {
        try send("WATCHDOG=1")
    }

    /// Shutdown has begun (systemd then stops expecting watchdog pings).
    public func stopping() throws(SystemError) {
        try send("STOPPING=1")
    }

    /// A reload (SIGHUP) has begun; send `ready()` when it is done. MONOTONIC_USEC is the
    /// CLOCK_MONOTONIC time the reload started, which systemd ≥ 253 uses to match READY=1 to it.
    public func reloading() throws(SystemError) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        try send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// Removes the variables from the process environment, so child processes (e.g. the
    /// demo's simulator) cannot speak for the service (sd_notify's `unset_environment`).
    public static func unsetEnvironment() {
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { unsetenv(name) }
    }

    static func watchdogInterval(environment: [String: String], processID: pid_t) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0,
              microseconds <= UInt64(Int64.max) else { return nil }
        if let pidText = environment["WATCHDOG_PID"], pid_t(pidText) != processID { return nil }
        return .microseconds(Int64(microseconds))
    }
}
