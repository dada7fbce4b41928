import CTickwire
import Foundation
import Testing
import TickwireSystem
import TickwireTestSupport
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// An ordinary UDP socket on the receiving side (create it inside the peer namespace):
/// bound to a port, optionally joined to a multicast group, with a large receive buffer so a
/// test burst is never dropped by the receiver.
final class UdpListener {
    let descriptor: Int32
    let port: UInt16

    init(port: UInt16 = 0, joining group: IPv4Address? = nil, on interfaceAddress: IPv4Address? = nil) throws {
        let descriptor = try syscall("socket") { socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        self.descriptor = descriptor
        try enlargeReceiveBuffer(descriptor)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = (group?.value ?? 0).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                try syscall("bind") { bind(descriptor, address, length) }
                try syscall("getsockname") { getsockname(descriptor, address, &length) }
            }
        }
        self.port = UInt16(bigEndian: address.sin_port)
        if let group {
            var membership = ip_mreq()
            membership.imr_multiaddr.s_addr = group.value.bigEndian
            membership.imr_interface.s_addr = (interfaceAddress?.value ?? 0).bigEndian
            try syscall("setsockopt(IP_ADD_MEMBERSHIP)") {
                setsockopt(descriptor, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &membership, socklen_t(MemoryLayout<ip_mreq>.size))
            }
        }
    }

    deinit { close(descriptor) }

    /// Up to `count` datagrams, waiting at most `timeout` for each.
    func receive(count: Int, timeout: Duration = .seconds(3)) -> [[UInt8]] {
        readAvailable(descriptor, count: count, capacity: 65536, timeout: timeout)
    }
}

/// Raw Ethernet frames arriving in the namespace it was created in (AF_PACKET, IPv4 only),
/// so tests can check the bytes on the wire with their own code.
final class RawFrameCapture {
    let descriptor: Int32

    init() throws {
        let ipv4 = UInt16(0x0800).bigEndian
        let descriptor = try syscall("socket(AF_PACKET)") {
            socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(ipv4))
        }
        self.descriptor = descriptor
        try enlargeReceiveBuffer(descriptor)
    }

    deinit { close(descriptor) }

    /// Up to `count` UDP frames to `port`, waiting at most `timeout` for each.
    func frames(toPort port: UInt16, count: Int, timeout: Duration = .seconds(3)) -> [[UInt8]] {
        var result: [[UInt8]] = []
        while result.count < count {
            guard let frame = readAvailable(descriptor, count: 1, capacity: 65536, timeout: timeout).first else { break }
            let ihl = frame.count > 14 ? Int(frame[14] & 0x0F) * 4 : 0
            guard frame.count >= 14 + ihl + 8, frame[23] == 17,
                  UInt16(frame[14 + ihl + 2]) << 8 | UInt16(frame[14 + ihl + 3]) == port else { continue }
            result.append(frame)
        }
        return result
    }
}

/// 32 MiB of receive buffer (SO_RCVBUFFORCE, root): a test burst never overflows it.
private func enlargeReceiveBuffer(_ fd: Int32) throws {
    var size: Int32 = 32 << 20
    try syscall("setsockopt(SO_RCVBUFFORCE)") { setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) }
}

/// Expects `received` to equal `expected` packet for packet, reporting the count and the
/// first differing index (not the whole byte arrays).
func expectSamePayloads(_ received: [[UInt8]], _ expected: [[UInt8]], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(received.count == expected.count, "packet count", sourceLocation: sourceLocation)
    if let index = (0..<min(received.count, expected.count)).first(where: { received[$0] != expected[$0] }) {
        Issue.record("packet \(index) differs: \(received[index].count) bytes received, \(expected[index].count) expected",
                     sourceLocation: sourceLocation)
    }
}

/// Reads up to `count` datagrams from `fd`, polling at most `timeout` for each.
private func readAvailable(_ fd: Int32, count: Int, capacity: Int, timeout: Duration) -> [[UInt8]] {
    var received: [[UInt8]] = []
    var buffer = [UInt8](repeating: 0, count: capacity)
    let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
    while received.count < count {
        var request = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&request, 1, milliseconds) == 1 else { break }
        let length = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard length >= 0 else { break }
        received.append(Array(buffer[0..<length]))
    }
    return received
}

/// Payloads of distinct sizes and contents: a 4-byte index, then bytes derived from it.
func numberedPayloads(_ count: Int, sizes: ClosedRange<Int> = 8...1400) -> [[UInt8]] {
    (0..<count).map { index in
        let size = sizes.lowerBound + (index * 97) % (sizes.count)
        var payload = withUnsafeBytes(of: UInt32(index).littleEndian) { Array($0) }
        payload += (4..<max(size, 4)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
        return payload
    }
}

/// Sends `payloads` in order through `sender`, re-sending what came back as `wouldBlock`
/// (with a short pause) until all went out or `attempts` ran out. Returns the summed report.
func sendAll<Sender: UdpSender>(_ sender: inout Sender, _ payloads: [[UInt8]], to destination: UdpEndpoint,
                                batch: Int = 64, attempts: Int = 10_000) -> SendReport {
    var total = SendReport()
    let storage = payloads.map { payload in
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(payload.count, 1), alignment: 8)
        bytes.copyBytes(from: payload)
        return bytes
    }
    defer { storage.forEach { $0.deallocate() } }
    let packets = zip(storage, payloads).map { OutgoingPacket(UnsafeRawBufferPointer(rebasing: $0[0..<$1.count])) }
    var next = 0
    var tries = 0
    while next < packets.count, tries < attempts {
        let end = min(next + batch, packets.count)
        let report = packets[next..<end].withUnsafeBufferPointer { sender.send($0, to: destination) }
        total.packets += report.packets
        total.bytes += report.bytes
        total.errors += report.errors
        next = end - report.wouldBlock
        if report.wouldBlock > 0 {
            tries += 1
            usleep(200)
        }
    }
    total.wouldBlock = packets.count - next
    return total
}

/// The Internet checksum (RFC 1071), written plainly from the bytes in network order:
/// independent of Tickwire's UdpFrameBuilder.
func referenceInternetChecksum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var index = 0
    while index < bytes.count {
        let high = UInt32(bytes[index])
        let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
        sum += high << 8 | low
        index += 2
    }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}

/// Checks a captured Ethernet/IPv4/UDP frame: IPv4 header checksum and UDP checksum (with
/// its pseudo-header) both verify, lengths agree. Returns the UDP payload.
func verifiedUdpPayload(_ frame: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8] {
    let ip = Array(frame[14..<34])
    #expect(ip[0] == 0x45, "IPv4 without options", sourceLocation: sourceLocation)
    #expect(referenceInternetChecksum(ip) == 0, "IPv4 header checksum", sourceLocation: sourceLocation)
    let totalLength = Int(ip[2]) << 8 | Int(ip[3])
    let udp = Array(frame[34..<(14 + totalLength)])
    let udpLength = Int(udp[4]) << 8 | Int(udp[5])
    #expect(udpLength == udp.count, "UDP length", sourceLocation: sourceLocation)
    #expect(udp[6] != 0 || udp[7] != 0, "UDP checksum present", sourceLocation: sourceLocation)
    let pseudoHeader = Array(ip[12..<20]) + [0, 17, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF)]
    #expect(referenceInternetChecksum(pseudoHeader + udp) == 0, "UDP checksum", sourceLocation: sourceLocation)
    return Array(udp[8...])
}
