import Foundation
import Testing
import TickwireCore
import TickwireTestSupport
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// scripts/wireshark/tickwire.lua on real captures: PacketWriter packets sent over UDP between
/// two namespaces, captured by tcpdump, decoded by `tshark -X lua_script:…`. Serialized: each
/// test spawns processes (see XdpUdpReceiverTests).
@Suite("Wireshark dissector", .serialized)
struct WiresharkDissectorTests {
    /// In the dissector's default port range.
    static let feedPort: UInt16 = 30005
    /// Outside it: found by the heuristic alone.
    static let unlistedPort: UInt16 = 40123
    static let session = FeedTestTraffic.session
    static let channel: UInt16 = 4

    static let dissector = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/wireshark/tickwire.lua").path

    /// One packet per kind of message, with the fields tshark must show for it.
    static func feed() -> [(packet: [UInt8], fields: [String: String])] {
        func sequenced(_ sequence: UInt64, _ body: (inout PacketWriter) -> Void) -> [UInt8] {
            FeedTestTraffic.encode { writer in
                writer.begin(channel: channel, sequence: sequence, sendTime: 1_723_161_255_343_500_000, session: session)
                body(&writer)
            }
        }
        func unsequenced(_ next: UInt64, _ body: (inout PacketWriter) -> Void) -> [UInt8] {
            FeedTestTraffic.encode { writer in
                writer.begin(channel: channel, sequence: next, sendTime: 1_723_161_256_343_500_000, session: session, flags: .unsequenced)
                body(&writer)
            }
        }
        let btc = InstrumentId(7)
        let definition = InstrumentDefinition(id: btc, venue: .binanceSpot, symbol: "BTCUSDT", priceScale: Scale(2), quantityScale: Scale(5))
        return [
            (sequenced(1) { writer in
                _ = writer.append(definition)
                _ = writer.append(BookStatus(instrument: btc, state: .resyncing, reason: .sequenceGap, venueUpdateId: 50_000_123_400, changeTime: 11))
            }, [
                "tickwire.magic": "0x5754", "tickwire.version": "1", "tickwire.channel": "4", "tickwire.message_count": "2",
                "tickwire.sequence": "1", "tickwire.flags.unsequenced": "0", "tickwire.send_time": "1723161255343500000",
                "tickwire.session": "0x187a5b2c00000001", "tickwire.msg.type": "0x03,0x04", "tickwire.msg.length": "48,24",
                "tickwire.definition.instrument": "7", "tickwire.definition.venue": "1", "tickwire.definition.price_scale": "2",
                "tickwire.definition.quantity_scale": "5", "tickwire.definition.symbol_length": "7", "tickwire.definition.symbol": "BTCUSDT",
                "tickwire.status.instrument": "7", "tickwire.status.state": "3", "tickwire.status.reason": "1",
                "tickwire.status.venue_update_id": "50000123400", "tickwire.status.change_time": "11",
            ]),
            (sequenced(2) { writer in
                _ = writer.append(BookDelta(
                    instrument: btc, side: .bid, price: Price(mantissa: 6_183_763), quantity: Quantity(mantissa: 125_000),
                    venueUpdateId: 50_000_123_456, eventTime: 21, receiveTime: 22, isLastInUpdate: true))
                _ = writer.append(Trade(
                    instrument: btc, price: Price(mantissa: -6_183_762), quantity: Quantity(mantissa: 2000), aggressor: .ask,
                    tradeId: 3_735_683_259, isTradeIdDigest: true, eventTime: 23, receiveTime: 24))
            }, [
                "tickwire.sequence": "2", "tickwire.msg.type": "0x10,0x13", "tickwire.msg.flags": "0x01,0x01",
                "tickwire.delta.last_in_update": "1", "tickwire.delta.instrument": "7", "tickwire.delta.side": "0",
                "tickwire.delta.price": "6183763", "tickwire.delta.quantity": "125000", "tickwire.delta.venue_update_id": "50000123456",
                "tickwire.delta.event_time": "21", "tickwire.delta.receive_time": "22",
                "tickwire.trade.trade_id_digest": "1", "tickwire.trade.instrument": "7", "tickwire.trade.aggressor": "1",
                "tickwire.trade.price": "-6183762", "tickwire.trade.quantity": "2000", "tickwire.trade.trade_id": "3735683259",
                "tickwire.trade.event_time": "23", "tickwire.trade.receive_time": "24",
            ]),
            (sequenced(3) { writer in
                _ = writer.beginSnapshotChunk(instrument: btc, chunkIndex: 0, incrementalSequence: 2, venueUpdateId: 50_000_123_456)
                _ = writer.appendSnapshotLevel(.bid, price: Price(mantissa: 6_183_763), quantity: Quantity(mantissa: 125_000))
                _ = writer.appendSnapshotLevel(.bid, price: Price(mantissa: 6_183_700), quantity: Quantity(mantissa: 5000))
                _ = writer.appendSnapshotLevel(.ask, price: Price(mantissa: 6_183_800), quantity: Quantity(mantissa: 7000))
                writer.finishSnapshotChunk(isLast: true)
            }, [
                "tickwire.sequence": "3", "tickwire.msg.type": "0x11", "tickwire.msg.length": "80", "tickwire.snapshot.last_chunk": "1",
                "tickwire.snapshot.instrument": "7", "tickwire.snapshot.chunk_index": "0", "tickwire.snapshot.incremental_sequence": "2",
                "tickwire.snapshot.venue_update_id": "50000123456", "tickwire.snapshot.bid_count": "2", "tickwire.snapshot.ask_count": "1",
                "tickwire.snapshot.levels_offset": "32", "tickwire.level.side": "0,0,1",
                "tickwire.level.price": "6183763,6183700,6183800", "tickwire.level.quantity": "125000,5000,7000",
            ]),
            (sequenced(4) { writer in
                _ = writer.append(BestBidOffer(
                    instrument: btc, bidPrice: Price(mantissa: 6_183_763), bidQuantity: Quantity(mantissa: 1),
                    askPrice: Price(mantissa: 6_183_764), askQuantity: Quantity(mantissa: 2), venueUpdateId: 31, eventTime: 32, receiveTime: 33))
            }, [
                "tickwire.sequence": "4", "tickwire.msg.type": "0x12", "tickwire.bbo.instrument": "7",
                "tickwire.bbo.bid_price": "6183763", "tickwire.bbo.bid_quantity": "1", "tickwire.bbo.ask_price": "6183764",
                "tickwire.bbo.ask_quantity": "2", "tickwire.bbo.venue_update_id": "31", "tickwire.bbo.event_time": "32",
                "tickwire.bbo.receive_time": "33",
            ]),
            (unsequenced(5) { _ = $0.append(Heartbeat(nextSequence: 5)) }, [
                "tickwire.sequence": "5", "tickwire.flags.unsequenced": "1", "tickwire.msg.type": "0x01", "tickwire.next_sequence": "5",
            ]),
            (FeedTestTraffic.encode { writer in
                writer.begin(channel: channel, sequence: 0, sendTime: 1, session: session, flags: .unsequenced)
                _ = writer.append(RetransmitRequest(firstSequence: 2, count: 3, requestId: 77))
            }, [
                "tickwire.sequence": "0", "tickwire.msg.type": "0x05", "tickwire.retransmit_request.count": "3",
                "tickwire.retransmit_request.first_sequence": "2", "tickwire.retransmit_request.request_id": "77",
            ]),
            (unsequenced(5) { writer in
                _ = writer.append(RetransmitReject(reason: .rateLimited, firstSequence: 2, count: 3, requestId: 77, oldestAvailable: 1, nextSequence: 5))
            }, [
                "tickwire.msg.type": "0x06", "tickwire.retransmit_reject.reason": "2", "tickwire.retransmit_reject.first_sequence": "2",
                "tickwire.retransmit_reject.count": "3", "tickwire.retransmit_reject.request_id": "77",
                "tickwire.retransmit_reject.oldest_available": "1", "tickwire.retransmit_reject.next_sequence": "5",
            ]),
            (unsequenced(5) { _ = $0.append(EndOfSession(nextSequence: 5)) }, [
                "tickwire.sequence": "5", "tickwire.flags.unsequenced": "1", "tickwire.msg.type": "0x02", "tickwire.next_sequence": "5",
            ]),
        ]
    }

