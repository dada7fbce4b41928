import Testing
import TickwireTransport

@Suite("UdpFrameBuilder")
struct UdpFrameBuilderTests {
    private let flow = UdpFrameBuilder.Flow(
        sourceMAC: MACAddress("02:00:00:00:00:01")!, destinationMAC: MACAddress("02:00:00:00:00:02")!,
        source: UdpEndpoint("10.77.1.1:40000")!, destination: UdpEndpoint("10.77.1.2:30001")!, ttl: 64)

    private func frame(payload: [UInt8], identification: UInt16 = 1) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: UdpFrameBuilder.headerLength + payload.count)
        let length = bytes.withUnsafeMutableBytes { buffer in
            UdpFrameBuilder.writeTemplate(flow, to: buffer.baseAddress!)
            buffer.baseAddress!.advanced(by: UdpFrameBuilder.headerLength).copyMemory(from: payload, byteCount: payload.count)
            return UdpFrameBuilder.finish(buffer.baseAddress!, payloadLength: payload.count,
                                          identification: identification, pseudoHeaderAddressSum: flow.pseudoHeaderAddressSum)
        }
        #expect(length == bytes.count)
        return bytes
    }

    @Test(arguments: [0, 1, 2, 3, 5, 7, 8, 9, 63, 64, 65, 1472])
    func checksumsVerifyWithAPlainRFC1071SumForEveryPayloadLength(length: Int) {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 0xA5) }
        let bytes = frame(payload: payload, identification: UInt16(truncatingIfNeeded: length &* 7919))
        #expect(verifiedUdpPayload(bytes) == payload)
    }

    @Test func headersCarryTheFlowsAddressesPortsAndTTL() {
        let bytes = frame(payload: [1, 2, 3], identification: 0x1234)
        #expect(Array(bytes[0..<12]) == [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1])
        #expect(Array(bytes[12..<14]) == [0x08, 0x00])
        #expect(Array(bytes[14..<24]) == [0x45, 0, 0, 31, 0x12, 0x34, 0x40, 0, 64, 17])
        #expect(Array(bytes[26..<34]) == [10, 77, 1, 1, 10, 77, 1, 2])
        #expect(Array(bytes[34..<40]) == [0x9C, 0x40, 0x75, 0x31, 0, 11])
    }

    @Test func aComputedZeroUDPChecksumIsSentAsAllOnes() {
        // Search a two-byte payload whose checksum computes to zero; RFC 768 sends 0xFFFF.
        for value in 0...UInt16.max {
            let payload = [UInt8(value >> 8), UInt8(value & 0xFF)]
            let bytes = frame(payload: payload)
            let udp = Array(bytes[34...])
            let pseudo = Array(bytes[26..<34]) + [0, 17, 0, UInt8(udp.count)]
            if referenceInternetChecksum(pseudo + udp[0..<6] + [0, 0] + udp[8...]) == 0 {
                #expect(udp[6] == 0xFF && udp[7] == 0xFF)
                return
            }
        }
        Issue.record("no payload with a zero checksum found")
    }

    @Test func multicastGroupsMapToTheirEthernetAddress() {
        #expect(MACAddress(multicast: IPv4Address("239.255.0.1")!).description == "01:00:5e:7f:00:01")
        #expect(MACAddress(multicast: IPv4Address("224.128.1.2")!).description == "01:00:5e:00:01:02")
        #expect(MACAddress("aa:BB:cc:dd:ee:0f")?.description == "aa:bb:cc:dd:ee:0f")
        #expect(MACAddress("aa:bb:cc:dd:ee") == nil)
    }
}
