import Testing
@testable import TickwireTransport

@Suite("NeighborTable")
struct NeighborTableTests {
    // Captured from `cat /proc/net/route` and `/proc/net/arp` (little-endian host).
    let routes = """
        Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
        eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
        eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
        eth0\t000010AC\t0A02A8C0\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0
        eth1\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0
        """
    let arp = """
        IP address       HW type     Flags       HW address            Mask     Device
        192.168.2.1      0x1         0x2         52:54:00:12:35:02     *        eth0
        192.168.2.7      0x1         0x0         00:00:00:00:00:00     *        eth0
        192.168.2.9      0x1         0x6         aa:bb:cc:dd:ee:ff     *        eth0
        10.0.0.5         0x1         0x2         02:00:00:00:00:05     *        eth1
        """

    @Test func theNextHopIsTheLongestMatchingRoutesGatewayOrTheDestinationWhenOnLink() throws {
        let next = { (destination: String) throws(NeighborError) -> String in
            try NeighborTable.gateway(for: IPv4Address(destination)!, on: "eth0", routeTable: self.routes).description
        }
        #expect(try next("8.8.8.8") == "192.168.2.1")        // default route
        #expect(try next("172.16.3.4") == "192.168.2.10")    // 172.16/16 via .10
        #expect(try next("192.168.2.44") == "192.168.2.44")  // on-link /24
        #expect(throws: NeighborError.noRoute(destination: IPv4Address("8.8.8.8")!, interface: "eth1")) {
            try NeighborTable.gateway(for: IPv4Address("8.8.8.8")!, on: "eth1", routeTable: self.routes)
        }
    }

    @Test func onlyCompleteEntriesOnTheInterfaceCount() {
        let entries = NeighborTable.completeEntries(on: "eth0", arpTable: arp)
        #expect(entries == [
            IPv4Address("192.168.2.1")!: MACAddress("52:54:00:12:35:02")!,
            IPv4Address("192.168.2.9")!: MACAddress("aa:bb:cc:dd:ee:ff")!,
        ])
    }
}
