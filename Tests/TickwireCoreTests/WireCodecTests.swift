import Foundation
import Testing
import TickwireCore

// Wire codec: round trips of random packets, the documented examples byte for byte, one test
// per decode error, and random corruption that must give a typed error, never a crash.

@Suite struct WireCodecTests {
    // MARK: Round trips

    @Test(arguments: WireSeeds.list(24))
    func randomPacketsRoundTrip(seed: UInt64) {
        var random = WireRandom(seed: seed)
        for _ in 0..<60 {
            let packet = random.packet()
            let outcome = WireSamples.decode(packet.bytes)
            #expect(outcome.error == nil, "seed \(seed)")
            #expect(outcome.header == packet.header, "seed \(seed)")
            #expect(outcome.messages == packet.messages, "seed \(seed)")
            #expect(packet.bytes.count <= packet.maxPacketSize, "seed \(seed)")
        }
    }

    @Test func fullPacketHoldsTwentyEightDeltasInDefaultSize() {
        var random = WireRandom(seed: 28)
        var buffer = [UInt8](repeating: 0xAA, count: WireProtocol.defaultMaxPacketSize)
        let (length, appended) = buffer.withUnsafeMutableBytes { bytes in
            var writer = PacketWriter(buffer: bytes)
            writer.begin(channel: 3, sequence: 1, sendTime: 0, session: 9)
            var appended = 0
            while writer.append(random.bookDelta()) { appended += 1 }
            return (writer.finish(), appended)
        }
        #expect(appended == 28)
        #expect(length == 32 + 28 * 48)
        let outcome = WireSamples.decode(Array(buffer[..<length]))
        #expect(outcome.error == nil)
        #expect(outcome.messages.count == 28)
    }

    @Test func appendThatDoesNotFitLeavesThePacketIntact() {
        var random = WireRandom(seed: 7)
        let maxPacketSize = 32 + 48 + 40  // room for one delta, not a second
        var buffer = [UInt8](repeating: 0, count: maxPacketSize)
        let first = random.bookDelta()
        let length = buffer.withUnsafeMutableBytes { bytes in
            var writer = PacketWriter(buffer: bytes, maxPacketSize: maxPacketSize)
            writer.begin(channel: 1, sequence: 5, sendTime: 6, session: 7)
            let results = [
                writer.append(first), writer.append(random.bookDelta()), writer.append(random.bestBidOffer()),
                writer.append(Heartbeat(nextSequence: 1)),  // 16 bytes still fit
            ]
            #expect(results == [true, false, false, true])
            #expect(writer.messageCount == 2)
            return writer.finish()
        }
        #expect(length == 32 + 48 + 16)
        let outcome = WireSamples.decode(Array(buffer[..<length]))
        #expect(outcome.error == nil)
        #expect(outcome.messages == [.plain(.bookDelta(first)), .plain(.heartbeat(Heartbeat(nextSequence: 1)))])
    }

    @Test func finishCanStampTheSendTime() {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBytes { bytes in
            var writer = PacketWriter(buffer: bytes, maxPacketSize: 64)
            writer.begin(channel: 1, sequence: 1, sendTime: 0, session: 2)
            return writer.finish(sendTime: 123_456_789)
        }
        #expect(WireSamples.decode(Array(buffer[..<length])).header?.sendTime == 123_456_789)
    }

    @Test func everyMessageStartsEightByteAligned() {
        var random = WireRandom(seed: 8)
        for _ in 0..<50 {
            let packet = random.packet()
            var offset = WireProtocol.packetHeaderSize
            while offset < packet.bytes.count {
                #expect(offset % 8 == 0)
                offset += Int(packet.bytes[offset]) | Int(packet.bytes[offset + 1]) << 8
            }
        }
    }