    static var fieldNames: [String] {
        Array(Set(feed().flatMap(\.fields.keys)).union(["tickwire.malformed", "udp.dstport"])).sorted()
    }

    @Test func everyFieldOfEveryMessageTypeDecodesFromARealCapture() throws {
        guard requireRoot("capture in a network namespace") else { return }
        let pair = try VethNamespacePair()
        let directory = try TemporaryDirectory()
        let receiver = try pair.joined(in: pair.b) { try TestUdpSocket(port: Self.feedPort) }
        let sender = try pair.joined(in: pair.a) { try TestUdpSocket() }
        let feed = Self.feed()
        // A packet a consumer must reject: bytes after the declared message.
        let malformed = FeedTestTraffic.tradePacket(sequence: 6) + [0xAB]

        let capture = try PacketCapture(namespace: pair.b.namespace, interface: pair.b.interface, packets: feed.count + 1, directory: directory)
        for (packet, _) in feed { try sender.send(packet, to: pair.b.address, port: Self.feedPort) }
        try sender.send(malformed, to: pair.b.address, port: Self.feedPort)
        var arrived: [[UInt8]] = []
        #expect(waitUntil { arrived += receiver.drain(); return arrived.count == feed.count + 1 })
        try capture.finish()

        let names = Self.fieldNames
        let rows = try Tshark.fields(names, capture: capture.file, filter: "tickwire")
        try #require(rows.count == feed.count + 1, "tshark decoded \(rows.count) Tickwire packets: \(rows)")
        for (index, (_, expected)) in feed.enumerated() {
            for (field, value) in expected.sorted(by: { $0.key < $1.key }) {
                #expect(rows[index][field] == value, "packet \(index + 1) field \(field)")
            }
            #expect(rows[index]["tickwire.malformed"] == "", "packet \(index + 1) flagged malformed")
        }
        #expect(rows[feed.count]["tickwire.sequence"] == "6")
        #expect(rows[feed.count]["tickwire.malformed"] == "1 bytes after the last message at 80")
        // After the definition (price scale 2, quantity scale 5), mantissas also show as decimals.
        let detail = try runCommand(["tshark", "-X", "lua_script:\(Self.dissector)", "-r", capture.file, "-V", "-Y", "tickwire.sequence == 2"])
        #expect(detail.contains("Price: 6183763 (61837.63)") && detail.contains("Quantity: 125000 (1.25000)"))
        #expect(detail.contains("Price: -6183762 (-61837.62)"))
    }

