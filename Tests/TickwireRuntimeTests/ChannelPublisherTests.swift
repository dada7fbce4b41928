import Testing
import TickwireCore
import TickwireRuntime
import TickwireTransport

// The incremental channel's publisher: numbering, packing, flushing, heartbeats, end of
// session, A/B lines and inline snapshots, checked on the decoded bytes it hands its senders.

@Suite struct ChannelPublisherTests {
    typealias F = PublisherFixture

    @Test func packetsAreNumberedFromOneAndEachCarriesTheSession() throws {
        let log = SendLog()
        let publisher = try F.publisher(log: log, clock: ManualClock())
        for update in 1...5 as ClosedRange<UInt64> {
            publisher.publish(F.delta(price: 100 + Int64(update), quantity: 1, update: update))
            publisher.flush()
        }
        let headers = log.sends.compactMap { decode($0.bytes)?.header }
        #expect(headers.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(headers.allSatisfy { $0.session == F.session && $0.channel == 1 && $0.flags.isEmpty })
        #expect(publisher.nextSequence == 6)
        #expect(publisher.counters.packets == 5)
    }

    @Test func definitionPrecedesTheInstrumentsFirstMessageOnce() throws {
        let log = SendLog()
        let publisher = try F.publisher(log: log, clock: ManualClock())
        publisher.publish(F.delta(price: 1, quantity: 1, update: 1))
        publisher.publish(F.delta(price: 2, quantity: 1, update: 2))
        publisher.flush()
        let messages = try #require(decode(log.sends[0].bytes)).messages
        #expect(messages.count == 3)
        #expect(messages[0] == .plain(.instrumentDefinition(WireInstrumentDefinition(F.btc))))
        #expect(messages.dropFirst().allSatisfy { if case .plain(.bookDelta) = $0 { true } else { false } })
    }