    @Test func largeSnapshotSplitsIntoChunksAndReassembles() {
        var random = WireRandom(seed: 500)
        let bids = (0..<700).map { OwnedLevel(price: Price(mantissa: 1_000_000 - Int64($0)), quantity: random.quantity()) }
        let asks = (0..<650).map { OwnedLevel(price: Price(mantissa: 1_000_001 + Int64($0)), quantity: random.quantity()) }
        let levels = bids.map { (Side.bid, $0) } + asks.map { (Side.ask, $0) }
        var packets: [[UInt8]] = []
        var next = 0
        var chunkIndex: UInt16 = 0
        var buffer = [UInt8](repeating: 0, count: WireProtocol.defaultMaxPacketSize)
        while next < levels.count {
            let length = buffer.withUnsafeMutableBytes { bytes in
                var writer = PacketWriter(buffer: bytes)
                writer.begin(channel: 2, sequence: UInt64(packets.count + 1), sendTime: 1, session: 3)
                let trade = Trade(instrument: InstrumentId(1), price: .zero, quantity: .zero, aggressor: .bid, tradeId: 1, eventTime: 0, receiveTime: 0)
                let opened = writer.append(trade) && writer.beginSnapshotChunk(instrument: InstrumentId(9), chunkIndex: chunkIndex, incrementalSequence: 77, venueUpdateId: 88)
                #expect(opened)
                while next < levels.count, writer.appendSnapshotLevel(levels[next].0, price: levels[next].1.price, quantity: levels[next].1.quantity) {
                    next += 1
                }
                writer.finishSnapshotChunk(isLast: next == levels.count)
                return writer.finish()
            }
            packets.append(Array(buffer[..<length]))
            chunkIndex += 1
        }
        #expect(packets.count == 17)  // (1400 - 32 - 48 - 32) / 16 = 80 levels per chunk
        var reassembledBids: [OwnedLevel] = []
        var reassembledAsks: [OwnedLevel] = []
        for (index, packet) in packets.enumerated() {
            let outcome = WireSamples.decode(packet)
            #expect(outcome.error == nil)
            guard case .snapshot(let chunk) = outcome.messages.last else {
                Issue.record("packet \(index) has no snapshot chunk")
                return
            }
            #expect(chunk.chunkIndex == UInt16(index))
            #expect(chunk.isLastChunk == (index == packets.count - 1))
            #expect(chunk.incrementalSequence == 77 && chunk.venueUpdateId == 88 && chunk.instrument == InstrumentId(9))
            #expect(chunk.bids.isEmpty || reassembledAsks.isEmpty, "bids precede asks")
            reassembledBids += chunk.bids
            reassembledAsks += chunk.asks
        }
        #expect(reassembledBids == bids)
        #expect(reassembledAsks == asks)
    }

    @Test func receivedSnapshotChunkRelaysIntoAnotherPacket() {
        var random = WireRandom(seed: 11)
        let original = OwnedWireMessage.snapshot(random.snapshotChunk(maxLevels: 30))
        let first = WireSamples.encode([original], channel: 1, sequence: 1, session: 1)
        var relayed = [UInt8](repeating: 0, count: 1400)
        let length = first.withUnsafeBytes { packet in
            relayed.withUnsafeMutableBytes { bytes in
                var writer = PacketWriter(buffer: bytes)
                writer.begin(channel: 2, sequence: 10, sendTime: 0, session: 1)
                var reader = try! PacketReader(packet: packet)
                while let message = try! reader.next() {
                    let appended = writer.append(message)
                    #expect(appended)
                }
                return writer.finish()
            }
        }
        #expect(WireSamples.decode(Array(relayed[..<length])).messages == [original])
    }

    @Test func instrumentDefinitionCarriesVenueSymbolAndScales() throws {
        let definition = InstrumentDefinition(
            id: InstrumentId(42), venue: .okx, symbol: "BTC-USDT-SWAP-LONG-NAME-32-BYTES",
            priceScale: Scale(1), quantityScale: Scale(8))
        var buffer = [UInt8](repeating: 0xFF, count: 128)
        let length = buffer.withUnsafeMutableBytes { bytes in
            var writer = PacketWriter(buffer: bytes, maxPacketSize: 128)
            writer.begin(channel: 1, sequence: 1, sendTime: 0, session: 1)
            let appended = writer.append(definition)
            #expect(appended)
            return writer.finish()
        }
        #expect(buffer[32 + 16 + 32 - 1] == UInt8(ascii: "S"))
        guard case .plain(.instrumentDefinition(let decoded)) = WireSamples.decode(Array(buffer[..<length])).messages.first else {
            Issue.record("no definition decoded")
            return
        }
        #expect(decoded.definition == definition)
        #expect(decoded.symbol.string == definition.symbol)
    }

    @Test func definitionOfAVenueThisBuildDoesNotKnowStillDecodes() {
        let future = WireInstrumentDefinition(
            instrument: InstrumentId(3), venueCode: 200, priceScale: Scale(2), quantityScale: Scale(3), symbol: WireSymbol("NEW")!)
        let outcome = WireSamples.decode(WireSamples.encode([.plain(.instrumentDefinition(future))]))
        #expect(outcome.messages == [.plain(.instrumentDefinition(future))])
        #expect(future.venue == nil && future.definition == nil)
    }

    @Test func symbolLongerThanThirtyTwoBytesIsRefused() {
        #expect(WireSymbol(String(repeating: "x", count: 33)) == nil)
        #expect(WireSymbol(String(repeating: "é", count: 16))?.count == 32)
    }

    // MARK: Forward compatibility

    @Test func unknownMessageTypeIsSkippedAndReported() {
        var random = WireRandom(seed: 12)
        let delta = random.bookDelta()
        let trade = random.trade()
        var bytes = WireSamples.encode([.plain(.bookDelta(delta)), .plain(.trade(trade))])
        bytes[32 + 2] = 0x7E  // the delta becomes a type from the future
        let outcome = WireSamples.decode(bytes)
        #expect(outcome.error == nil)
        #expect(outcome.messages == [.plain(.unknown(type: 0x7E)), .plain(.trade(trade))])
    }

