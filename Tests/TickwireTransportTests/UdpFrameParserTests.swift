import Testing
import TickwireTransport

@Suite("UdpFrameParser")
struct UdpFrameParserTests {
    func parse(_ frame: [UInt8]) -> Result<(UdpEndpoint, UdpEndpoint, [UInt8]), UdpFrameDropReason> {
        frame.withUnsafeBytes { bytes in
            do throws(UdpFrameDropReason) {
                let parsed = try UdpFrame(parsing: bytes)
                return .success((parsed.source, parsed.destination, Array(parsed.payload)))
            } catch {
                return .failure(error)
            }
        }
    }

    func reason(_ frame: [UInt8]) -> UdpFrameDropReason? {
        if case .failure(let reason) = parse(frame) { reason } else { nil }
    }

    @Test func validFrameYieldsEndpointsAndExactlyTheUdpPayload() throws {
        var builder = EthernetFrameBuilder()
        builder.trailer = [0xEE, 0xEE, 0xEE] // Ethernet padding is not payload
        let (source, destination, payload) = try parse(builder.build(payload: [1, 2, 3, 4, 5])).get()
        #expect(source == UdpEndpoint("10.0.0.1:40000"))
        #expect(destination == UdpEndpoint("10.0.0.2:30001"))
        #expect(payload == [1, 2, 3, 4, 5])
    }

    @Test func oneVlanTagAndIPOptionsAreSkipped() throws {
        var builder = EthernetFrameBuilder()
        builder.vlanTag = 42
        builder.ipOptions = [1, 1, 1, 0]
        builder.destination = ([239, 255, 0, 1], 30002)
        let (_, destination, payload) = try parse(builder.build(payload: Array(0..<64))).get()
        #expect(destination == UdpEndpoint("239.255.0.1:30002"))
        #expect(payload == Array(0..<64))
    }

    @Test func emptyPayloadIsADatagram() throws {
        #expect(try parse(EthernetFrameBuilder().build(payload: [])).get().2 == [])
    }

    @Test func eachMalformedFieldIsDroppedUnderItsReason() {
        func broken(_ change: (inout EthernetFrameBuilder) -> Void) -> [UInt8] {
            var builder = EthernetFrameBuilder()
            change(&builder)
            return builder.build(payload: [9, 9, 9, 9])
        }
        let valid = EthernetFrameBuilder().build(payload: [9, 9, 9, 9])
        #expect(reason([]) == .truncatedEthernet)
        #expect(reason(Array(valid.prefix(13))) == .truncatedEthernet)
        #expect(reason(Array(broken { $0.vlanTag = 1 }.prefix(17))) == .truncatedEthernet)
        #expect(reason(broken { $0.etherType = 0x0806 }) == .notIPv4)
        #expect(reason(broken { $0.etherType = 0x86DD }) == .notIPv4)
        #expect(reason(Array(valid.prefix(14 + 19))) == .truncatedIPv4Header)
        #expect(reason(broken { $0.ipVersion = 6 }) == .badIPVersion)
        #expect(reason(broken { $0.ipHeaderWords = 4 }) == .badIPHeaderLength)
        #expect(reason(Array(broken { $0.ipHeaderWords = 15 }.prefix(14 + 40))) == .badIPHeaderLength)
        #expect(reason(broken { $0.totalLengthDelta = 1 }) == .badIPTotalLength)
        #expect(reason(broken { $0.totalLengthDelta = -13 }) == .badIPTotalLength)
        #expect(reason(broken { $0.breakChecksum = true }) == .badIPChecksum)
        #expect(reason(broken { $0.fragmentField = 0x2000 }) == .fragment)
        #expect(reason(broken { $0.fragmentField = 0x0001 }) == .fragment)
        #expect(reason(broken { $0.ipProtocol = 6 }) == .notUDP)
        #expect(reason(broken { $0.totalLengthDelta = -5 }) == .truncatedUdpHeader)
        #expect(reason(broken { $0.udpLengthDelta = 1 }) == .badUdpLength)
        #expect(reason(broken { $0.udpLengthDelta = -5 }) == .badUdpLength)
    }

    @Test func dropCountsStartAtZeroAndCountEachReasonSeparately() {
        var counts = UdpFrameDropCounts()
        #expect(counts.total == 0 && counts.description == "none")
        for reason in UdpFrameDropReason.allCases { counts[reason] += reason.rawValue + 1 }
        for reason in UdpFrameDropReason.allCases { #expect(counts[reason] == reason.rawValue + 1) }
        counts = UdpFrameDropCounts()
        counts[.badIPChecksum] = 2
        counts[.badUdpLength] = 1
        #expect(counts.description == "bad-ip-checksum 2, bad-udp-length 1")
    }
}
