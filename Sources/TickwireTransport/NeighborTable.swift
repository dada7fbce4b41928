import TickwireSystem

/// Why a unicast destination has no Ethernet address for the XDP sender.
public enum NeighborError: Error, Equatable, CustomStringConvertible {
    /// The next hop has no complete entry in the kernel's neighbour (ARP) table.
    case unresolved(destination: IPv4Address, nextHop: IPv4Address, interface: String)
    /// No route for the destination leaves through the interface.
    case noRoute(destination: IPv4Address, interface: String)
    /// /proc/thread-self/net/{arp,route} could not be read.
    case tableUnreadable(path: String)

    public var description: String {
        switch self {
        case .unresolved(let destination, let nextHop, let interface):
            let via = nextHop == destination ? "" : " (next hop \(nextHop))"
            return "no resolved neighbour entry for \(destination)\(via) on \(interface): AF_XDP bypasses ARP;"
                + " let the kernel resolve it first (e.g. `ping -c1 \(nextHop)`) or add one"
                + " (`ip neigh replace \(nextHop) lladdr MAC dev \(interface) nud permanent`)"
        case .noRoute(let destination, let interface):
            return "no route to \(destination) through \(interface)"
        case .tableUnreadable(let path):
            return "cannot read \(path)"
        }
    }
}

/// The kernel's IPv4 neighbour table and routes, read in the calling thread's network
/// namespace (`/proc/thread-self/net`: `/proc/self/net` follows the process's main thread).
/// Start-up only: it reads files and allocates.
public enum NeighborTable {
    /// The Ethernet address frames to `destination` leaving `interface` go to: the
    /// destination itself when on-link, else its gateway (longest matching route).
    public static func resolve(_ destination: IPv4Address, on interface: NetworkInterface) throws(NeighborError) -> MACAddress {
        let nextHop = interface.isOnLink(destination)
            ? destination
            : try gateway(for: destination, on: interface.name, routeTable: read("/proc/thread-self/net/route"))
        guard let mac = completeEntries(on: interface.name, arpTable: try read("/proc/thread-self/net/arp"))[nextHop] else {
            throw .unresolved(destination: destination, nextHop: nextHop, interface: interface.name)
        }
        return mac
    }

    private static func read(_ path: String) throws(NeighborError) -> String {
        guard let text = readSmallFile(path) else { throw .tableUnreadable(path: path) }
        return text
    }

    /// Complete entries on `interface` in /proc/net/arp text: address -> MAC.
    static func completeEntries(on interface: String, arpTable: String) -> [IPv4Address: MACAddress] {
        var entries: [IPv4Address: MACAddress] = [:]
        // "IP address  HW type  Flags  HW address  Mask  Device"; flag 0x2 (ATF_COM) = complete.
        for line in arpTable.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5] == interface,
                  let flags = UInt32(fields[2].dropFirst(2), radix: 16), flags & 0x2 != 0,
                  let address = IPv4Address(String(fields[0])), let mac = MACAddress(fields[3]) else { continue }
            entries[address] = mac
        }
        return entries
    }

    /// The next hop for `destination` through `interface` in /proc/net/route text: the
    /// gateway of the longest matching prefix, or the destination itself for an on-link route.
    static func gateway(for destination: IPv4Address, on interface: String, routeTable: String) throws(NeighborError) -> IPv4Address {
        var best: (mask: UInt32, gateway: UInt32)?
        // "Iface Destination Gateway Flags RefCnt Use Metric Mask ..."; addresses are the
        // network-order words printed as native hex.
        for line in routeTable.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8, fields[0] == interface,
                  let network = UInt32(fields[1], radix: 16), let gateway = UInt32(fields[2], radix: 16),
                  let mask = UInt32(fields[7], radix: 16) else { continue }
            let hostMask = UInt32(bigEndian: mask)
            guard destination.value & hostMask == UInt32(bigEndian: network), best.map({ hostMask > $0.mask }) ?? true else { continue }
            best = (hostMask, UInt32(bigEndian: gateway))
        }
        guard let best else { throw .noRoute(destination: destination, interface: interface) }
        return best.gateway == 0 ? destination : IPv4Address(best.gateway)
    }
}