    @Test func fieldsAppendedByANewerVersionAreSkipped() {
        var random = WireRandom(seed: 13)
        let messages = (0..<6).map { _ in random.message(maxSnapshotLevels: 4) }
        let bytes = WireSamples.encode(messages)
        for index in messages.indices {
            let grown = WireSamples.appendingBytes(8 * (index + 1), toMessage: index, of: bytes)
            let outcome = WireSamples.decode(grown)
            #expect(outcome.error == nil)
            #expect(outcome.messages == messages)
        }
    }

    @Test func snapshotFieldsAddedBeforeTheLevelsAreSkipped() {
        var random = WireRandom(seed: 14)
        let chunk = OwnedWireMessage.snapshot(random.snapshotChunk(maxLevels: 6))
        var bytes = WireSamples.encode([chunk])
        let levels = Array(bytes[(32 + 32)...])
        bytes.replaceSubrange((32 + 32)..., with: [UInt8](repeating: 0xEE, count: 8) + levels)
        WireSamples.setUInt16(&bytes, at: 32, to: UInt16(bytes.count - 32))  // message length
        WireSamples.setUInt16(&bytes, at: 32 + 28, to: 40)  // levelsOffset
        #expect(WireSamples.decode(bytes).messages == [chunk])
    }

    @Test func unknownFlagBitsAreIgnored() {
        var random = WireRandom(seed: 15)
        let delta = random.bookDelta()
        var bytes = WireSamples.encode([.plain(.bookDelta(delta))])
        bytes[3] |= 0xFE  // packet flags
        bytes[32 + 3] |= 0xFE  // message flags
        let outcome = WireSamples.decode(bytes)
        #expect(outcome.messages == [.plain(.bookDelta(delta))])
        #expect(outcome.header?.flags.contains(.unsequenced) == false)
    }

    // MARK: The documented examples, byte for byte

