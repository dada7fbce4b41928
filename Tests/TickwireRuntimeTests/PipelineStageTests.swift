import Testing
import TickwireCore
import TickwireSystem
import TickwireTransport
import TickwireVenues
@testable import TickwireRuntime

/// The staged topology's parts, one thread playing both sides: the ingest ring's overflow
/// rule, the book stage's resync path back, and the packet ring to the send stage.
@Suite struct PipelineStageTests {
    typealias F = PublisherFixture
    static let normalPages = HotMemoryPolicy(attempts: [.normal])

    static func drain(_ link: IngestLink) -> [IngestEvent] {
        var events: [IngestEvent] = []
        while let event = link.events.consumer.tryPop() { events.append(event) }
        return events
    }

    @Test func aFullEventRingInvalidatesOnlyTheOverflowedBookThenAsksForItsResync() throws {
        let link = try IngestLink(eventCapacity: 4, instrumentCapacity: 2, policy: Self.normalPages)
        var sink = EventRingSink(link: link, instrumentCapacity: 2)
        let btc = InstrumentId(0), eth = InstrumentId(1)
        for update in 1...3 { sink.bookDelta(F.delta(btc, price: 100, quantity: Int64(update), update: UInt64(update))) }
        sink.bookDelta(F.delta(eth, price: 200, quantity: 1, update: 1))
        // The ring holds 4: BTC's next delta is refused, and so is everything of BTC after it.
        sink.bookDelta(F.delta(btc, price: 100, quantity: 4, update: 4))
        sink.updateComplete(btc, venueUpdateId: 4, checksum: .none, eventTime: 0, receiveTime: 0)
        #expect(sink.counters.droppedEvents == 2)
        #expect(sink.counters.overflowedBooks == 1)
        #expect(!sink.hasPendingResyncs, "the resync waits until the book stage has been told")
        #expect(Self.drain(link).count == 4)

        // Room again: the invalidation goes first, then BTC's events flow (the keeper ignores
        // them until the resync's snapshot), and the adapter is asked to resync BTC only.
        sink.bookDelta(F.delta(btc, price: 101, quantity: 5, update: 5))
        let events = Self.drain(link)
        guard case .bookInvalid(let instrument, let reason, _) = events.first else {
            Issue.record("expected the invalidation first, got \(events)")
            return
        }
        #expect(instrument == btc && reason == .ringOverflow)
        #expect(events.count == 2)
        #expect(sink.hasPendingResyncs)
        #expect(sink.nextResync() == btc)
        #expect(sink.nextResync() == nil)
    }

