import Testing
import TickwireSystem
import TickwireTestSupport
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// A namespace pair, a listener on side b and a default standard sender on side a.
private struct UnicastSetup {
    let pair: VethNamespacePair
    let listener: UdpListener
    var sender: StandardUdpSender
    var destination: UdpEndpoint { UdpEndpoint(address: IPv4Address(pair.b.address)!, port: listener.port) }

    init() throws {
        pair = try VethNamespacePair()
        listener = try pair.run(in: pair.b) { try UdpListener() }
        sender = try pair.run(in: pair.a) { try StandardUdpSender(configuration: SenderConfiguration()) }
    }
}

@Suite("StandardUdpSender")
struct StandardUdpSenderTests {
    @Test func unicastPacketsArriveIntactAndInOrderInThePeerNamespace() throws {
        guard requireRoot("standard sender over veth") else { return }
        var setup = try UnicastSetup()
        let payloads = numberedPayloads(600)

        let report = sendAll(&setup.sender, payloads, to: setup.destination)

        #expect(report == SendReport(packets: 600, bytes: payloads.reduce(0) { $0 + $1.count }))
        expectSamePayloads(setup.listener.receive(count: 600), payloads)
    }

    @Test func multicastLeavesThroughTheConfiguredInterfaceAndArrivesIntactAndInOrder() throws {
        guard requireRoot("standard sender over veth") else { return }
        let pair = try VethNamespacePair()
        // Without its 224/4 route, only IP_MULTICAST_IF can send the group out of the veth.
        try pair.execute(in: pair.a, ["ip", "route", "del", "224.0.0.0/4"])
        let group = IPv4Address("239.77.0.1")!
        let listener = try pair.run(in: pair.b) { try UdpListener(joining: group, on: IPv4Address(pair.b.address)) }
        var sender = try pair.run(in: pair.a) {
            try StandardUdpSender(configuration: SenderConfiguration(interface: pair.a.interface))
        }
        let payloads = numberedPayloads(300)

        let report = sendAll(&sender, payloads, to: UdpEndpoint(address: group, port: listener.port))

        #expect(report.packets == 300 && report.errors == 0)
        expectSamePayloads(listener.receive(count: 300), payloads)
        #expect(sender.modeDescription.contains("via \(pair.a.interface)"))
    }

    @Test func sendBufferIsForcedPastTheSysctlCeilingWhenPrivileged() throws {
        guard requireRoot("SO_SNDBUFFORCE") else { return }
        var configuration = SenderConfiguration()
        configuration.sendBufferBytes = try wmemMax() * 2
        let sender = try StandardUdpSender(configuration: configuration)
        #expect(sender.sendBuffer.forced)
        #expect(sender.sendBuffer.obtained == 2 * configuration.sendBufferBytes)
        #expect(sender.sendBuffer.warning == nil)
    }

    @Test func aSendBufferCappedByWmemMaxIsReportedWithTheSysctlRemedy() throws {
        var configuration = SenderConfiguration()
        configuration.forceSendBuffer = false
        let ceiling = try wmemMax()
        configuration.sendBufferBytes = ceiling * 2
        let sender = try StandardUdpSender(configuration: configuration)
        #expect(!sender.sendBuffer.forced)
        #expect(sender.sendBuffer.cappedAt == ceiling)
        #expect(sender.sendBuffer.obtained == 2 * ceiling)
        let warning = try #require(sender.sendBuffer.warning)
        #expect(warning.contains("sysctl -w net.core.wmem_max=\(ceiling * 2)"))
        #expect(sender.modeDescription.contains(warning))
    }

    @Test func packetsToAnUnroutableDestinationAreCountedAsErrorsNotFatal() throws {
        guard requireRoot("standard sender over veth") else { return }
        var setup = try UnicastSetup()
        let payloads = numberedPayloads(10)

        let refused = sendAll(&setup.sender, payloads, to: UdpEndpoint(address: IPv4Address("10.99.99.1")!, port: 9))
        #expect(refused == SendReport(errors: 10))
        #expect(setup.sender.lastSendErrno == ENETUNREACH)

        // The same sender keeps working for a reachable destination.
        let delivered = sendAll(&setup.sender, payloads, to: setup.destination)
        #expect(delivered.packets == 10)
        expectSamePayloads(setup.listener.receive(count: 10), payloads)
    }

    @Test func anUnknownInterfaceIsATypedSetupError() {
        #expect(throws: SystemError("if_nametoindex", errno: ENODEV)) {
            try StandardUdpSender(configuration: SenderConfiguration(interface: "tw-no-such0"))
        }
    }

    private func wmemMax() throws -> Int {
        try #require(readSmallFile("/proc/sys/net/core/wmem_max").flatMap { Int($0.filter(\.isNumber)) })
    }
}