    @Test func documentedExamplePacketsMatchTheEncoder() throws {
        let document = try String(contentsOf: WireSamples.repositoryRoot.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let session: UInt64 = 0x187A_5B2C_0000_0001
        let delta = BookDelta(
            instrument: InstrumentId(7), side: .bid, price: Price(mantissa: 6_183_763), quantity: Quantity(mantissa: 125_000),
            venueUpdateId: 50_000_123_456, eventTime: 0, receiveTime: 1_723_161_255_342_417_125, isLastInUpdate: true)
        let trade = Trade(
            instrument: InstrumentId(7), price: Price(mantissa: 6_183_762), quantity: Quantity(mantissa: 2000), aggressor: .ask,
            tradeId: 3_735_683_259, eventTime: 1_723_161_255_342_000_000, receiveTime: 1_723_161_255_342_887_680)
        let packet = WireSamples.encode(
            [.plain(.bookDelta(delta)), .plain(.trade(trade))], channel: 1, sequence: 42,
            sendTime: 1_723_161_255_343_500_000, session: session)
        let heartbeat = WireSamples.encode(
            [.plain(.heartbeat(Heartbeat(nextSequence: 43)))], channel: 1, sequence: 43,
            sendTime: 1_723_161_256_343_500_000, session: session, flags: .unsequenced)
        #expect(WireSamples.hexBlock(named: "example-packet", in: document) == packet, Comment(rawValue: "\n" + WireSamples.hexDump(packet)))
        #expect(WireSamples.hexBlock(named: "example-heartbeat", in: document) == heartbeat, Comment(rawValue: "\n" + WireSamples.hexDump(heartbeat)))
    }

    @Test func documentedRetransmitExamplesMatchTheEncoder() throws {
        let document = try String(contentsOf: WireSamples.repositoryRoot.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let session: UInt64 = 0x187A_5B2C_0000_0001
        let request = WireSamples.encode(
            [.plain(.retransmitRequest(RetransmitRequest(firstSequence: 40, count: 3, requestId: 7)))], channel: 1, sequence: 0,
            sendTime: 1_723_161_256_400_000_000, session: session, flags: .unsequenced)
        let reject = WireSamples.encode(
            [.plain(.retransmitReject(RetransmitReject(reason: .notAvailable, firstSequence: 30, count: 8, requestId: 8, oldestAvailable: 38, nextSequence: 43)))],
            channel: 1, sequence: 43, sendTime: 1_723_161_256_400_100_000, session: session, flags: .unsequenced)
        #expect(WireSamples.hexBlock(named: "example-retransmit-request", in: document) == request, Comment(rawValue: "\n" + WireSamples.hexDump(request)))
        #expect(WireSamples.hexBlock(named: "example-retransmit-reject", in: document) == reject, Comment(rawValue: "\n" + WireSamples.hexDump(reject)))
    }

    // MARK: Retransmission messages

    @Test func retransmitMessagesRoundTripAtTheirExtremes() {
        let messages: [OwnedWireMessage] = [
            .plain(.retransmitRequest(RetransmitRequest(firstSequence: .max, count: .max, requestId: .max))),
            .plain(.retransmitRequest(RetransmitRequest(firstSequence: 1, count: 1, requestId: 0))),
            .plain(.retransmitReject(RetransmitReject(reason: .rateLimited, firstSequence: .max, count: .max, requestId: .max, oldestAvailable: .max, nextSequence: .max))),
            .plain(.retransmitReject(RetransmitReject(reason: .invalidRequest, firstSequence: 0, count: 0, requestId: 0, oldestAvailable: 0, nextSequence: 0))),
        ]
        let outcome = WireSamples.decode(WireSamples.encode(messages, flags: .unsequenced))
        #expect(outcome.error == nil)
        #expect(outcome.messages == messages)
    }

    @Test func rejectReasonsAreAnOpenSet() {
        let future = RetransmitReject(reason: RetransmitReject.Reason(rawValue: 200), firstSequence: 5, count: 1, requestId: 2, oldestAvailable: 1, nextSequence: 9)
        let outcome = WireSamples.decode(WireSamples.encode([.plain(.retransmitReject(future))]))
        #expect(outcome.messages == [.plain(.retransmitReject(future))])
        #expect(future.reason.description == "reason(200)")
    }

    @Test(arguments: [(WireMessageType.retransmitRequest, 24), (WireMessageType.retransmitReject, 48)])
    func retransmitMessageShorterThanItsTypeIsRejected(type: WireMessageType, length: Int) {
        let message: OwnedWireMessage = type == .retransmitRequest
            ? .plain(.retransmitRequest(RetransmitRequest(firstSequence: 1, count: 1, requestId: 1)))
            : .plain(.retransmitReject(RetransmitReject(reason: .notAvailable, firstSequence: 1, count: 1, requestId: 1, oldestAvailable: 1, nextSequence: 2)))
        let bytes = WireSamples.encode([message])
        #expect(type.minimumLength == length && bytes.count == 32 + length)
        var shortened = Array(bytes[..<(bytes.count - 8)])
        WireSamples.setUInt16(&shortened, at: 32, to: UInt16(length - 8))
        #expect(WireSamples.decode(shortened).error == .messageTooShort(offset: 32, type: type.rawValue, length: length - 8))
        for cut in 32..<bytes.count {
            #expect(WireSamples.decode(Array(bytes[..<cut])).error != nil, "cut at \(cut)")
        }
    }

    // MARK: Every decode error

    @Test func packetShorterThanItsHeaderIsRejected() {
        let valid = WireSamples.encode([])
        #expect(WireSamples.decode([]).error == .packetTooShort(length: 0))
        #expect(WireSamples.decode(Array(valid[..<31])).error == .packetTooShort(length: 31))
    }

    @Test func packetLongerThanAUDPPayloadIsRejected() {
        let bytes = WireSamples.encode([]) + [UInt8](repeating: 0, count: WireProtocol.largestPacketSize)
        #expect(WireSamples.decode(bytes).error == .packetTooLong(length: bytes.count))
    }

    @Test func badMagicIsRejected() {
        var bytes = WireSamples.encode([])
        bytes[0] = 0x55
        #expect(WireSamples.decode(bytes).error == .badMagic(0x5755))
    }

    @Test func unsupportedVersionIsRejected() {
        var bytes = WireSamples.encode([])
        bytes[2] = 2
        #expect(WireSamples.decode(bytes).error == .unsupportedVersion(2))
    }

    @Test func truncatedMessageHeaderIsRejected() {
        let bytes = WireSamples.encode([.plain(.heartbeat(Heartbeat(nextSequence: 1)))])
        #expect(WireSamples.decode(Array(bytes[..<35])).error == .truncatedMessageHeader(offset: 32, available: 3))
    }

    @Test func messageShorterThanItsHeaderIsRejected() {
        var bytes = WireSamples.encode([.plain(.heartbeat(Heartbeat(nextSequence: 1)))])
        WireSamples.setUInt16(&bytes, at: 32, to: 0)  // a zero length must not loop forever
        #expect(WireSamples.decode(bytes).error == .messageTooShort(offset: 32, type: 0x01, length: 0))
    }

    @Test func messageShorterThanItsTypeIsRejected() {
        var random = WireRandom(seed: 16)
        var bytes = WireSamples.encode([.plain(.bookDelta(random.bookDelta())), .plain(.heartbeat(Heartbeat(nextSequence: 1)))])
        bytes[32 + 48 + 2] = WireMessageType.trade.rawValue  // a 16-byte "trade"
        #expect(WireSamples.decode(bytes).error == .messageTooShort(offset: 80, type: 0x13, length: 16))
    }

    @Test func messageOverrunningThePacketIsRejected() {
        var random = WireRandom(seed: 17)
        let bytes = WireSamples.encode([.plain(.bestBidOffer(random.bestBidOffer()))])
        #expect(WireSamples.decode(Array(bytes.dropLast())).error == .messageOverrunsPacket(offset: 32, length: 64, available: 63))
    }

    @Test func snapshotLevelsOverrunningTheMessageAreRejected() {
        var random = WireRandom(seed: 18)
        let bytes = WireSamples.encode([.snapshot(random.snapshotChunk(maxLevels: 5))])
        var tooManyLevels = bytes
        tooManyLevels[32 + 26] &+= 1  // askCount
        #expect(WireSamples.decode(tooManyLevels).error == .snapshotLevelsOverrunMessage(offset: 32))
        var levelsInsideFixedFields = bytes
        WireSamples.setUInt16(&levelsInsideFixedFields, at: 32 + 28, to: 24)
        #expect(WireSamples.decode(levelsInsideFixedFields).error == .snapshotLevelsOverrunMessage(offset: 32))
    }

    @Test func invalidSideIsRejected() {
        var random = WireRandom(seed: 19)
        var delta = WireSamples.encode([.plain(.bookDelta(random.bookDelta()))])
        delta[32 + 6] = 2
        #expect(WireSamples.decode(delta).error == .invalidFieldValue(offset: 32, type: 0x10, field: 6, value: 2))
        var trade = WireSamples.encode([.plain(.trade(random.trade()))])
        trade[32 + 6] = 0xFF
        #expect(WireSamples.decode(trade).error == .invalidFieldValue(offset: 32, type: 0x13, field: 6, value: 0xFF))
    }

    @Test func invalidBookStateIsRejected() {
        var random = WireRandom(seed: 20)
        var bytes = WireSamples.encode([.plain(.bookStatus(random.bookStatus()))])
        bytes[32 + 6] = 0
        #expect(WireSamples.decode(bytes).error == .invalidFieldValue(offset: 32, type: 0x04, field: 6, value: 0))
    }

    @Test func scaleBeyondEighteenDigitsIsRejected() {
        var random = WireRandom(seed: 21)
        var bytes = WireSamples.encode([.plain(.instrumentDefinition(random.instrumentDefinition()))])
        bytes[32 + 8] = 19
        #expect(WireSamples.decode(bytes).error == .invalidFieldValue(offset: 32, type: 0x03, field: 8, value: 19))
    }

    @Test func symbolLengthBeyondThirtyTwoIsRejected() {
        var random = WireRandom(seed: 22)
        var bytes = WireSamples.encode([.plain(.instrumentDefinition(random.instrumentDefinition()))])
        bytes[32 + 9] = 33
        #expect(WireSamples.decode(bytes).error == .invalidFieldValue(offset: 32, type: 0x03, field: 9, value: 33))
    }

    @Test func fewerMessagesThanDeclaredAreRejected() {
        var bytes = WireSamples.encode([.plain(.heartbeat(Heartbeat(nextSequence: 1)))])
        bytes[6] = 2
        let outcome = WireSamples.decode(bytes)
        #expect(outcome.error == .messageCountMismatch(declared: 2, found: 1))
        #expect(outcome.messages.count == 1)
    }

    @Test func bytesAfterTheDeclaredMessagesAreRejected() {
        var bytes = WireSamples.encode([.plain(.heartbeat(Heartbeat(nextSequence: 1))), .plain(.endOfSession(EndOfSession(nextSequence: 1)))])
        bytes[6] = 1
        #expect(WireSamples.decode(bytes).error == .trailingBytes(offset: 48, count: 16))
    }

    // MARK: Corruption never crashes

    @Test(arguments: WireSeeds.list(16))
    func everyTruncationOfAValidPacketIsRejected(seed: UInt64) {
        var random = WireRandom(seed: seed)
        let packet = random.packet()
        for length in 0..<packet.bytes.count {
            #expect(WireSamples.decode(Array(packet.bytes[..<length])).error != nil, "seed \(seed), length \(length)")
        }
    }

    /// Random corruptions decode to either messages or a typed error. Each input sits in a
    /// buffer of exactly its size, so an out-of-bounds read shows up under
    /// `swift test --sanitize=address`.
    @Test(arguments: WireSeeds.list(16))
    func randomCorruptionGivesMessagesOrATypedError(seed: UInt64) {
        var random = WireRandom(seed: seed)
        var rejected = 0
        for _ in 0..<400 {
            let corrupted = random.corrupted(random.packet().bytes)
            let outcome = WireSamples.decode(corrupted)
            if outcome.error == nil {
                #expect(outcome.messages.count == Int(outcome.header?.messageCount ?? 0), "seed \(seed)")
            } else {
                rejected += 1
            }
        }
        #expect(rejected > 0, "seed \(seed): corruption should be caught at least sometimes")
    }
}

// MARK: - Fixtures shared with WireCHeaderTests

/// A level copied out of a packet.
struct OwnedLevel: Equatable {
    var price: Price
    var quantity: Quantity
}

/// A snapshot chunk with its levels copied out, so it outlives the packet buffer.
struct OwnedSnapshotChunk: Equatable {
    var instrument: InstrumentId
    var chunkIndex: UInt16
    var isLastChunk: Bool
    var incrementalSequence: UInt64
    var venueUpdateId: UInt64
    var bids: [OwnedLevel]
    var asks: [OwnedLevel]

    init(_ chunk: BookSnapshotChunk) {
        instrument = chunk.instrument
        chunkIndex = chunk.chunkIndex
        isLastChunk = chunk.isLastChunk
        incrementalSequence = chunk.incrementalSequence
        venueUpdateId = chunk.venueUpdateId
        bids = (0..<chunk.bidCount).map { OwnedLevel(price: chunk.bid(at: $0).price, quantity: chunk.bid(at: $0).quantity) }
        asks = (0..<chunk.askCount).map { OwnedLevel(price: chunk.ask(at: $0).price, quantity: chunk.ask(at: $0).quantity) }
    }

    init(
        instrument: InstrumentId, chunkIndex: UInt16, isLastChunk: Bool, incrementalSequence: UInt64,
        venueUpdateId: UInt64, bids: [OwnedLevel], asks: [OwnedLevel]
    ) {
        self.instrument = instrument
        self.chunkIndex = chunkIndex
        self.isLastChunk = isLastChunk
        self.incrementalSequence = incrementalSequence
        self.venueUpdateId = venueUpdateId
        self.bids = bids
        self.asks = asks
    }

    var encodedLength: Int { 32 + 16 * (bids.count + asks.count) }
}

/// A decoded message that owns all its data: `.plain` never holds a `.bookSnapshot`.
enum OwnedWireMessage: Equatable {
    case plain(WireMessage)
    case snapshot(OwnedSnapshotChunk)

    init(_ message: WireMessage) {
        if case .bookSnapshot(let chunk) = message { self = .snapshot(OwnedSnapshotChunk(chunk)) } else { self = .plain(message) }
    }

    /// False, with nothing written, when the message does not fit.
    func append(to writer: inout PacketWriter) -> Bool {
        switch self {
        case .plain(let message):
            return writer.append(message)
        case .snapshot(let chunk):
            guard writer.length + chunk.encodedLength <= writer.maxPacketSize else { return false }
            let opened = writer.beginSnapshotChunk(
                instrument: chunk.instrument, chunkIndex: chunk.chunkIndex,
                incrementalSequence: chunk.incrementalSequence, venueUpdateId: chunk.venueUpdateId)
            precondition(opened)
            for level in chunk.bids { precondition(writer.appendSnapshotLevel(.bid, price: level.price, quantity: level.quantity)) }
            for level in chunk.asks { precondition(writer.appendSnapshotLevel(.ask, price: level.price, quantity: level.quantity)) }
            writer.finishSnapshotChunk(isLast: chunk.isLastChunk)
            return true
        }
    }
}

/// What decoding a packet gave: the header (if valid), the messages read before any error, the error.
struct WireDecodeOutcome {
    var header: PacketHeader?
    var messages: [OwnedWireMessage] = []
    var error: WireDecodeError?
}

struct RandomPacket {
    var bytes: [UInt8]
    var header: PacketHeader
    var messages: [OwnedWireMessage]
    var maxPacketSize: Int
}

enum WireSamples {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Decodes from a buffer of exactly the packet's size (no slack for a stray read to hide in).
    static func decode(_ bytes: [UInt8]) -> WireDecodeOutcome {
        let exact = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { exact.deallocate() }
        exact.copyBytes(from: bytes)
        var outcome = WireDecodeOutcome()
        do throws(WireDecodeError) {
            var reader = try PacketReader(packet: UnsafeRawBufferPointer(exact))
            outcome.header = reader.header
            while let message = try reader.next() { outcome.messages.append(OwnedWireMessage(message)) }
        } catch {
            outcome.error = error
        }
        return outcome
    }

    static func encode(
        _ messages: [OwnedWireMessage], channel: UInt16 = 1, sequence: UInt64 = 1, sendTime: UInt64 = 0,
        session: UInt64 = 1, flags: PacketFlags = []
    ) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: WireProtocol.largestPacketSize)
        let length = buffer.withUnsafeMutableBytes { bytes in
            var writer = PacketWriter(buffer: bytes, maxPacketSize: WireProtocol.largestPacketSize)
            writer.begin(channel: channel, sequence: sequence, sendTime: sendTime, session: session, flags: flags)
            for message in messages { precondition(message.append(to: &writer)) }
            return writer.finish()
        }
        return Array(buffer[..<length])
    }

