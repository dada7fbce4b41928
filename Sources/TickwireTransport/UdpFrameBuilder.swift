/// Ethernet II + IPv4 (no options) + UDP headers, built by hand for the AF_XDP sender.
///
/// Per destination a 42-byte template holds everything fixed (MACs, addresses, ports, TTL);
/// per packet `finish` fills the lengths, the IPv4 identification and both checksums.
public enum UdpFrameBuilder {
    public static let ethernetHeaderLength = 14
    public static let ipv4HeaderLength = 20
    public static let udpHeaderLength = 8
    public static let headerLength = ethernetHeaderLength + ipv4HeaderLength + udpHeaderLength

    /// Offsets into the frame.
    static let ipv4Offset = ethernetHeaderLength
    static let udpOffset = ethernetHeaderLength + ipv4HeaderLength

    /// The addresses and ports of one flow.
    public struct Flow: Equatable, Sendable {
        public var sourceMAC: MACAddress
        public var destinationMAC: MACAddress
        public var source: UdpEndpoint
        public var destination: UdpEndpoint
        public var ttl: UInt8

        public init(sourceMAC: MACAddress, destinationMAC: MACAddress, source: UdpEndpoint, destination: UdpEndpoint, ttl: UInt8) {
            self.sourceMAC = sourceMAC
            self.destinationMAC = destinationMAC
            self.source = source
            self.destination = destination
            self.ttl = ttl
        }

        /// The part of the UDP pseudo-header sum that does not depend on the length: both
        /// addresses, in the memory-order domain `onesComplementSum` works in.
        public var pseudoHeaderAddressSum: UInt64 {
            UInt64(source.address.value.bigEndian) + UInt64(destination.address.value.bigEndian)
        }
    }

    /// Writes the 42-byte header template of `flow` at `header` (lengths, identification and
    /// checksums zero; IPv4 "don't fragment" set: frames never exceed the MTU).
    public static func writeTemplate(_ flow: Flow, to header: UnsafeMutableRawPointer) {
        for index in 0..<6 {
            header.storeBytes(of: flow.destinationMAC[index], toByteOffset: index, as: UInt8.self)
            header.storeBytes(of: flow.sourceMAC[index], toByteOffset: 6 + index, as: UInt8.self)
        }
        storeBigEndian(UInt16(0x0800), header, 12)                  // EtherType IPv4
        let ip = ipv4Offset
        storeBigEndian(UInt16(0x4500), header, ip)                  // version 4, IHL 5, DSCP/ECN 0
        storeBigEndian(UInt16(0), header, ip + 2)                   // total length (per packet)
        storeBigEndian(UInt16(0), header, ip + 4)                   // identification (per packet)
        storeBigEndian(UInt16(0x4000), header, ip + 6)              // DF, fragment offset 0
        storeBigEndian(UInt16(flow.ttl) << 8 | 17, header, ip + 8)  // TTL, protocol UDP
        storeBigEndian(UInt16(0), header, ip + 10)                  // header checksum (per packet)
        storeBigEndian(flow.source.address.value, header, ip + 12)
        storeBigEndian(flow.destination.address.value, header, ip + 16)
        let udp = udpOffset
        storeBigEndian(flow.source.port, header, udp)
        storeBigEndian(flow.destination.port, header, udp + 2)
        storeBigEndian(UInt32(0), header, udp + 4)                  // length, checksum (per packet)
    }

    /// Completes a frame whose template and payload are in place at `frame`: IPv4 total
    /// length, identification and header checksum, UDP length and checksum. Returns the
    /// frame length.
    @inline(__always)
    public static func finish(_ frame: UnsafeMutableRawPointer, payloadLength: Int, identification: UInt16,
                              pseudoHeaderAddressSum: UInt64) -> Int {
        let udpLength = udpHeaderLength + payloadLength
        storeBigEndian(UInt16(truncatingIfNeeded: ipv4HeaderLength + udpLength), frame, ipv4Offset + 2)
        storeBigEndian(identification, frame, ipv4Offset + 4)
        let ipChecksum = ~fold(onesComplementSum(UnsafeRawPointer(frame + ipv4Offset), count: ipv4HeaderLength))
        frame.storeBytes(of: ipChecksum, toByteOffset: ipv4Offset + 10, as: UInt16.self)

        storeBigEndian(UInt16(truncatingIfNeeded: udpLength), frame, udpOffset + 4)
        // Pseudo-header: addresses, then zero, protocol 17 and the UDP length as one 32-bit word.
        let pseudo = pseudoHeaderAddressSum + UInt64((UInt32(17) << 16 | UInt32(udpLength)).bigEndian)
        let udpChecksum = ~fold(pseudo + onesComplementSum(UnsafeRawPointer(frame + udpOffset), count: udpLength))
        // RFC 768: a computed 0 is sent as all ones (0 means "no checksum").
        frame.storeBytes(of: udpChecksum == 0 ? 0xFFFF : udpChecksum, toByteOffset: udpOffset + 6, as: UInt16.self)
        return ethernetHeaderLength + ipv4HeaderLength + udpLength
    }

    /// The Internet checksum's one's-complement sum of `count` bytes, unfolded.
    ///
    /// Words are loaded in native byte order: the one's-complement sum commutes with byte
    /// swapping (RFC 1071 §2(B)), so the folded result, stored natively, is already the
    /// network-order checksum, on either endianness. Wider loads work for the same reason
    /// (2^16 ≡ 1 mod 2^16 - 1).
    @inline(__always)
    static func onesComplementSum(_ bytes: UnsafeRawPointer, count: Int) -> UInt64 {
        var sum: UInt64 = 0
        var offset = 0
        while offset + 8 <= count {
            let (partial, carry) = sum.addingReportingOverflow(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            sum = partial &+ (carry ? 1 : 0)
            offset += 8
        }
        // At most 7 bytes left: add them as 32/16/8-bit words at their natural positions.
        sum = fold32(sum)
        if offset + 4 <= count {
            sum += UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            offset += 4
        }
        if offset + 2 <= count {
            sum += UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset += 2
        }
        if offset < count {
            // The odd last byte is the high-order byte of a word padded with zero.
            let last = bytes.load(fromByteOffset: offset, as: UInt8.self)
            sum += UInt64(UInt16(bigEndian: UInt16(last) << 8))
        }
        return sum
    }

    /// Folds a 64-bit one's-complement accumulator to 32 bits (plus at most a carry bit).
    @inline(__always)
    static func fold32(_ sum: UInt64) -> UInt64 {
        let folded = (sum & 0xFFFF_FFFF) + (sum >> 32)
        return (folded & 0xFFFF_FFFF) + (folded >> 32)
    }

    /// Folds a one's-complement accumulator to 16 bits.
    @inline(__always)
    static func fold(_ sum: UInt64) -> UInt16 {
        var folded = fold32(sum)
        folded = (folded & 0xFFFF) + (folded >> 16)
        folded = (folded & 0xFFFF) + (folded >> 16)
        folded = (folded & 0xFFFF) + (folded >> 16)
        return UInt16(truncatingIfNeeded: folded)
    }

    @inline(__always)
    static func storeBigEndian<T: FixedWidthInteger>(_ value: T, _ base: UnsafeMutableRawPointer, _ offset: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}
