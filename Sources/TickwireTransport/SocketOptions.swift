import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// A socket's send or receive buffer: the option that sets it, the privileged option that
/// ignores the ceiling, and the sysctl that is the ceiling (global: only the root network
/// namespace can change it).
public enum SocketBufferKind: Sendable {
    case send, receive

    public var optionName: String { self == .send ? "SO_SNDBUF" : "SO_RCVBUF" }
    public var ceilingSysctl: String { self == .send ? "net.core.wmem_max" : "net.core.rmem_max" }

    var option: Int32 { self == .send ? SO_SNDBUF : SO_RCVBUF }
    var forceOption: Int32 { self == .send ? SO_SNDBUFFORCE : SO_RCVBUFFORCE }
    var setFunction: StaticString { self == .send ? "setsockopt(SO_SNDBUF)" : "setsockopt(SO_RCVBUF)" }
    var forceFunction: StaticString { self == .send ? "setsockopt(SO_SNDBUFFORCE)" : "setsockopt(SO_RCVBUFFORCE)" }
    var readFunction: StaticString { self == .send ? "getsockopt(SO_SNDBUF)" : "getsockopt(SO_RCVBUF)" }
    var ceilingPath: String { self == .send ? "/proc/sys/net/core/wmem_max" : "/proc/sys/net/core/rmem_max" }
}

/// What the kernel gave for a socket buffer, read back after setting it.
public struct SocketBufferReport: Equatable, Sendable, CustomStringConvertible {
    public var kind: SocketBufferKind
    public var requested: Int
    /// getsockopt: the kernel doubles what it grants (bookkeeping overhead), so an uncapped
    /// request reads back as 2 × `requested`.
    public var obtained: Int
    /// The FORCE option worked (root / CAP_NET_ADMIN): the sysctl ceiling did not apply.
    public var forced: Bool
    /// The sysctl ceiling when it capped the request, else nil.
    public var cappedAt: Int?

    public init(kind: SocketBufferKind, requested: Int, obtained: Int, forced: Bool, cappedAt: Int?) {
        self.kind = kind
        self.requested = requested
        self.obtained = obtained
        self.forced = forced
        self.cappedAt = cappedAt
    }

    /// The one-line warning with its remedy when the kernel capped the request.
    public var warning: String? {
        guard let cappedAt else { return nil }
        return "\(kind.optionName): asked for \(formatBytes(requested)), the kernel capped it at \(kind.ceilingSysctl) = \(cappedAt)"
            + " (read back \(obtained)); remedy: sysctl -w \(kind.ceilingSysctl)=\(requested) (global, set from the root"
            + " network namespace) or run with CAP_NET_ADMIN for \(kind.optionName)FORCE"
    }

    public var description: String {
        "\(kind.optionName) \(formatBytes(obtained / 2))\(forced ? " (forced)" : "")" + (warning.map { " — \($0)" } ?? "")
    }
}

/// Sets `fd`'s `kind` buffer to `bytes`: with `force`, the FORCE option first (ignores the
/// sysctl ceiling; EPERM without CAP_NET_ADMIN falls back quietly), else the plain option;
/// then reads back what the kernel granted.
public func configureSocketBuffer(_ fd: Int32, _ kind: SocketBufferKind, bytes: Int, force: Bool) throws(SystemError) -> SocketBufferReport {
    let requested = Int32(clamping: bytes)
    var forced = false
    if force {
        do throws(SystemError) {
            try setOption(fd, SOL_SOCKET, kind.forceOption, requested, kind.forceFunction)
            forced = true
        } catch where error.errno == EPERM {
            // Not privileged: the capped plain option below is the fallback.
        }
    }
    if !forced { try setOption(fd, SOL_SOCKET, kind.option, requested, kind.setFunction) }
    var obtained: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    try syscall(kind.readFunction) { getsockopt(fd, SOL_SOCKET, kind.option, &obtained, &length) }
    let capped = Int(obtained) / 2 < Int(requested)
    let ceiling = readSmallFile(kind.ceilingPath).flatMap { Int($0.filter { !$0.isWhitespace }) }
    return SocketBufferReport(kind: kind, requested: Int(requested), obtained: Int(obtained), forced: forced,
                              cappedAt: capped ? ceiling ?? Int(obtained) / 2 : nil)
}

/// setsockopt with an int value; a failure is a `SystemError` named `function`.
func setOption(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32, _ function: StaticString) throws(SystemError) {
    var value = value
    try syscall(function) { setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) }
}

/// if_nametoindex; an unknown name is `SystemError("if_nametoindex", ENODEV)`.
func interfaceIndex(_ name: String) throws(SystemError) -> UInt32 {
    let index = if_nametoindex(name)
    if index == 0 { throw SystemError("if_nametoindex", errno: ctw_errno()) }
    return index
}

/// "8 MiB", "212992 B": sizes as people read them in logs.
public func formatBytes(_ bytes: Int) -> String {
    if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
    if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
    return "\(bytes) B"
}