    /// Grows message `index` by `extra` zero bytes, as a newer version appending fields would.
    static func appendingBytes(_ extra: Int, toMessage index: Int, of packet: [UInt8]) -> [UInt8] {
        var offset = WireProtocol.packetHeaderSize
        for _ in 0..<index { offset += messageLength(packet, at: offset) }
        let length = messageLength(packet, at: offset)
        var grown = packet
        grown.insert(contentsOf: [UInt8](repeating: 0, count: extra), at: offset + length)
        setUInt16(&grown, at: offset, to: UInt16(length + extra))
        return grown
    }

    static func messageLength(_ packet: [UInt8], at offset: Int) -> Int {
        Int(packet[offset]) | Int(packet[offset + 1]) << 8
    }

    static func setUInt16(_ bytes: inout [UInt8], at offset: Int, to value: UInt16) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    /// The bytes of a hex dump between `<!-- name: begin` and `<!-- name: end -->`: on each
    /// line, up to 16 two-digit tokens after the offset column.
    static func hexBlock(named name: String, in document: String) -> [UInt8]? {
        guard let begin = document.range(of: "<!-- \(name): begin"),
            let end = document.range(of: "<!-- \(name): end -->", range: begin.upperBound..<document.endIndex)
        else { return nil }
        var bytes: [UInt8] = []
        for line in document[begin.upperBound..<end.lowerBound].split(separator: "\n") where !line.hasPrefix("<") && !line.hasPrefix("`") {
            let tokens = line.split(separator: " ").dropFirst()
            bytes += tokens.prefix(16).prefix { $0.count == 2 }.compactMap { UInt8($0, radix: 16) }
        }
        return bytes
    }

