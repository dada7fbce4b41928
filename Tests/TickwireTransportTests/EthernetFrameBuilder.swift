/// Builds Ethernet/IPv4/UDP frames byte by byte for the frame-parser and AF_XDP receiver tests,
/// with knobs to break each field the parser checks.
struct EthernetFrameBuilder {
    var destinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
    var sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    var vlanTag: UInt16?
    var etherType: UInt16 = 0x0800
    var ipVersion: UInt8 = 4
    var ipOptions: [UInt8] = []
    /// IHL in 32-bit words; nil = the right one.
    var ipHeaderWords: UInt8?
    /// Added to the right total length.
    var totalLengthDelta = 0
    var fragmentField: UInt16 = 0x4000 // DF
    var ipProtocol: UInt8 = 17
    var breakChecksum = false
    var source: (address: [UInt8], port: UInt16) = ([10, 0, 0, 1], 40000)
    var destination: (address: [UInt8], port: UInt16) = ([10, 0, 0, 2], 30001)
    /// Added to the right UDP length.
    var udpLengthDelta = 0
    /// Bytes after the IP datagram (Ethernet padding).
    var trailer: [UInt8] = []

    func build(payload: [UInt8]) -> [UInt8] {
        var frame = destinationMAC + sourceMAC
        if let vlanTag { frame += Self.be16(0x8100) + Self.be16(vlanTag) }
        frame += Self.be16(etherType)
        let headerLength = 20 + ipOptions.count
        let udpLength = 8 + payload.count
        var ip: [UInt8] = [ipVersion << 4 | (ipHeaderWords ?? UInt8(headerLength / 4)), 0]
        ip += Self.be16(UInt16(truncatingIfNeeded: headerLength + udpLength + totalLengthDelta))
        ip += Self.be16(0x1234) + Self.be16(fragmentField) + [64, ipProtocol, 0, 0]
        ip += source.address + destination.address + ipOptions
        let checksum = ~Self.onesComplementSum(ip) &+ (breakChecksum ? 1 : 0)
        ip[10] = UInt8(checksum >> 8)
        ip[11] = UInt8(checksum & 0xFF)
        let udp = Self.be16(source.port) + Self.be16(destination.port)
            + Self.be16(UInt16(truncatingIfNeeded: udpLength + udpLengthDelta)) + [0, 0]
        return frame + ip + udp + payload + trailer
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    static func onesComplementSum(_ bytes: [UInt8]) -> UInt16 {
        var sum = 0
        for index in stride(from: 0, to: bytes.count, by: 2) { sum += Int(bytes[index]) << 8 | Int(bytes[index + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return UInt16(sum)
    }
}