    @Test func theHeuristicFindsTickwireOnAnUnlistedPortAndThePortPreferenceIsHonoured() throws {
        guard requireRoot("capture in a network namespace") else { return }
        let pair = try VethNamespacePair()
        let directory = try TemporaryDirectory()
        let sender = try pair.joined(in: pair.a) { try TestUdpSocket() }
        let capture = try PacketCapture(namespace: pair.b.namespace, interface: pair.b.interface, packets: 2, directory: directory)
        try sender.send(FeedTestTraffic.tradePacket(sequence: 9), to: pair.b.address, port: Self.unlistedPort)
        try sender.send(Array("not tickwire".utf8), to: pair.b.address, port: Self.feedPort)
        try capture.finish()

        let heuristic = try Tshark.fields(["tickwire.sequence", "udp.dstport"], capture: capture.file, filter: "tickwire")
        #expect(heuristic.map { $0["tickwire.sequence"] } == ["9"])
        let withoutHeuristic = try Tshark.fields(
            ["tickwire.sequence"], capture: capture.file, filter: "tickwire",
            preferences: ["tickwire.heuristic:FALSE", "tickwire.ports:\(Self.unlistedPort)"])
        #expect(withoutHeuristic.map { $0["tickwire.sequence"] } == ["9"])
        let neither = try Tshark.fields(
            ["tickwire.sequence"], capture: capture.file, filter: "tickwire", preferences: ["tickwire.heuristic:FALSE"])
        #expect(neither.isEmpty)
    }