    /// The layout of the documented examples, to paste into PROTOCOL.md when they change.
    static func hexDump(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 16).map { start in
            let row = bytes[start..<min(start + 16, bytes.count)].map { String(format: "%02x", $0) }
            let left = row.prefix(8).joined(separator: " ")
            let right = row.dropFirst(8).joined(separator: " ")
            return String(format: "%04x  ", start) + left + (right.isEmpty ? "" : "  " + right)
        }.joined(separator: "\n")
    }

    /// Valid packets of every type, then the same with future extensions (unknown types,
    /// appended fields), then corrupted ones: the C decoder must agree on all of them.
    static func mixedPackets(seed: UInt64) -> [[UInt8]] {
        var random = WireRandom(seed: seed)
        var packets = (0..<150).map { _ in random.packet().bytes }
        for _ in 0..<50 {
            var bytes = random.packet().bytes
            let count = Int(bytes[6]) | Int(bytes[7]) << 8
            guard count > 0 else { continue }
            let index = random.below(count)
            bytes = appendingBytes(8 * random.below(3), toMessage: index, of: bytes)
            var offset = WireProtocol.packetHeaderSize
            for _ in 0..<index { offset += messageLength(bytes, at: offset) }
            if random.below(2) == 0 { bytes[offset + 2] = UInt8(0x20 + random.below(0xE0)) }
            packets.append(bytes)
        }
        packets += (0..<300).map { _ in random.corrupted(random.packet().bytes) }
        packets.append(encode([]) + [UInt8](repeating: 0, count: WireProtocol.largestPacketSize))
        return packets
    }
}

