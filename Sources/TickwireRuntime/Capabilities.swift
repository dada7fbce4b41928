import TickwireSystem

/// The Linux capabilities the daemon uses, with their bit numbers (linux/capability.h).
public enum Capability: Int, CaseIterable, Sendable, CustomStringConvertible {
    case netAdmin = 12
    case netRaw = 13
    case ipcLock = 14
    case sysNice = 23
    case bpf = 39

    public var description: String {
        switch self {
        case .netAdmin: "CAP_NET_ADMIN"
        case .netRaw: "CAP_NET_RAW"
        case .ipcLock: "CAP_IPC_LOCK"
        case .sysNice: "CAP_SYS_NICE"
        case .bpf: "CAP_BPF"
        }
    }

    /// What Tickwire does with it, for the doctor's report.
    public var purpose: String {
        switch self {
        case .netAdmin: "XDP attach, SO_*BUFFORCE"
        case .netRaw: "AF_XDP sockets"
        case .ipcLock: "mlockall beyond the memlock limit"
        case .sysNice: "SCHED_FIFO stages"
        case .bpf: "loading XDP programs"
        }
    }
}

/// A capability set as /proc/PID/status prints it (CapEff, CapPrm, …: 64-bit hex).
public struct CapabilitySet: Equatable, Sendable {
    public let bits: UInt64

    public init(bits: UInt64) { self.bits = bits }

    /// The `CapEff:` line of a /proc/PID/status text; nil when absent or not hex.
    public init?(effectiveFromStatus status: String) {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let bits = UInt64(line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }, radix: 16)
        else { return nil }
        self.bits = bits
    }

    public func contains(_ capability: Capability) -> Bool { bits >> UInt64(capability.rawValue) & 1 == 1 }

    /// The effective capabilities of this process (its main thread's, as /proc/self/status reports).
    public static func current() -> CapabilitySet? {
        readSmallFile("/proc/self/status").flatMap(CapabilitySet.init(effectiveFromStatus:))
    }
}