    /// What ops see with tcpdump on the interface an XdpUdpReceiver serves (documented in
    /// tickwire.lua's header and the README): XDP runs before the capture tap, so the redirected
    /// feed never shows there, while everything the program passes does.
    @Test func onTheXdpReceiversInterfaceACaptureShowsThePassedTrafficButNotTheRedirectedFeed() throws {
        guard requireRoot("AF_XDP receive and capture in a network namespace") else { return }
        let pair = try VethNamespacePair()
        let directory = try TemporaryDirectory()
        let object = try FeedTestTraffic.programObject.get()
        let receiver = try pair.joined(in: pair.a) {
            try XdpUdpReceiver(XdpReceiverConfiguration(interface: pair.a.interface, ports: [Self.feedPort], programObject: object))
        }
        let kernelSocket = try pair.joined(in: pair.a) { try TestUdpSocket(port: Self.unlistedPort) }
        let sender = try pair.joined(in: pair.b) { try TestUdpSocket() }
        // Only the passed packets are expected: were the feed visible, its first packets would fill the capture.
        let capture = try PacketCapture(namespace: pair.a.namespace, interface: pair.a.interface, packets: 3, directory: directory)
        for sequence in UInt64(1)...5 {
            try sender.send(FeedTestTraffic.tradePacket(sequence: sequence), to: pair.a.address, port: Self.feedPort)
        }
        var delivered: [[UInt8]] = []
        #expect(waitUntil {
            _ = receiver.poll(limit: 64) { delivered.append(Array($0.payload)) }
            return delivered.count == 5
        })
        for sequence in UInt64(101)...103 {
            try sender.send(FeedTestTraffic.tradePacket(sequence: sequence), to: pair.a.address, port: Self.unlistedPort)
        }
        try capture.finish()

        #expect(FeedTestTraffic.sequences(delivered) == [1, 2, 3, 4, 5])
        #expect(kernelSocket.drain().count == 3)
        let captured = try Tshark.fields(["tickwire.sequence", "udp.dstport"], capture: capture.file, filter: "tickwire")
        #expect(captured.map { $0["tickwire.sequence"] } == ["101", "102", "103"])
        #expect(captured.allSatisfy { $0["udp.dstport"] == "\(Self.unlistedPort)" })
    }
}

/// Runs tshark with the Tickwire dissector.
enum Tshark {
    /// One dictionary per frame passing `filter`: field name -> value as `-T fields` prints it
    /// (repeated fields joined by ",", absent fields "").
    static func fields(_ names: [String], capture: String, filter: String, preferences: [String] = []) throws -> [[String: String]] {
        var arguments = ["tshark", "-X", "lua_script:\(WiresharkDissectorTests.dissector)", "-r", capture, "-Y", filter, "-T", "fields", "-E", "separator=/t"]
        for preference in preferences { arguments += ["-o", preference] }
        for name in names { arguments += ["-e", name] }
        let output = try runCommand(arguments)
        return output.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            let values = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Dictionary(uniqueKeysWithValues: zip(names, values + Array(repeating: "", count: max(0, names.count - values.count))))
        }
    }
}