/// Seeds for the property tests; Swift Testing names the failing seed. TICKWIRE_SEED=<n>
/// reruns one.
enum WireSeeds {
    static func list(_ count: Int) -> [UInt64] {
        if let pinned = ProcessInfo.processInfo.environment["TICKWIRE_SEED"].flatMap(UInt64.init) { return [pinned] }
        var random = WireRandom(seed: 0x7715_E5EE_D000)
        return (0..<count).map { _ in random.next() }
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): deterministic on every platform, so a seed
/// reproduces a failure exactly.
private struct WireRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension WireRandom {
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// Mostly ordinary magnitudes, sometimes any 64-bit value (edge cases of sign and width).
    mutating func mantissa() -> Int64 {
        switch below(4) {
        case 0: Int64(bitPattern: next())
        case 1: 0
        default: Int64(below(100_000_000))
        }
    }

    mutating func time() -> UInt64 { below(5) == 0 ? 0 : 1_700_000_000_000_000_000 + next() % 100_000_000_000_000_000 }
    mutating func id() -> UInt64 { below(3) == 0 ? next() : UInt64(below(1_000_000_000)) }
    mutating func instrument() -> InstrumentId { InstrumentId(UInt16(truncatingIfNeeded: next())) }
    mutating func side() -> Side { below(2) == 0 ? .bid : .ask }
    mutating func quantity() -> Quantity { Quantity(mantissa: mantissa()) }

    mutating func bookDelta() -> BookDelta {
        BookDelta(
            instrument: instrument(), side: side(), price: Price(mantissa: mantissa()), quantity: quantity(),
            venueUpdateId: id(), eventTime: time(), receiveTime: time(), isLastInUpdate: below(2) == 0)
    }

    mutating func trade() -> Trade {
        Trade(
            instrument: instrument(), price: Price(mantissa: mantissa()), quantity: quantity(), aggressor: side(),
            tradeId: id(), isTradeIdDigest: below(4) == 0, eventTime: time(), receiveTime: time())
    }

    mutating func bestBidOffer() -> BestBidOffer {
        BestBidOffer(
            instrument: instrument(), bidPrice: Price(mantissa: mantissa()), bidQuantity: quantity(),
            askPrice: Price(mantissa: mantissa()), askQuantity: quantity(), venueUpdateId: id(), eventTime: time(), receiveTime: time())
    }

    mutating func bookStatus() -> BookStatus {
        BookStatus(
            instrument: instrument(), state: BookStatus.State.allCases[below(3)],
            reason: BookStatus.Reason(rawValue: UInt8(below(2) == 0 ? below(9) : below(256))), venueUpdateId: id(), changeTime: time())
    }

