#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 address in host byte order (swift-system style: a typed value, not a raw Int).
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Dotted quad ("239.1.1.1"); nil for anything else.
    public init?(_ text: String) {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        value = UInt32(bigEndian: address.s_addr)
    }

    /// 224.0.0.0/4.
    public var isMulticast: Bool { value >> 28 == 0xE }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }
}

/// Where datagrams go or come from: an IPv4 address and a UDP port.
public struct UdpEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(address: IPv4Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// "GROUP:PORT" (e.g. "239.1.1.1:30001"); nil when either part is not valid.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let address = IPv4Address(String(text[..<colon])),
              let port = UInt16(text[text.index(after: colon)...]), port != 0 else { return nil }
        self.init(address: address, port: port)
    }

    public var description: String { "\(address):\(port)" }
}

/// One ready packet, built in place by the wire codec; senders read it, never keep it.
public struct OutgoingPacket {
    public var bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
}

/// What one `send` did.
public struct SendReport: Equatable, Sendable {
    /// Packets handed to the kernel or the NIC, in order from the first.
    public var packets: Int = 0
    public var bytes: Int = 0
    /// Packets refused with an error (counted, skipped: one bad packet is never fatal).
    public var errors: Int = 0
    /// Packets not sent because the socket buffer or TX ring was full: the caller still
    /// holds them (they are the last `wouldBlock` of the batch).
    public var wouldBlock: Int = 0

    @inlinable
    public init(packets: Int = 0, bytes: Int = 0, errors: Int = 0, wouldBlock: Int = 0) {
        self.packets = packets
        self.bytes = bytes
        self.errors = errors
        self.wouldBlock = wouldBlock
    }
}

/// Sends batches of ready packets to one destination. Implementations: the standard
/// kernel socket (sendmmsg) and AF_XDP. Callers are generic over the sender (no existential
/// on the hot path) and own it on one thread.
public protocol UdpSender {
    /// Sends `packets` in order to `destination`.
    mutating func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport
    /// What runs, for the start-up log and `doctor`: e.g. "standard: sendmmsg, SO_SNDBUF 8 MiB"
    /// or "xdp: copy mode on veth0 queue 0 (zero-copy refused: …)".
    var modeDescription: String { get }
}

/// One received UDP payload: a view valid only during the callback.
public struct ReceivedDatagram {
    public var payload: UnsafeRawBufferPointer
    /// Where it was sent (the multicast group or unicast address, and the port).
    public var destination: UdpEndpoint
    public var source: UdpEndpoint
    public var receiveTime: ReceiveTimestamp

    @inlinable
    public init(payload: UnsafeRawBufferPointer, destination: UdpEndpoint, source: UdpEndpoint, receiveTime: ReceiveTimestamp) {
        self.payload = payload
        self.destination = destination
        self.source = source
        self.receiveTime = receiveTime
    }
}

/// Receives datagrams for a consumer. Implementations: the standard socket and AF_XDP.
public protocol UdpReceiver {
    /// Hands every datagram available now (at most `limit`) to `body`; returns how many. Never blocks.
    mutating func poll(limit: Int, _ body: (ReceivedDatagram) -> Void) -> Int
    /// What runs, e.g. "socket: SO_RCVBUF 8 MiB, timestamps kernel-software" or "xdp: copy mode on veth1 queue 0".
    var modeDescription: String { get }
}
