import Testing
import TickwireTestSupport
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

@Suite("XdpUdpSender")
struct XdpUdpSenderTests {
    /// The peer's MAC as a permanent neighbour entry on side a: AF_XDP never triggers ARP.
    private func addPeerNeighbour(_ pair: VethNamespacePair) throws {
        let peerMAC = try pair.execute(in: pair.b, ["cat", "/sys/class/net/\(pair.b.interface)/address"])
            .filter { !$0.isWhitespace }
        try pair.execute(in: pair.a, ["ip", "neigh", "replace", pair.b.address, "lladdr", peerMAC,
                                      "dev", pair.a.interface, "nud", "permanent"])
    }

    private func makeSender(_ pair: VethNamespacePair, frames: UInt32 = 1024) throws -> XdpUdpSender {
        try pair.run(in: pair.a) {
            var configuration = SenderConfiguration(kind: .xdp, interface: pair.a.interface)
            configuration.xdpFrameCount = frames
            configuration.xdpTxRingSize = 512
            configuration.xdpCompletionRingSize = 512
            return try XdpUdpSender(configuration: configuration)
        }
    }

    @Test func unicastFramesArriveIntactInOrderWithValidChecksums() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        try addPeerNeighbour(pair)
        let (listener, capture) = try pair.run(in: pair.b) { (try UdpListener(), try RawFrameCapture()) }
        var sender = try makeSender(pair)
        // Every size from 0 to the largest that fits a 1500-byte MTU, some odd, some even.
        let payloads = numberedPayloads(500, sizes: 4...1472) + [[], [0xAB], Array(repeating: 0xFF, count: 1472)]
        let destination = UdpEndpoint(address: IPv4Address(pair.b.address)!, port: listener.port)
        try pair.run(in: pair.a) { try sender.prepare(destination) }

        let report = sendAll(&sender, payloads, to: destination)

        #expect(report == SendReport(packets: payloads.count, bytes: payloads.reduce(0) { $0 + $1.count }))
        expectSamePayloads(listener.receive(count: payloads.count), payloads)
        let frames = capture.frames(toPort: listener.port, count: payloads.count)
        expectSamePayloads(frames.map { verifiedUdpPayload($0) }, payloads)
    }

    @Test func multicastFramesGoToTheGroupMACAndArriveIntactWithValidChecksums() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        let group = IPv4Address("239.77.200.5")!
        let (listener, capture) = try pair.run(in: pair.b) {
            (try UdpListener(joining: group, on: IPv4Address(pair.b.address)), try RawFrameCapture())
        }
        var sender = try makeSender(pair)
        let payloads = numberedPayloads(300, sizes: 1...1472)

        let report = sendAll(&sender, payloads, to: UdpEndpoint(address: group, port: listener.port))

        #expect(report.packets == payloads.count && report.errors == 0)
        expectSamePayloads(listener.receive(count: payloads.count), payloads)
        let frames = capture.frames(toPort: listener.port, count: payloads.count)
        expectSamePayloads(frames.map { verifiedUdpPayload($0) }, payloads)
        // 01:00:5e + the low 23 bits of 239.77.200.5 (0x4d c8 05 -> 0x4d & 0x7f = 0x4d).
        #expect(frames.allSatisfy { Array($0[0..<6]) == [0x01, 0x00, 0x5E, 0x4D, 0xC8, 0x05] })
        #expect(frames.allSatisfy { $0[22] == 1 }, "multicast TTL 1 by default")
    }

    @Test func aPacketLargerThanTheMTUAllowsIsCountedAndTheRestAreSent() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair(mtu: 1000)
        try addPeerNeighbour(pair)
        let listener = try pair.run(in: pair.b) { try UdpListener() }
        var sender = try makeSender(pair)
        let fits = [UInt8](repeating: 7, count: 1000 - 28)
        let payloads = [fits, fits + [8], fits]
        let destination = UdpEndpoint(address: IPv4Address(pair.b.address)!, port: listener.port)
        try pair.run(in: pair.a) { try sender.prepare(destination) }

        let report = sendAll(&sender, payloads, to: destination)

        #expect(report == SendReport(packets: 2, bytes: 2 * fits.count, errors: 1))
        expectSamePayloads(listener.receive(count: 3, timeout: .milliseconds(500)), [fits, fits])
    }

    @Test func anUnresolvedUnicastNeighbourIsAClearError() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        let sender = try makeSender(pair)
        let destination = UdpEndpoint(address: IPv4Address(pair.b.address)!, port: 9)
        let expected = NeighborError.unresolved(destination: destination.address, nextHop: destination.address,
                                                interface: pair.a.interface)
        #expect(throws: expected) { try pair.run(in: pair.a) { try sender.prepare(destination) } }
        #expect(expected.description.contains("ip neigh replace \(pair.b.address) lladdr"))
    }

    @Test func copyModeIsStatedWithWhyZeroCopyWasRefused() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        let sender = try makeSender(pair)
        // veth has no zero-copy AF_XDP support: the bind falls back and says so.
        #expect(!sender.zeroCopy)
        #expect(sender.modeDescription.contains("COPY mode (not zero-copy: xsk_socket__create(XDP_ZEROCOPY) failed"))
        #expect(sender.modeDescription.contains("on \(pair.a.interface) queue 0"))
    }

    @Test func whenNothingDrainsTheRingSendReturnsTheRestAsWouldBlockInsteadOfSpinning() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        try addPeerNeighbour(pair)
        var sender = try makeSender(pair, frames: 64)
        let destination = UdpEndpoint(address: IPv4Address(pair.b.address)!, port: 9)
        try pair.run(in: pair.a) { try sender.prepare(destination) }
        // A link that is down transmits nothing: frames stay in the TX ring, none complete.
        try pair.execute(in: pair.a, ["ip", "link", "set", pair.a.interface, "down"])
        let payloads = numberedPayloads(1000, sizes: 64...64)

        let report = sendAll(&sender, payloads, to: destination, batch: 1000, attempts: 1)

        #expect(report.packets <= 64)
        #expect(report.packets + report.wouldBlock == 1000)
        #expect(sender.lastKickErrno == ENETDOWN)
        // What the metrics publish: the stuck frames are in flight; the kernel refused no descriptor.
        #expect(sender.framesInFlight == report.packets)
        #expect(try sender.kernelStatistics().invalidDescriptors == 0)
    }

    @Test func aSecondSocketOnTheSameQueueBindsOnceTheFirstIsClosed() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        for _ in 0..<3 { _ = try makeSender(pair) }
    }
}
