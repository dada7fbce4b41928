/// Why a frame from the AF_XDP ring was dropped instead of reaching the consumer. Kernel
/// bypass has no firewall and no IP stack in front of it: every length and field is checked
/// here, and each failure is counted under its reason.
public enum UdpFrameDropReason: Int, CaseIterable, Error, Sendable, CustomStringConvertible {
    /// Shorter than an Ethernet header (with its VLAN tag, when tagged).
    case truncatedEthernet
    /// The EtherType (after at most one 802.1Q tag) is not IPv4.
    case notIPv4
    /// Fewer than 20 bytes after the Ethernet header.
    case truncatedIPv4Header
    /// The IP version nibble is not 4.
    case badIPVersion
    /// IHL below 5 words, or options running past the frame.
    case badIPHeaderLength
    /// Total length shorter than the IP header, or longer than the frame holds.
    case badIPTotalLength
    /// The IPv4 header checksum does not verify.
    case badIPChecksum
    /// A fragment (MF set or a fragment offset): the feed never fragments, and the XDP program
    /// leaves fragments to the kernel.
    case fragment
    /// The IP protocol is not UDP.
    case notUDP
    /// Fewer than 8 bytes of IP payload: no room for a UDP header.
    case truncatedUdpHeader
    /// The UDP length is below 8 or runs past the IP payload.
    case badUdpLength
    /// The RX descriptor points outside the UMEM (receiver check; never from a sane kernel).
    case descriptorOutOfBounds

    public var description: String {
        switch self {
        case .truncatedEthernet: "truncated-ethernet"
        case .notIPv4: "not-ipv4"
        case .truncatedIPv4Header: "truncated-ipv4-header"
        case .badIPVersion: "bad-ip-version"
        case .badIPHeaderLength: "bad-ip-header-length"
        case .badIPTotalLength: "bad-ip-total-length"
        case .badIPChecksum: "bad-ip-checksum"
        case .fragment: "fragment"
        case .notUDP: "not-udp"
        case .truncatedUdpHeader: "truncated-udp-header"
        case .badUdpLength: "bad-udp-length"
        case .descriptorOutOfBounds: "descriptor-out-of-bounds"
        }
    }
}

/// Dropped frames per reason: fixed storage, so counting never allocates.
public struct UdpFrameDropCounts: Equatable, Sendable, CustomStringConvertible {
    @usableFromInline var counts = InlineArray<12, Int>(repeating: 0)

    public init() {
        precondition(UdpFrameDropReason.allCases.count == counts.count, "one counter per drop reason")
    }

    public subscript(reason: UdpFrameDropReason) -> Int {
        @inlinable get { counts[reason.rawValue] }
        @inlinable set { counts[reason.rawValue] = newValue }
    }

    public var total: Int { UdpFrameDropReason.allCases.reduce(0) { $0 + self[$1] } }

    public static func == (a: Self, b: Self) -> Bool {
        UdpFrameDropReason.allCases.allSatisfy { a[$0] == b[$0] }
    }

    /// The non-zero counters, e.g. "bad-ip-checksum 2, bad-udp-length 1", or "none".
    public var description: String {
        let nonZero = UdpFrameDropReason.allCases.filter { self[$0] > 0 }.map { "\($0) \(self[$0])" }
        return nonZero.isEmpty ? "none" : nonZero.joined(separator: ", ")
    }
}

/// An Ethernet frame carrying one IPv4 UDP datagram, parsed in place: `payload` points into
/// the frame. Parsing reads nothing it has not bounds-checked and allocates nothing.
public struct UdpFrame {
    public var source: UdpEndpoint
    public var destination: UdpEndpoint
    /// The UDP payload, `UDP length - 8` bytes (Ethernet padding after it is ignored).
    public var payload: UnsafeRawBufferPointer

    static let ethernetHeaderLength = 14
    static let vlanTagLength = 4
    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeVlan: UInt16 = 0x8100
    static let ipv4MinimumHeaderLength = 20
    static let udpHeaderLength = 8
    static let protocolUDP: UInt8 = 17
    /// MF flag and the 13-bit fragment offset.
    static let fragmentBits: UInt16 = 0x3FFF

    /// Ethernet II (optionally one 802.1Q tag), IPv4 (options allowed, header checksum
    /// verified), UDP. The UDP checksum is not verified: on veth and with checksum offload it
    /// is legitimately partial; the wire protocol checks its own structure.
    public init(parsing frame: UnsafeRawBufferPointer) throws(UdpFrameDropReason) {
        guard let base = frame.baseAddress, frame.count >= Self.ethernetHeaderLength else { throw .truncatedEthernet }
        var etherType = Self.bigEndian(base, 12, as: UInt16.self)
        var ip = Self.ethernetHeaderLength
        if etherType == Self.etherTypeVlan {
            guard frame.count >= Self.ethernetHeaderLength + Self.vlanTagLength else { throw .truncatedEthernet }
            etherType = Self.bigEndian(base, 16, as: UInt16.self)
            ip += Self.vlanTagLength
        }
        guard etherType == Self.etherTypeIPv4 else { throw .notIPv4 }
        let ipAvailable = frame.count - ip
        guard ipAvailable >= Self.ipv4MinimumHeaderLength else { throw .truncatedIPv4Header }
        let versionAndLength = base.load(fromByteOffset: ip, as: UInt8.self)
        guard versionAndLength >> 4 == 4 else { throw .badIPVersion }
        let ipHeaderLength = Int(versionAndLength & 0x0F) * 4
        guard ipHeaderLength >= Self.ipv4MinimumHeaderLength, ipHeaderLength <= ipAvailable else { throw .badIPHeaderLength }
        let totalLength = Int(Self.bigEndian(base, ip + 2, as: UInt16.self))
        guard totalLength >= ipHeaderLength, totalLength <= ipAvailable else { throw .badIPTotalLength }
        // Summed over the header with its checksum field, a right checksum gives 0xFFFF.
        let checksum = UdpFrameBuilder.fold(UdpFrameBuilder.onesComplementSum(base + ip, count: ipHeaderLength))
        guard checksum == 0xFFFF else { throw .badIPChecksum }
        guard Self.bigEndian(base, ip + 6, as: UInt16.self) & Self.fragmentBits == 0 else { throw .fragment }
        guard base.load(fromByteOffset: ip + 9, as: UInt8.self) == Self.protocolUDP else { throw .notUDP }
        let udp = ip + ipHeaderLength
        let udpAvailable = totalLength - ipHeaderLength
        guard udpAvailable >= Self.udpHeaderLength else { throw .truncatedUdpHeader }
        let udpLength = Int(Self.bigEndian(base, udp + 4, as: UInt16.self))
        guard udpLength >= Self.udpHeaderLength, udpLength <= udpAvailable else { throw .badUdpLength }
        source = UdpEndpoint(
            address: IPv4Address(Self.bigEndian(base, ip + 12, as: UInt32.self)),
            port: Self.bigEndian(base, udp, as: UInt16.self))
        destination = UdpEndpoint(
            address: IPv4Address(Self.bigEndian(base, ip + 16, as: UInt32.self)),
            port: Self.bigEndian(base, udp + 2, as: UInt16.self))
        payload = UnsafeRawBufferPointer(start: base + udp + Self.udpHeaderLength, count: udpLength - Self.udpHeaderLength)
    }

    @inline(__always)
    static func bigEndian<Value: FixedWidthInteger>(_ base: UnsafeRawPointer, _ offset: Int, as: Value.Type) -> Value {
        Value(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: Value.self))
    }
}
