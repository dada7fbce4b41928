import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// A driver's XDP features as the kernel's netdev generic-netlink family reports them
/// (`xdp-features`, kernel 6.3+) — the same bits `ip link`/`ynl` show.
///
/// Asking the kernel is chosen over attaching a probe program in driver mode: it changes
/// nothing on the interface (attaching XDP makes some drivers reset their rings, dropping
/// live traffic), needs no privileges and no BPF object. libbpf 1.1 here has no
/// `feature_flags` in `bpf_xdp_query` yet; it reads the same netlink attribute.
public struct XdpFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let basic = XdpFeatures(rawValue: UInt64(CTW_XDP_ACT_BASIC))
    public static let redirect = XdpFeatures(rawValue: UInt64(CTW_XDP_ACT_REDIRECT))
    public static let transmitTarget = XdpFeatures(rawValue: UInt64(CTW_XDP_ACT_NDO_XMIT))
    public static let zeroCopy = XdpFeatures(rawValue: UInt64(CTW_XDP_ACT_XSK_ZEROCOPY))
    public static let hardwareOffload = XdpFeatures(rawValue: UInt64(CTW_XDP_ACT_HW_OFFLOAD))
    public static let receiveScatterGather = XdpFeatures(rawValue: UInt64(CTW_XDP_ACT_RX_SG))
    public static let transmitTargetScatterGather = XdpFeatures(rawValue: UInt64(CTW_XDP_ACT_NDO_XMIT_SG))

    /// The driver runs XDP programs itself (driver mode), with the redirect AF_XDP needs;
    /// without it only generic (skb) mode is left, which works on any interface but later and slower.
    public var supportsNativeMode: Bool { contains([.basic, .redirect]) }
    /// AF_XDP sockets can bind in zero-copy mode (no copy between driver and UMEM).
    public var supportsZeroCopy: Bool { contains(.zeroCopy) }

    /// The kernel's names for the bits set, e.g. "basic redirect rx-sg".
    public var description: String {
        let names: [(XdpFeatures, String)] = [
            (.basic, "basic"), (.redirect, "redirect"), (.transmitTarget, "ndo-xmit"), (.zeroCopy, "xsk-zerocopy"),
            (.hardwareOffload, "hw-offload"), (.receiveScatterGather, "rx-sg"), (.transmitTargetScatterGather, "ndo-xmit-sg"),
        ]
        let set = names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "none" : set.joined(separator: " ")
    }

    /// The features of `interface` in the calling thread's network namespace. ENOENT: the
    /// kernel has no netdev family (before 6.3); ENODEV: no such interface.
    public static func query(interface: String) throws(SystemError) -> XdpFeatures {
        let index = if_nametoindex(interface)
        if index == 0 { throw SystemError("if_nametoindex", errno: ctw_errno()) }
        var bits: UInt64 = 0
        try syscall("netlink(netdev dev-get)") { ctw_host_xdp_features(index, &bits) }
        return XdpFeatures(rawValue: bits)
    }
}

/// The NIC's queue counts (ETHTOOL_GCHANNELS), current and maximum.
public struct NetworkChannels: Equatable, Sendable, CustomStringConvertible {
    public var receive, transmit, combined: Int
    public var maxReceive, maxTransmit, maxCombined: Int

    public static func query(interface: String) throws(SystemError) -> NetworkChannels {
        var channels = ctw_host_channels()
        try syscall("ioctl(ETHTOOL_GCHANNELS)") { ctw_host_ethtool_channels(interface, &channels) }
        return NetworkChannels(receive: Int(channels.rx), transmit: Int(channels.tx), combined: Int(channels.combined),
                               maxReceive: Int(channels.max_rx), maxTransmit: Int(channels.max_tx), maxCombined: Int(channels.max_combined))
    }

    public var description: String {
        var parts: [String] = []
        if combined > 0 || maxCombined > 0 { parts.append("combined \(combined) of \(maxCombined)") }
        if receive > 0 || maxReceive > 0 { parts.append("rx \(receive) of \(maxReceive)") }
        if transmit > 0 || maxTransmit > 0 { parts.append("tx \(transmit) of \(maxTransmit)") }
        return parts.isEmpty ? "no channels reported" : parts.joined(separator: ", ")
    }
}

/// What timestamps the NIC and its driver can take (ETHTOOL_GET_TS_INFO, as `ethtool -T`).
public struct TimestampingSupport: Equatable, Sendable, CustomStringConvertible {
    public var hardwareTransmit, hardwareReceive: Bool
    public var softwareTransmit, softwareReceive: Bool
    /// N of /dev/ptpN, the NIC's hardware clock; nil without one.
    public var hardwareClock: Int?

    public var hasHardwareTimestamps: Bool { hardwareTransmit && hardwareReceive && hardwareClock != nil }

    public static func query(interface: String) throws(SystemError) -> TimestampingSupport {
        var info = ctw_host_timestamp_info()
        try syscall("ioctl(ETHTOOL_GET_TS_INFO)") { ctw_host_ethtool_timestamp_info(interface, &info) }
        return TimestampingSupport(hardwareTransmit: info.hardware_transmit, hardwareReceive: info.hardware_receive,
                                   softwareTransmit: info.software_transmit, softwareReceive: info.software_receive,
                                   hardwareClock: info.phc_index >= 0 ? Int(info.phc_index) : nil)
    }

    public var description: String {
        let kinds = [(hardwareTransmit, "hardware-transmit"), (hardwareReceive, "hardware-receive"),
                     (softwareTransmit, "software-transmit"), (softwareReceive, "software-receive")]
            .filter(\.0).map(\.1)
        return (kinds.isEmpty ? "none" : kinds.joined(separator: " ")) + (hardwareClock.map { ", PTP clock /dev/ptp\($0)" } ?? ", no PTP clock")
    }

    /// SIOCGHWTSTAMP: whether hardware timestamping is configured on the interface now; the
    /// error (EOPNOTSUPP on NICs without it) otherwise.
    public static func currentHardwareConfiguration(interface: String) -> Result<(transmitType: Int32, receiveFilter: Int32), SystemError> {
        var transmitType: Int32 = 0
        var receiveFilter: Int32 = 0
        do throws(SystemError) {
            try syscall("ioctl(SIOCGHWTSTAMP)") { ctw_host_hardware_timestamp_config(interface, &transmitType, &receiveFilter) }
            return .success((transmitType, receiveFilter))
        } catch {
            return .failure(error)
        }
    }
}

/// The interface of the IPv4 default route in a /proc/net/route text (destination and mask
/// 0); nil without one.
public func defaultRouteInterface(procNetRoute text: String) -> String? {
    for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 8 else { continue }
        if fields[1] == "00000000", fields[7] == "00000000" { return String(fields[0]) }
    }
    return nil
}
