import CTickwire
import Testing
import TickwireSystem
import TickwireTestSupport
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// SocketUdpReceiver on real sockets: multicast across two network namespaces joined by veth,
/// unicast on loopback, the kernel's drop counter and the buffer report.
@Suite(.serialized) struct SocketUdpReceiverTests {
    /// A plain UDP socket sending to `destination` (created in the caller's namespace).
    final class PlainSender {
        let fd: Int32
        init() { fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0) }
        deinit { close(fd) }

        func send(_ bytes: [UInt8], to destination: UdpEndpoint) {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = destination.port.bigEndian
            address.sin_addr.s_addr = destination.address.value.bigEndian
            let sent = bytes.withUnsafeBytes { buffer in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            precondition(sent == bytes.count, "sendto failed: errno \(errno)")
        }
    }

    struct Received {
        var payload: [UInt8]
        var source: UdpEndpoint
        var destination: UdpEndpoint
        var timestamp: ReceiveTimestamp
    }

    /// Polls until `count` datagrams came or `giveUpAfter` ns passed (a give-up, not a speed check).
    func receive(_ count: Int, from receiver: SocketUdpReceiver, giveUpAfter: UInt64 = 2_000_000_000) -> [Received] {
        var received: [Received] = []
        let giveUp = ctw_monotonic_ns() + giveUpAfter
        while received.count < count && ctw_monotonic_ns() < giveUp {
            if receiver.poll(limit: 64, { received.append(Received(payload: Array($0.payload), source: $0.source, destination: $0.destination, timestamp: $0.receiveTime)) }) == 0 {
                usleep(1_000)
            }
        }
        return received
    }

    func datagram(_ index: Int) -> [UInt8] { (0..<(40 + index % 200)).map { UInt8(truncatingIfNeeded: $0 &+ index) } }

    @Test func multicastFromAnotherNamespaceArrivesIntactInOrderWithKernelTimestamps() throws {
        guard requireRoot("multicast across veth") else { return }
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: IPv4Address("239.77.1.1")!, port: 30_101)
        let receiver = try pair.run(in: pair.b) {
            try SocketUdpReceiver(configuration: SocketReceiverConfiguration(endpoint: group, interface: pair.b.interface))
        }
        #expect(receiver.timestampMode.hasPrefix("kernel-software"))
        #expect(receiver.receiveBuffer.cappedAt == nil && receiver.receiveBuffer.obtained >= 2 * (8 << 20))
        #expect(receiver.modeDescription.contains("multicast \(group) on \(pair.b.interface)"))
        // The kernel turns RX stamping on a moment after the first socket asks (a deferred static
        // key): until then datagrams carry none. Warm up until one is stamped.
        let sender = try pair.run(in: pair.a) { PlainSender() }
        var stamped = false
        let giveUp = ctw_monotonic_ns() + 2_000_000_000
        while !stamped && ctw_monotonic_ns() < giveUp {
            sender.send([0], to: group)
            stamped = receive(1, from: receiver, giveUpAfter: 10_000_000).contains { $0.timestamp.source == .kernelSoftware }
            usleep(5_000)
        }
        _ = receive(100, from: receiver, giveUpAfter: 10_000_000)
        #expect(stamped)
        let before = ctw_realtime_ns()
        for index in 0..<300 { sender.send(datagram(index), to: group) }
        let received = receive(300, from: receiver)
        #expect(received.count == 300)
        for (index, datagram) in received.enumerated() {
            #expect(datagram.payload == self.datagram(index))
            #expect(datagram.source.address == IPv4Address(pair.a.address)!)
            #expect(datagram.destination == group)
            #expect(datagram.timestamp.source == .kernelSoftware, "\(datagram.timestamp)")
            #expect(datagram.timestamp.nanoseconds >= before)
        }
        #expect(receiver.kernelDrops == 0)
    }

    @Test func anotherGroupOnTheSamePortIsNotDelivered() throws {
        guard requireRoot("multicast across veth") else { return }
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: IPv4Address("239.77.1.2")!, port: 30_102)
        let other = UdpEndpoint(address: IPv4Address("239.77.1.3")!, port: 30_102)
        let (receiver, otherReceiver) = try pair.run(in: pair.b) {
            (try SocketUdpReceiver(configuration: SocketReceiverConfiguration(endpoint: group, interface: pair.b.interface)),
             try SocketUdpReceiver(configuration: SocketReceiverConfiguration(endpoint: other, interface: pair.b.interface)))
        }
        try pair.run(in: pair.a) {
            let sender = PlainSender()
            sender.send(datagram(1), to: other)
            sender.send(datagram(2), to: group)
        }
        #expect(receive(1, from: otherReceiver).map(\.payload) == [datagram(1)])
        #expect(receive(2, from: receiver, giveUpAfter: 200_000_000).map(\.payload) == [datagram(2)])
    }

    @Test func aBurstBeyondTheReceiveBufferIsCountedAsKernelDrops() throws {
        guard requireRoot("multicast across veth") else { return }
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: IPv4Address("239.77.1.4")!, port: 30_104)
        let receiver = try pair.run(in: pair.b) {
            var configuration = SocketReceiverConfiguration(endpoint: group, interface: pair.b.interface)
            configuration.receiveBufferBytes = 4096  // the kernel's minimum: a few datagrams
            return try SocketUdpReceiver(configuration: configuration)
        }
        try pair.run(in: pair.a) {
            let sender = PlainSender()
            // Fewer than veth's 256-entry ring, so every drop is the socket's.
            for index in 0..<200 { sender.send(datagram(index), to: group) }
        }
        usleep(100_000)
        let received = receive(200, from: receiver, giveUpAfter: 200_000_000)
        #expect(received.count < 200)
        // The kernel stamps each datagram with the drop count when it queues it: the next one tells.
        try pair.run(in: pair.a) { PlainSender().send(datagram(0), to: group) }
        #expect(receive(1, from: receiver).count == 1)
        #expect(receiver.kernelDrops == UInt64(200 - received.count))
    }

    @Test func unicastBindsAnEphemeralPortAndReportsTheSource() throws {
        let receiver = try SocketUdpReceiver(configuration: SocketReceiverConfiguration(
            endpoint: UdpEndpoint(address: IPv4Address("127.0.0.1")!, port: 0)))
        #expect(receiver.localEndpoint.port != 0 && receiver.modeDescription.contains("unicast \(receiver.localEndpoint)"))
        let peer = try UnicastUdpSocket(bindingTo: UdpEndpoint(address: IPv4Address("127.0.0.1")!, port: 0))
        let request: [UInt8] = [1, 2, 3]
        #expect(try request.withUnsafeBytes { try peer.send($0, to: receiver.localEndpoint) })
        let got = receive(1, from: receiver)
        #expect(got.map(\.payload) == [request] && got.first?.source == peer.localEndpoint)
    }

    @Test func aCappedReceiveBufferReportsTheRmemMaxRemedy() {
        let report = SocketBufferReport(kind: .receive, requested: 8 << 20, obtained: 425_984, forced: false, cappedAt: 212_992)
        #expect(report.warning?.contains("sysctl -w net.core.rmem_max=8388608") == true)
        #expect(report.warning?.contains("root network namespace") == true)
    }

    @Test func anUnknownInterfaceIsATypedError() {
        #expect(throws: SystemError.self) {
            try SocketUdpReceiver(configuration: SocketReceiverConfiguration(
                endpoint: UdpEndpoint(address: IPv4Address("239.77.1.5")!, port: 30_105), interface: "nosuchif0"))
        }
    }
}