    mutating func retransmitRequest() -> RetransmitRequest {
        RetransmitRequest(firstSequence: id(), count: UInt32(truncatingIfNeeded: below(3) == 0 ? next() : UInt64(below(1025))), requestId: next())
    }

    mutating func retransmitReject() -> RetransmitReject {
        RetransmitReject(
            reason: RetransmitReject.Reason(rawValue: UInt8(below(2) == 0 ? 1 + below(5) : below(256))), firstSequence: id(),
            count: UInt32(truncatingIfNeeded: next()), requestId: next(), oldestAvailable: id(), nextSequence: id())
    }

    mutating func instrumentDefinition() -> WireInstrumentDefinition {
        let alphabet = Array("ABCXYZ-_/0189é€")
        var symbol = ""
        let wanted = below(33)
        while symbol.utf8.count < wanted {
            let character = alphabet[below(alphabet.count)]
            if symbol.utf8.count + String(character).utf8.count > wanted { break }
            symbol.append(character)
        }
        return WireInstrumentDefinition(
            instrument: instrument(), venueCode: UInt8(below(256)), priceScale: Scale(UInt8(below(19))),
            quantityScale: Scale(UInt8(below(19))), symbol: WireSymbol(symbol)!)
    }

    mutating func snapshotChunk(maxLevels: Int) -> OwnedSnapshotChunk {
        OwnedSnapshotChunk(
            instrument: instrument(), chunkIndex: UInt16(below(200)), isLastChunk: below(2) == 0,
            incrementalSequence: id(), venueUpdateId: id(),
            bids: (0..<below(maxLevels + 1)).map { _ in OwnedLevel(price: Price(mantissa: mantissa()), quantity: quantity()) },
            asks: (0..<below(maxLevels + 1)).map { _ in OwnedLevel(price: Price(mantissa: mantissa()), quantity: quantity()) })
    }

    mutating func message(maxSnapshotLevels: Int) -> OwnedWireMessage {
        switch below(12) {
        case 0: .plain(.heartbeat(Heartbeat(nextSequence: id())))
        case 1: .plain(.endOfSession(EndOfSession(nextSequence: id())))
        case 2: .plain(.instrumentDefinition(instrumentDefinition()))
        case 3: .plain(.bookStatus(bookStatus()))
        case 4: .snapshot(snapshotChunk(maxLevels: maxSnapshotLevels))
        case 5: .plain(.bestBidOffer(bestBidOffer()))
        case 6: .plain(.trade(trade()))
        case 7: .plain(.retransmitRequest(retransmitRequest()))
        case 8: .plain(.retransmitReject(retransmitReject()))
        default: .plain(.bookDelta(bookDelta()))
        }
    }

    /// Messages until one does not fit or a random count is reached, under a random packet size.
    mutating func packet() -> RandomPacket {
        let maxPacketSize = [WireProtocol.defaultMaxPacketSize, 32 + below(600), 9000][below(3)]
        var buffer = [UInt8](repeating: UInt8(truncatingIfNeeded: next()), count: maxPacketSize)
        let header = PacketHeader(
            channel: UInt16(truncatingIfNeeded: next()), flags: PacketFlags(rawValue: UInt8(below(2))), messageCount: 0,
            sequence: id(), sendTime: time(), session: next())
        let wanted = below(40)
        var messages: [OwnedWireMessage] = []
        let length = buffer.withUnsafeMutableBytes { bytes in
            var writer = PacketWriter(buffer: bytes, maxPacketSize: maxPacketSize)
            writer.begin(channel: header.channel, sequence: header.sequence, sendTime: header.sendTime, session: header.session, flags: header.flags)
            while messages.count < wanted {
                let message = self.message(maxSnapshotLevels: 24)
                guard message.append(to: &writer) else { break }
                messages.append(message)
            }
            return writer.finish()
        }
        var decodedHeader = header
        decodedHeader.messageCount = UInt16(messages.count)
        return RandomPacket(bytes: Array(buffer[..<length]), header: decodedHeader, messages: messages, maxPacketSize: maxPacketSize)
    }

    /// Byte and bit damage aimed at lengths, counts and enum fields as well as anywhere,
    /// sometimes truncation or extension.
    mutating func corrupted(_ packet: [UInt8]) -> [UInt8] {
        var bytes = packet
        for _ in 0..<(1 + below(4)) where !bytes.isEmpty {
            let target = below(3) == 0 ? below(min(bytes.count, 48)) : below(bytes.count)
            switch below(4) {
            case 0: bytes[target] = UInt8(truncatingIfNeeded: next())
            case 1: bytes[target] ^= 1 << UInt8(below(8))
            case 2: bytes[target] &+= 1
            default: bytes[target] &-= 1
            }
        }
        switch below(6) {
        case 0: bytes.removeLast(below(bytes.count + 1))
        case 1: bytes += (0..<below(24)).map { _ in UInt8(truncatingIfNeeded: next()) }
        default: break
        }
        return bytes
    }
}
