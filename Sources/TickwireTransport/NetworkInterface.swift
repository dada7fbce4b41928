import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// A 48-bit Ethernet (MAC) address, the first byte on the wire in the top of `value`.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    /// The six bytes in wire order.
    public init<Bytes: Sequence<UInt8>>(bytes: Bytes) {
        self.init(value: bytes.prefix(6).reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// "aa:bb:cc:dd:ee:ff" (either case); nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":")
        guard parts.count == 6 else { return nil }
        var value: UInt64 = 0
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            value = value << 8 | UInt64(byte)
        }
        self.init(value: value)
    }

    /// The Ethernet address IPv4 multicast `group` maps to: 01:00:5e + its low 23 bits (RFC 1112).
    public init(multicast group: IPv4Address) {
        self.init(value: 0x01_00_5E_00_00_00 | UInt64(group.value & 0x7F_FFFF))
    }

    /// Byte `index` (0...5) in wire order.
    public subscript(index: Int) -> UInt8 { UInt8(truncatingIfNeeded: value >> (8 * (5 - index))) }

    public var description: String {
        (0..<6).map { index in
            let byte = self[index]
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined(separator: ":")
    }
}

/// What the XDP sender needs to know about its interface, read once at start-up in the
/// calling thread's network namespace.
public struct NetworkInterface: Sendable, CustomStringConvertible {
    public let name: String
    public let index: UInt32
    public let mac: MACAddress
    public let address: IPv4Address
    public let netmask: UInt32
    public let mtu: Int

    public init(named name: String) throws(SystemError) {
        self.name = name
        index = try interfaceIndex(name)
        var mac = [UInt8](repeating: 0, count: 6)
        try syscall("ioctl(SIOCGIFHWADDR)") { ctw_interface_mac(name, &mac) }
        self.mac = MACAddress(bytes: mac)
        var address: UInt32 = 0
        var netmask: UInt32 = 0
        try syscall("ioctl(SIOCGIFADDR)") { ctw_interface_ipv4(name, &address, &netmask) }
        self.address = IPv4Address(address)
        self.netmask = netmask
        var mtu: Int32 = 0
        try syscall("ioctl(SIOCGIFMTU)") { ctw_interface_mtu(name, &mtu) }
        self.mtu = Int(mtu)
    }

    /// Whether `destination` is on this interface's subnet (reached without a gateway).
    public func isOnLink(_ destination: IPv4Address) -> Bool {
        destination.value & netmask == address.value & netmask
    }

    public var description: String { "\(name) (index \(index), \(mac), \(address), MTU \(mtu))" }
}
