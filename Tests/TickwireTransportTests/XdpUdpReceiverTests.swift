import Foundation
import Testing
import TickwireTestSupport
import TickwireTransport

/// AF_XDP receive on a veth pair in two namespaces the test creates: the receiver runs on
/// side `a`, traffic comes from side `b`. Serialized: each test spawns `ip` processes, and
/// Foundation's Process traps on EINTR when another test's child exits meanwhile.
@Suite("XdpUdpReceiver", .serialized)
struct XdpUdpReceiverTests {
    static let feedPort: UInt16 = 30001
    static let otherPort: UInt16 = 30002

    func startReceiver(on pair: VethNamespacePair) throws -> XdpUdpReceiver {
        let object = try FeedTestTraffic.programObject.get()
        return try pair.joined(in: pair.a) {
            try XdpUdpReceiver(XdpReceiverConfiguration(interface: pair.a.interface, ports: [Self.feedPort], programObject: object))
        }
    }

    /// Polls until `count` datagrams arrived (or 5 s passed); returns their payloads and endpoints.
    func receive(_ count: Int, from receiver: XdpUdpReceiver) -> [(payload: [UInt8], source: UdpEndpoint, destination: UdpEndpoint)] {
        var received: [(payload: [UInt8], source: UdpEndpoint, destination: UdpEndpoint)] = []
        _ = waitUntil {
            _ = receiver.poll(limit: 64) { received.append((Array($0.payload), $0.source, $0.destination)) }
            return received.count >= count
        }
        return received
    }

    @Test func feedPortReachesTheReceiverWhileArpPingAndOtherPortsReachTheKernel() throws {
        guard requireRoot("AF_XDP receive on veth") else { return }
        let pair = try VethNamespacePair()
        let receiver = try startReceiver(on: pair)
        // Kernel sockets on side a: the feed port one must see nothing (the program takes it).
        let kernelFeedPort = try pair.joined(in: pair.a) { try TestUdpSocket(port: Self.feedPort) }
        let kernelOtherPort = try pair.joined(in: pair.a) { try TestUdpSocket(port: Self.otherPort) }
        let sender = try pair.joined(in: pair.b) { try TestUdpSocket() }

        // ARP resolution and ICMP echo both need side a's kernel to see them.
        try FeedTestTraffic.run(in: pair.b, ["ping", "-c", "2", "-i", "0.2", "-W", "2", pair.a.address])
        for sequence in UInt64(1)...50 {
            try sender.send(FeedTestTraffic.tradePacket(sequence: sequence), to: pair.a.address, port: Self.feedPort)
        }
        for index in UInt8(0)..<5 { try sender.send([index], to: pair.a.address, port: Self.otherPort) }

        let received = receive(50, from: receiver)
        #expect(FeedTestTraffic.sequences(received.map(\.payload)) == (UInt64(1)...50).map { $0 })
        #expect(received.allSatisfy { $0.source.address == IPv4Address(pair.b.address) })
        #expect(received.allSatisfy { $0.destination == UdpEndpoint(address: IPv4Address(pair.a.address)!, port: Self.feedPort) })
        var other: [[UInt8]] = []
        #expect(waitUntil { other += kernelOtherPort.drain(); return other.count == 5 })
        #expect(other == (UInt8(0)..<5).map { [$0] })
        #expect(kernelFeedPort.drain().isEmpty)
        #expect(receiver.drops.total == 0)
        #expect(receiver.framesReceived == 50 && receiver.datagramsDelivered == 50)
    }

    @Test func vethRefusesZeroCopyAndTheReceiverSaysItRunsInCopyMode() throws {
        guard requireRoot("AF_XDP receive on veth") else { return }
        let pair = try VethNamespacePair()
        let receiver = try startReceiver(on: pair)
        #expect(!receiver.isZeroCopy)
        #expect(receiver.zeroCopyRefusal != nil)
        #expect(receiver.modeDescription.hasPrefix("xdp: COPY mode (not zero-copy: "))
        #expect(receiver.modeDescription.contains("on \(pair.a.interface) queue 0"))
        let kernel = try receiver.kernelStatistics()
        #expect(kernel.dropped == 0 && kernel.invalidDescriptors == 0 && kernel.ringFull == 0 && kernel.fillRingEmpty == 0)
    }

    @Test func malformedFramesOnTheFeedPortAreCountedByReasonAndTheNextGoodOneArrives() throws {
        guard requireRoot("AF_XDP receive on veth, raw frames") else { return }
        let pair = try VethNamespacePair()
        let receiver = try startReceiver(on: pair)
        let raw = try pair.joined(in: pair.b) { try RawFrameSocket(interface: pair.b.interface) }
        let frame = try feedFrame(pair)
        // Each passes the XDP program's header checks (so it is redirected) and fails the parser's.
        try raw.send(frame { $0.breakChecksum = true })
        try raw.send(frame { $0.totalLengthDelta = 40 })
        try raw.send(frame { $0.totalLengthDelta = -(8 + FeedTestTraffic.tradePacket(sequence: 9).count) + 4 })
        try raw.send(frame { $0.udpLengthDelta = 100 })
        try raw.send(frame { $0.udpLengthDelta = -FeedTestTraffic.tradePacket(sequence: 9).count - 1 })
        try raw.send(frame { _ in })

        // veth keeps the order: when the good frame is in, the five before it were parsed.
        let received = receive(1, from: receiver)
        #expect(FeedTestTraffic.sequences(received.map(\.payload)) == [9])
        var expected = UdpFrameDropCounts()
        expected[.badIPChecksum] = 1
        expected[.badIPTotalLength] = 1
        expected[.truncatedUdpHeader] = 1
        expected[.badUdpLength] = 2
        #expect(receiver.drops == expected, "drops: \(receiver.drops)")
        #expect(receiver.framesReceived == 6)
    }

