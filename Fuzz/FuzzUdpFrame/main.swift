import TickwireTransport

// libFuzzer target for the AF_XDP frame parser (UdpFrame(parsing:)): Ethernet, one optional
// 802.1Q tag, IPv4, UDP, straight from the wire with no kernel in front of it.
//
// Input: byte 0 = mode (bit 0: repair the IPv4 header checksum before parsing, so the fuzzer
// reaches the checks behind it; bit 1: also make it a UDP datagram with consistent lengths,
// keeping the fuzzed bytes elsewhere), the rest = the frame.
//
// Checks:
// - the parser agrees with an independent reference decoder (byte arrays, written from the
//   RFCs): same verdict, same drop reason, same endpoints, same payload bytes;
// - the payload lies inside the frame (AddressSanitizer: the frame is an exactly-sized block,
//   so any read past it faults).

enum Verdict: Equatable {
    case dropped(UdpFrameDropReason)
    case datagram(source: UdpEndpoint, destination: UdpEndpoint, payload: [UInt8])
}

enum UdpFrameFuzz {
    static func run(_ data: UnsafePointer<UInt8>, _ size: Int) {
        guard size >= 1 else { return }
        var frame = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
        if data[0] & 2 != 0 { makeConsistentUdp(&frame) }
        if data[0] & 3 != 0 { repairChecksum(&frame) }

        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: frame.count, alignment: 1)
        defer { block.deallocate() }
        block.copyBytes(from: frame)
        let verdict: Verdict
        do throws(UdpFrameDropReason) {
            let parsed = try UdpFrame(parsing: UnsafeRawBufferPointer(block))
            let start = parsed.payload.baseAddress.map { $0 - UnsafeRawPointer(block.baseAddress!) } ?? 0
            precondition(start >= 0 && start + parsed.payload.count <= frame.count, "payload outside the frame")
            verdict = .datagram(source: parsed.source, destination: parsed.destination, payload: Array(parsed.payload))
        } catch {
            verdict = .dropped(error)
        }
        let expected = reference(frame)
        precondition(verdict == expected, "parser \(verdict) != reference \(expected) for \(frame)")
    }

    /// Offset of the IPv4 header when the frame is (VLAN-tagged) Ethernet carrying IPv4.
    static func ipOffset(_ frame: [UInt8]) -> Int? {
        guard frame.count >= 14 else { return nil }
        if frame[12] == 0x81 && frame[13] == 0x00 { return frame.count >= 18 ? 18 : nil }
        return 14
    }

    static func makeConsistentUdp(_ frame: inout [UInt8]) {
        guard let ip = ipOffset(frame), frame.count >= ip + 28 else { return }
        frame[ip - 2] = 0x08
        frame[ip - 1] = 0x00
        let headerLength = max(20, Int(frame[ip] & 0x0F) * 4)
        guard frame.count >= ip + headerLength + 8 else { return }
        frame[ip] = 0x40 | UInt8(headerLength / 4)
        frame[ip + 6] &= 0x80 // keep only the reserved bit: not a fragment
        frame[ip + 7] = 0
        frame[ip + 9] = 17
        let total = frame.count - ip
        frame[ip + 2] = UInt8(total >> 8 & 0xFF)
        frame[ip + 3] = UInt8(total & 0xFF)
        let udpLength = total - headerLength
        frame[ip + headerLength + 4] = UInt8(udpLength >> 8 & 0xFF)
        frame[ip + headerLength + 5] = UInt8(udpLength & 0xFF)
    }

    static func repairChecksum(_ frame: inout [UInt8]) {
        guard let ip = ipOffset(frame), frame.count >= ip + 20 else { return }
        let headerLength = Int(frame[ip] & 0x0F) * 4
        guard headerLength >= 20, frame.count >= ip + headerLength else { return }
        frame[ip + 10] = 0
        frame[ip + 11] = 0
        let sum = ~wordSum(frame, from: ip, count: headerLength)
        frame[ip + 10] = UInt8(sum >> 8)
        frame[ip + 11] = UInt8(sum & 0xFF)
    }

    static func wordSum(_ bytes: [UInt8], from start: Int, count: Int) -> UInt16 {
        var sum = 0
        for word in stride(from: start, to: start + count, by: 2) { sum += Int(bytes[word]) << 8 | Int(bytes[word + 1]) }
        while sum > 0xFFFF { sum = sum % 0x10000 + sum / 0x10000 }
        return UInt16(sum)
    }

    static func be16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }

    /// The checks in the order the parser documents, on a plain byte array.
    static func reference(_ frame: [UInt8]) -> Verdict {
        guard frame.count >= 14 else { return .dropped(.truncatedEthernet) }
        var ip = 14
        var etherType = be16(frame, 12)
        if etherType == 0x8100 {
            guard frame.count >= 18 else { return .dropped(.truncatedEthernet) }
            etherType = be16(frame, 16)
            ip = 18
        }
        guard etherType == 0x0800 else { return .dropped(.notIPv4) }
        let ipBytes = Array(frame[ip...])
        guard ipBytes.count >= 20 else { return .dropped(.truncatedIPv4Header) }
        guard ipBytes[0] / 16 == 4 else { return .dropped(.badIPVersion) }
        let headerLength = Int(ipBytes[0] % 16) * 4
        guard headerLength >= 20 && headerLength <= ipBytes.count else { return .dropped(.badIPHeaderLength) }
        let total = be16(ipBytes, 2)
        guard total >= headerLength && total <= ipBytes.count else { return .dropped(.badIPTotalLength) }
        guard wordSum(ipBytes, from: 0, count: headerLength) == 0xFFFF else { return .dropped(.badIPChecksum) }
        let moreFragments = ipBytes[6] & 0x20 != 0
        let fragmentOffset = be16(ipBytes, 6) % 0x2000
        guard !moreFragments && fragmentOffset == 0 else { return .dropped(.fragment) }
        guard ipBytes[9] == 17 else { return .dropped(.notUDP) }
        let udp = Array(ipBytes[headerLength..<total])
        guard udp.count >= 8 else { return .dropped(.truncatedUdpHeader) }
        let udpLength = be16(udp, 4)
        guard udpLength >= 8 && udpLength <= udp.count else { return .dropped(.badUdpLength) }
        func address(_ at: Int) -> IPv4Address {
            IPv4Address(ipBytes[at..<(at + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        return .datagram(
            source: UdpEndpoint(address: address(12), port: UInt16(be16(udp, 0))),
            destination: UdpEndpoint(address: address(16), port: UInt16(be16(udp, 2))),
            payload: Array(udp[8..<udpLength]))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUdpFrame(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    UdpFrameFuzz.run(data, size)
    return 0
}