    @Test func everyEventKindIsCarriedInPublishOrder() throws {
        let log = SendLog()
        let publisher = try F.publisher(log: log, clock: ManualClock())
        let trade = Trade(instrument: F.eth.id, price: Price(mantissa: 300_000), quantity: Quantity(mantissa: 2), aggressor: .ask,
                          tradeId: 99, eventTime: 5, receiveTime: 6)
        let quote = BestBidOffer(instrument: F.eth.id, bidPrice: Price(mantissa: 299_999), bidQuantity: Quantity(mantissa: 1),
                                 askPrice: Price(mantissa: 300_001), askQuantity: Quantity(mantissa: 4), venueUpdateId: 7, eventTime: 5, receiveTime: 6)
        let status = BookStatus(instrument: F.eth.id, state: .invalid, reason: .disconnected, venueUpdateId: 7, changeTime: 8)
        let delta = F.delta(F.eth.id, price: 299_999, quantity: 1, update: 7)
        publisher.publish(status)
        publisher.publish(delta)
        publisher.publish(trade)
        publisher.publish(quote)
        publisher.flush()
        #expect(decode(log.sends[0].bytes)?.messages == [
            .plain(.instrumentDefinition(WireInstrumentDefinition(F.eth))), .plain(.bookStatus(status)), .plain(.bookDelta(delta)),
            .plain(.trade(trade)), .plain(.bestBidOffer(quote)),
        ])
    }

    @Test func eventsOfAnInstrumentNotOnTheChannelAreCountedAndDropped() throws {
        let log = SendLog()
        let publisher = try F.publisher(log: log, clock: ManualClock())
        publisher.publish(F.delta(InstrumentId(7), price: 1, quantity: 1, update: 1))
        publisher.publish(F.delta(InstrumentId(9000), price: 1, quantity: 1, update: 1))
        publisher.flush()
        #expect(publisher.undefinedInstrumentEvents == 2)
        #expect(log.sends.isEmpty && publisher.nextSequence == 1)
    }

    @Test func messagesArePackedUpToTheMaxPacketSizeAndSentAtFlushOnly() throws {
        let log = SendLog()
        let publisher = try F.publisher(log: log, clock: ManualClock())
        // 48 (definition) + 60 × 48 (deltas): 28 messages fit a 1400-byte packet.
        for index in 0..<60 { publisher.publish(F.delta(price: Int64(index), quantity: 5, update: 9, last: index == 59)) }
        #expect(log.sends.isEmpty, "nothing goes out before the venue batch ends")
        #expect(publisher.hasUnsentPackets)
        publisher.flush()
        let packets = log.sends.compactMap { decode($0.bytes) }
        #expect(packets.map(\.messages.count) == [28, 28, 5])
        #expect(log.sends.allSatisfy { $0.bytes.count <= WireProtocol.defaultMaxPacketSize })
        #expect(log.calls == 1, "one batch, one send call")
        let deltas = packets.flatMap(\.messages).compactMap { message -> BookDelta? in
            if case .plain(.bookDelta(let delta)) = message { delta } else { nil }
        }
        #expect(deltas.map(\.price.mantissa) == (0..<60).map(Int64.init))
        #expect(deltas.filter(\.isLastInUpdate).count == 1 && deltas.last?.isLastInUpdate == true)
        #expect(!publisher.hasUnsentPackets)
    }

    @Test func smallerMaxPacketSizePacksFewerMessages() throws {
        let log = SendLog()
        let publisher = try F.publisher(F.configuration(maxPacketSize: 32 + 3 * 48), log: log, clock: ManualClock())
        for index in 0..<7 { publisher.publish(F.delta(price: Int64(index), quantity: 5, update: 9)) }
        publisher.flush()
        #expect(log.sends.map(\.bytes.count) == [32 + 144, 32 + 144, 32 + 96])
    }

    @Test func maxPacketSizeFollowsTheInterfaceMTU() {
        #expect(ChannelConfiguration.maxPacketSize(forInterfaceMTU: 1500) == 1472)
        #expect(ChannelConfiguration.maxPacketSize(forInterfaceMTU: 9000) == 8972)
        #expect(ChannelConfiguration.maxPacketSize(forInterfaceMTU: 65536) == WireProtocol.largestPacketSize)
        #expect(ChannelConfiguration.maxPacketSize(forInterfaceMTU: 155) == nil)
    }

    @Test func aBatchLargerThanOneSendGoesOutInSeveralCalls() throws {
        var configuration = F.configuration()
        configuration.packetsPerSend = 2
        let log = SendLog()
        let publisher = try F.publisher(configuration, log: log, clock: ManualClock())
        for index in 0..<(28 * 5) { publisher.publish(F.delta(price: Int64(index), quantity: 5, update: 1)) }
        publisher.flush()
        #expect(log.sends.compactMap { decode($0.bytes)?.header.sequence } == [1, 2, 3, 4, 5, 6])
        #expect(log.calls == 3)
    }

    @Test func sendTimeIsTheClockAtSend() throws {
        let log = SendLog()
        let clock = ManualClock()
        let publisher = try F.publisher(log: log, clock: clock)
        publisher.publish(F.delta(price: 1, quantity: 1, update: 1))
        clock.advance(by: 777)
        publisher.flush()
        #expect(decode(log.sends[0].bytes)?.header.sendTime == clock.time)
    }

    @Test func heartbeatGoesOutOnlyAfterTheIdleInterval() throws {
        let log = SendLog()
        let clock = ManualClock()
        let publisher = try F.publisher(log: log, clock: clock)
        publisher.publish(F.delta(price: 1, quantity: 1, update: 1))
        publisher.flush()
        clock.advance(by: 999_999_999)
        #expect(!publisher.heartbeatIfIdle())
        clock.advance(by: 1)
        #expect(publisher.heartbeatIfIdle())
        #expect(!publisher.heartbeatIfIdle(), "the heartbeat itself resets the idle time")
        clock.advance(by: 1_000_000_000)
        #expect(publisher.heartbeatIfIdle())
        let heartbeats = log.sends.dropFirst().compactMap { decode($0.bytes) }
        #expect(heartbeats.count == 2)
        for packet in heartbeats {
            #expect(packet.header.flags == .unsequenced && packet.header.sequence == 2 && packet.header.session == F.session)
            #expect(packet.messages == [.plain(.heartbeat(Heartbeat(nextSequence: 2)))])
        }
        #expect(publisher.nextSequence == 2, "heartbeats consume no sequence number")
        #expect(publisher.counters.heartbeats == 2)
    }

    @Test func noHeartbeatWhileEventsWaitForTheFlush() throws {
        let log = SendLog()
        let clock = ManualClock()
        var configuration = F.configuration()
        configuration.heartbeatInterval = 10
        let publisher = try F.publisher(configuration, log: log, clock: clock)
        publisher.publish(F.delta(price: 1, quantity: 1, update: 1))
        clock.advance(by: 100)
        #expect(!publisher.heartbeatIfIdle())
        #expect(log.sends.isEmpty)
    }

    @Test func endOfSessionFlushesThenRepeatsEndOfSession() throws {
        let log = SendLog()
        let publisher = try F.publisher(log: log, clock: ManualClock())
        publisher.publish(F.delta(price: 1, quantity: 1, update: 1))
        publisher.endSession()
        publisher.endSession()
        let packets = log.sends.compactMap { decode($0.bytes) }
        #expect(packets.count == 1 + 3)
        #expect(packets[0].header.sequence == 1 && packets[0].header.flags.isEmpty)
        for packet in packets.dropFirst() {
            #expect(packet.header.flags == .unsequenced && packet.header.sequence == 2)
            #expect(packet.messages == [.plain(.endOfSession(EndOfSession(nextSequence: 2)))])
        }
        #expect(publisher.isEnded && !publisher.heartbeatIfIdle())
    }

    @Test func abLinesCarryByteIdenticalPackets() throws {
        let log = SendLog()
        let clock = ManualClock()
        let publisher = try F.publisher(log: log, clock: clock, abLines: true)
        for index in 0..<100 {
            publisher.publish(F.delta(price: Int64(index), quantity: 5, update: UInt64(index)))
            if index % 10 == 9 { publisher.flush() }
        }
        clock.advance(by: 2_000_000_000)
        publisher.heartbeatIfIdle()
        publisher.endSession()
        let lineA = log.packets(to: F.lineA)
        #expect(lineA.count == 10 + 1 + 3)
        #expect(lineA == log.packets(to: F.lineB))
    }

    @Test func abLinesOverRealSocketsDeliverByteIdenticalCopies() throws {
        let receivers = try (0..<2).map { _ in try UnicastUdpSocket(bindingTo: UdpEndpoint(address: F.loopback, port: 0)) }
        let lines = try receivers.map { receiver in
            PublishLine(sender: try StandardUdpSender(configuration: SenderConfiguration()), destination: receiver.localEndpoint)
        }
        let publisher = try ChannelPublisher(
            configuration: F.configuration(), lines: lines, clock: WallClock(), instruments: [F.btc, F.eth], instrumentCapacity: 16)
        for index in 0..<300 {
            publisher.publish(F.delta(index % 2 == 0 ? F.btc.id : F.eth.id, price: Int64(index), quantity: 5, update: UInt64(index / 30), last: index % 30 == 29))
            if index % 30 == 29 { publisher.flush() }
        }
        publisher.endSession()
        let expected = publisher.counters.packets + publisher.counters.endOfSessions
        let lineA = try receiveDatagrams(expected, on: receivers[0]).map(\.bytes)
        let lineB = try receiveDatagrams(expected, on: receivers[1]).map(\.bytes)
        #expect(lineA.count == expected && lineA == lineB)
        let packets = lineA.compactMap { decode($0) }
        #expect(packets.filter { $0.header.flags.isEmpty }.map(\.header.sequence) == Array(1...UInt64(publisher.counters.packets)))
        #expect(publisher.counters.sendErrors == 0 && publisher.counters.wouldBlock == 0)
    }

    @Test func inlineSnapshotSpansPacketsTaggedWithChunkZerosPacket() throws {
        let log = SendLog()
        let publisher = try F.publisher(log: log, clock: ManualClock())
        let books = try BookTable(capacity: 16, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: 200), policy: .init(attempts: [.normal]))
        try books.activate(F.btc.id, levelsPerSide: 200)
        let bids = (0..<150).map { BookLevel(price: Price(mantissa: 10_000 - Int64($0)), quantity: Quantity(mantissa: 1 + Int64($0))) }
        let asks = (0..<120).map { BookLevel(price: Price(mantissa: 10_001 + Int64($0)), quantity: Quantity(mantissa: 7)) }
        books.withBook(F.btc.id) { book in
            book.applySnapshot(bids: bids, asks: asks)
            book.updateId = 4242
        }
        publisher.publish(F.delta(price: 1, quantity: 1, update: 1))
        publisher.flush()
        publisher.publish(F.delta(price: 1, quantity: 0, update: 2))
        books.withBook(F.btc.id) { publisher.publishSnapshot(of: F.btc.id, book: $0) }
        publisher.publish(BookStatus(instrument: F.btc.id, state: .valid, reason: .none, venueUpdateId: 4242, changeTime: 5))
        publisher.flush()
        #expect(publisher.isBookValid(F.btc.id))

        let packets = log.sends.dropFirst().compactMap { decode($0.bytes) }
        let chunks = packets.flatMap(\.messages).compactMap { message -> DecodedChunk? in
            if case .snapshot(let chunk) = message { chunk } else { nil }
        }
        #expect(chunks.map(\.chunkIndex) == Array(0..<UInt16(chunks.count)))
        #expect(chunks.count == 4)  // 80 levels in chunk 0 (after the delta), 83 in each later one: 270 levels
        #expect(chunks.allSatisfy { $0.incrementalSequence == 2 && $0.venueUpdateId == 4242 && $0.instrument == F.btc.id })
        #expect(chunks.map(\.isLastChunk) == [false, false, false, true])
        #expect(chunks.flatMap(\.bids) == bids && chunks.flatMap(\.asks) == asks)
        #expect(packets[0].header.sequence == 2, "chunk 0 shares the packet of the delta before it")
        for (index, packet) in packets.enumerated().dropFirst() {
            guard case .snapshot(let chunk) = packet.messages.first else {
                Issue.record("packet \(index) does not start with a chunk")
                continue
            }
            #expect(chunk.chunkIndex == UInt16(index))
        }
        guard case .plain(.bookStatus(let status)) = packets.last?.messages.last else {
            Issue.record("the status follows the snapshot")
            return
        }
        #expect(status.state == .valid)
    }

    @Test func statusesAreRememberedForTheSnapshotLoop() throws {
        let publisher = try F.publisher(log: SendLog(), clock: ManualClock())
        #expect(!publisher.isBookValid(F.btc.id))
        #expect(publisher.lastStatus(of: F.btc.id).reason == .snapshotPending)
        publisher.publish(BookStatus(instrument: F.btc.id, state: .valid, reason: .none, venueUpdateId: 1, changeTime: 1))
        #expect(publisher.isBookValid(F.btc.id))
        publisher.publish(BookStatus(instrument: F.btc.id, state: .resyncing, reason: .sequenceGap, venueUpdateId: 2, changeTime: 2))
        #expect(!publisher.isBookValid(F.btc.id))
        #expect(publisher.lastStatus(of: F.btc.id).reason == .sequenceGap)
    }
}