    @Test func fragmentsOtherProtocolsAndOtherVersionsOnTheFeedPortAreLeftToTheKernel() throws {
        guard requireRoot("AF_XDP receive on veth, raw frames") else { return }
        let pair = try VethNamespacePair()
        let receiver = try startReceiver(on: pair)
        let raw = try pair.joined(in: pair.b) { try RawFrameSocket(interface: pair.b.interface) }
        let frame = try feedFrame(pair)
        // The program redirects only unfragmented IPv4 UDP: none of these reaches the AF_XDP socket.
        try raw.send(frame { $0.fragmentField = 0x2000 })
        try raw.send(frame { $0.fragmentField = 0x0004 })
        try raw.send(frame { $0.ipProtocol = 6 })
        try raw.send(frame { $0.ipVersion = 6 })
        try raw.send(frame { $0.etherType = 0x86DD })
        try raw.send(frame { _ in })

        let received = receive(1, from: receiver)
        #expect(FeedTestTraffic.sequences(received.map(\.payload)) == [9])
        #expect(receiver.framesReceived == 1 && receiver.drops.total == 0)
    }

    /// Builds raw frames from side b to the receiver's feed port on side a, each changed by its closure.
    func feedFrame(_ pair: VethNamespacePair) throws -> ((inout EthernetFrameBuilder) -> Void) -> [UInt8] {
        let macText = try FeedTestTraffic.run(in: pair.a, ["cat", "/sys/class/net/\(pair.a.interface)/address"])
        let mac = macText.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").map { UInt8($0, radix: 16)! }
        return { change in
            var builder = EthernetFrameBuilder()
            builder.destinationMAC = mac
            builder.source = (pair.b.address.split(separator: ".").map { UInt8($0)! }, 40000)
            builder.destination = (pair.a.address.split(separator: ".").map { UInt8($0)! }, Self.feedPort)
            change(&builder)
            return builder.build(payload: FeedTestTraffic.tradePacket(sequence: 9))
        }
    }

    @Test func closingTheReceiverDetachesTheProgramAndTheKernelGetsThePortBack() throws {
        guard requireRoot("AF_XDP receive on veth") else { return }
        let pair = try VethNamespacePair()
        var receiver: XdpUdpReceiver? = try startReceiver(on: pair)
        #expect(try FeedTestTraffic.run(in: pair.a, ["ip", "link", "show", pair.a.interface]).contains("prog/xdp"))
        #expect(receiver != nil)
        receiver = nil
        #expect(try !FeedTestTraffic.run(in: pair.a, ["ip", "link", "show", pair.a.interface]).contains("prog/xdp"))
        let kernelFeedPort = try pair.joined(in: pair.a) { try TestUdpSocket(port: Self.feedPort) }
        let sender = try pair.joined(in: pair.b) { try TestUdpSocket() }
        try sender.send(FeedTestTraffic.tradePacket(sequence: 1), to: pair.a.address, port: Self.feedPort)
        var got: [[UInt8]] = []
        #expect(waitUntil { got += kernelFeedPort.drain(); return !got.isEmpty })
        #expect(FeedTestTraffic.sequences(got) == [1])
    }

    @Test func aMissingProgramObjectIsATypedErrorThatNamesTheBuildScript() throws {
        let configuration = XdpReceiverConfiguration(interface: "lo", ports: [Self.feedPort], programObject: "/nonexistent/tickwire_xdp.o")
        #expect {
            try XdpUdpReceiver(configuration)
        } throws: { error in
            guard case .programObject(let path, let cause) = error as? XdpSetupError else { return false }
            return path == "/nonexistent/tickwire_xdp.o" && cause.errno == ENOENT
                && "\(error)".contains("scripts/build-bpf.sh")
        }
    }

    @Test func configurationsTheProgramCannotServeAreRejectedBeforeAnythingIsAttached() {
        for configuration in [
            XdpReceiverConfiguration(interface: "lo", ports: []),
            XdpReceiverConfiguration(interface: "lo", ports: [0]),
            XdpReceiverConfiguration(interface: "lo", queue: 64, ports: [1]),
            XdpReceiverConfiguration(interface: "lo", ports: [1], ringSize: 1000),
            XdpReceiverConfiguration(interface: "lo", ports: [1], frameSize: 1500),
            XdpReceiverConfiguration(interface: "lo", ports: [1], batchSize: 0),
        ] {
            #expect {
                try XdpUdpReceiver(configuration)
            } throws: { error in
                if case .invalidConfiguration = error as? XdpSetupError { true } else { false }
            }
        }
        #expect(throws: XdpSetupError.interfaceNotFound("tw-no-such-if")) {
            try XdpUdpReceiver(XdpReceiverConfiguration(interface: "tw-no-such-if", ports: [1]))
        }
    }
}