    @Test func aBookTheKeeperFindsCrossedGoesBackToItsOwnIngestLinkForResync() throws {
        let log = SendLog(), clock = ManualClock()
        let publisher = try F.publisher(log: log, clock: clock)
        let books = try BookTable(capacity: 2, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 10))
        var instruments = InstrumentTable(capacity: 2)
        for definition in [F.btc, F.eth] {
            _ = try instruments.add(venue: definition.venue, symbol: definition.symbol, priceScale: definition.priceScale, quantityScale: definition.quantityScale)
            try books.activate(definition.id, levelsPerSide: 10)
        }
        let observer = PublishingObserver(publisher: publisher, snapshots: nil, retransmission: nil, books: books, instrumentCapacity: 2)
        let btcLink = try IngestLink(eventCapacity: 64, instrumentCapacity: 2, policy: Self.normalPages)
        let ethLink = try IngestLink(eventCapacity: 64, instrumentCapacity: 2, policy: Self.normalPages)
        var stage = BookStage(keeper: BookKeeper(books: books, instruments: instruments, observer: observer),
                              links: [(btcLink, [F.btc.id]), (ethLink, [F.eth.id])], instrumentCapacity: 2)
        var btcSink = EventRingSink(link: btcLink, instrumentCapacity: 2)
        var ethSink = EventRingSink(link: ethLink, instrumentCapacity: 2)
        func snapshot(_ sink: inout EventRingSink, _ id: InstrumentId) {
            sink.snapshotBegins(id, receiveTime: 1)
            sink.bookDelta(F.delta(id, side: .bid, price: 100, quantity: 1, update: 1))
            sink.bookDelta(F.delta(id, side: .ask, price: 101, quantity: 1, update: 1))
            sink.updateComplete(id, venueUpdateId: 1, checksum: .none, eventTime: 0, receiveTime: 1)
            sink.batchEnded()
        }
        snapshot(&btcSink, F.btc.id)
        snapshot(&ethSink, F.eth.id)
        // ETH's bid crosses its ask.
        ethSink.bookDelta(F.delta(F.eth.id, side: .bid, price: 102, quantity: 1, update: 2))
        ethSink.updateComplete(F.eth.id, venueUpdateId: 2, checksum: .none, eventTime: 0, receiveTime: 2)
        ethSink.batchEnded()
        while stage.poll() > 0 {}
        #expect(stage.keeper.state(of: F.btc.id) == .valid)
        #expect(stage.keeper.state(of: F.eth.id) == .invalid)
        #expect(!btcSink.hasPendingResyncs)
        #expect(ethSink.nextResync() == F.eth.id)
        #expect(!log.sends.isEmpty, "the valid updates were published")
    }

    @Test func packetsCrossTheRingInOrderPerDestinationAndAFullRingRefusesTheRest() throws {
        let ring = try PacketRing(capacity: 4, slotSize: 64, policy: Self.normalPages)
        let log = SendLog()
        var sender = ring.sender(describing: "recording")
        var stage = SendStage(ring: ring, sender: RecordingSender(log: log))
        defer { stage.release() }
        let payloads: [[UInt8]] = (0..<5).map { index in [UInt8](repeating: UInt8(index), count: 10 + index) }
        func send(_ range: Range<Int>, to destination: UdpEndpoint) -> SendReport {
            let buffers = payloads[range].map { payload in
                let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: payload.count, alignment: 1)
                memory.copyBytes(from: payload)
                return memory
            }
            defer { buffers.forEach { $0.deallocate() } }
            let packets = buffers.map { OutgoingPacket(UnsafeRawBufferPointer($0)) }
            return packets.withUnsafeBufferPointer { sender.send($0, to: destination) }
        }
        #expect(send(0..<3, to: F.lineA).packets == 3)
        let full = send(3..<5, to: F.lineB)
        #expect(full.packets == 1 && full.wouldBlock == 1)
        #expect(ring.packetsRefused == 1)
        #expect(stage.poll() == 4)
        #expect(log.calls == 2, "one send per destination run")
        #expect(log.packets(to: F.lineA) == Array(payloads[0..<3]))
        #expect(log.packets(to: F.lineB) == [payloads[3]])
        #expect(stage.counters.packets == 4)
        // The slots are free again, and a packet larger than a slot is an error, never cut.
        let oversize = [UInt8](repeating: 9, count: 65)
        let report = oversize.withUnsafeBytes { bytes in
            [OutgoingPacket(bytes)].withUnsafeBufferPointer { sender.send($0, to: F.lineA) }
        }
        #expect(report.errors == 1 && report.packets == 0)
        #expect(send(4..<5, to: F.lineB).packets == 1)
        #expect(stage.poll() == 1)
        #expect(log.packets(to: F.lineB) == [payloads[3], payloads[4]])
    }

    @Test(arguments: ["busy-spin", "spin-yield", "spin-yield:5", "spin-park", "spin-park:0:100"])
    func idleStrategiesReadBackAsWritten(_ text: String) throws {
        let strategy = try #require(IdleStrategy(text))
        let reparsed = IdleStrategy(strategy.description)
        #expect(reparsed == strategy)
    }

    @Test(arguments: ["", "spin", "busy-spin:1", "spin-yield:x", "spin-park:1:0", "spin-park:1:2:3"])
    func malformedIdleStrategiesAreRefused(_ text: String) {
        #expect(IdleStrategy(text) == nil)
    }
}

@Suite struct PlacementTests {
    @Test func sharedUnavailableAndNonIsolatedCPUsAreEachReportedWithARemedy() {
        var plan = PipelinePlan()
        plan.topology = .staged
        plan.ingestCPUs = [1, 5]
        plan.bookCPU = 1
        let warnings = plan.placementWarnings(venues: 2, available: [0, 1], isolated: [1])
        #expect(warnings.count == 3, "\(warnings)")
        #expect(warnings.contains { $0.hasPrefix("tw-ingest-1: CPU 5 is not in this process's affinity") })
        #expect(warnings.contains { $0.hasPrefix("tw-book and tw-ingest-0 share CPU 1") })
        #expect(warnings.contains { $0.hasPrefix("tw-ingest-1: CPU 5 is not isolated") && $0.contains("isolcpus=5") })
    }

    @Test func anUnpinnedPlanHasNothingToSay() {
        #expect(PipelinePlan().placementWarnings(venues: 3, available: [0, 1], isolated: []).isEmpty)
    }
}
