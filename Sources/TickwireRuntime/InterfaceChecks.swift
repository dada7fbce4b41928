import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// The checks of one network interface: its NUMA node, XDP support, queues and hardware timestamping.
public enum InterfaceChecks {
    /// `interface`'s checks, or the default route's interface's when nil. An interface that
    /// does not exist is a fail (the operator named it); no default route is a warn.
    public static func all(interface: String?) -> [HostCheck] {
        guard let name = interface ?? readSmallFile("/proc/net/route").flatMap(defaultRouteInterface(procNetRoute:)) else {
            return [.warn("interface", "no IPv4 default route to pick the interface from", remedy: "name it: tickwire doctor --iface NAME")]
        }
        guard if_nametoindex(name) != 0 else {
            return [.fail("interface", "\(name): no such interface here", remedy: "list them with `ip link` and pass --iface NAME")]
        }
        let driver = driverName(name).map { " (\($0))" } ?? ""
        return [
            .pass("interface", name + driver + (interface == nil ? ", the default route's" : "")),
            numaNode(interface: name), xdpSupport(interface: name), queues(interface: name), hardwareTimestamping(interface: name),
        ]
    }

    /// The node sysfs gives the interface's device (-1: the firmware does not say); nil for a
    /// virtual device. A virtio NIC's device is the virtio device; its PCI parent carries the node.
    public static func deviceNumaNode(interface: String) -> Int? {
        let device = "/sys/class/net/\(interface)/device"
        guard let text = readSmallFile(device + "/numa_node") ?? readSmallFile(device + "/../numa_node") else { return nil }
        return Int(text.filter { !$0.isWhitespace })
    }

    /// The NIC's NUMA node (sysfs), and whether this process's cores are on it.
    public static func numaNode(interface: String) -> HostCheck {
        let name = "nic numa node"
        guard let node = deviceNumaNode(interface: interface) else {
            return .pass(name, "\(interface) has no NUMA node (a virtual device)")
        }
        if node < 0 { return .pass(name, "\(interface): no node reported (a single-node host, or the firmware does not say)") }
        guard let nodeCPUs = readSmallFile("/sys/devices/system/node/node\(node)/cpulist").flatMap(parseCPUList),
              let mine = try? CPUSet.currentThread()
        else { return .pass(name, "\(interface) on node \(node)") }
        let elsewhere = mine.cpus.subtracting(nodeCPUs)
        if elsewhere.isEmpty { return .pass(name, "\(interface) on node \(node), like every core this process may use") }
        return .warn(name, "\(interface) on node \(node); cores \(CPUSet(elsewhere)) of this process are on another node",
                     remedy: "pin the stages to node \(node)'s cores (\(CPUSet(nodeCPUs))) so packets and books stay on the NIC's node")
    }

    /// Native (driver) XDP and AF_XDP zero-copy, from the kernel's xdp-features.
    public static func xdpSupport(interface: String) -> HostCheck {
        let name = "xdp"
        let features: XdpFeatures
        do throws(SystemError) {
            features = try XdpFeatures.query(interface: interface)
        } catch where error.errno == ENOENT {
            return .warn(name, "unknown: this kernel has no netdev netlink family (xdp-features came in 6.3)",
                         remedy: "`tickwire run --sender xdp` reports the mode it gets; kernel 6.3 or later lets doctor tell in advance")
        } catch {
            return .warn(name, "\(error)", remedy: "see the kernel log; `ip link show \(interface)`")
        }
        return xdpCheck(interface: interface, features: features)
    }

    static func xdpCheck(interface: String, features: XdpFeatures) -> HostCheck {
        let name = "xdp"
        let found = "\(interface): features \(features)"
        if !features.supportsNativeMode {
            return .warn(name, found + ": generic (skb) mode only",
                         remedy: "the xdp sender still works in generic mode, slower; a NIC whose driver has native XDP (or --sender standard) is the fix")
        }
        if !features.supportsZeroCopy {
            return .warn(name, found + ": native (driver) mode, zero-copy no: AF_XDP copies every frame",
                         remedy: "zero-copy needs a driver with AF_XDP zero-copy (e.g. ice, i40e, mlx5, virtio_net); copy mode works meanwhile")
        }
        return .pass(name, found + ": native (driver) mode, zero-copy yes")
    }

    /// The NIC's queues: ETHTOOL_GCHANNELS, or the sysfs queue directories when the driver
    /// does not report channels.
    public static func queues(interface: String) -> HostCheck {
        if let channels = try? NetworkChannels.query(interface: interface) { return .pass("queues", "\(interface): \(channels)") }
        let entries = directoryEntries("/sys/class/net/\(interface)/queues")
        let receive = entries.filter { $0.hasPrefix("rx-") }.count
        let transmit = entries.filter { $0.hasPrefix("tx-") }.count
        return .pass("queues", "\(interface): \(receive) rx, \(transmit) tx (sysfs)")
    }

    /// Hardware timestamps (ETHTOOL_GET_TS_INFO, SIOCGHWTSTAMP): without them receive and
    /// publish times are the kernel's software stamps.
    public static func hardwareTimestamping(interface: String) -> HostCheck {
        let name = "hardware timestamps"
        let support: TimestampingSupport
        do throws(SystemError) {
            support = try TimestampingSupport.query(interface: interface)
        } catch {
            return .warn(name, "\(interface): \(error)", remedy: "software timestamps (SO_TIMESTAMPING) are used; a NIC with a PTP clock gives hardware ones")
        }
        let configured: String
        switch TimestampingSupport.currentHardwareConfiguration(interface: interface) {
        case .success(let config): configured = "SIOCGHWTSTAMP tx_type \(config.transmitType), rx_filter \(config.receiveFilter)"
        case .failure(let error): configured = "SIOCGHWTSTAMP: \(error.reason)"
        }
        let found = "\(interface): \(support); \(configured)"
        if support.hasHardwareTimestamps { return .pass(name, found) }
        return .warn(name, found + ": software timestamps only",
                     remedy: "receive and publish times come from the kernel (µs jitter); for hardware times use a NIC with a PTP clock (`ethtool -T` lists hardware-transmit/receive)")
    }

    private static func driverName(_ interface: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = readlink("/sys/class/net/\(interface)/device/driver", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: "/").last.map(String.init)
    }

    private static func directoryEntries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }
}
