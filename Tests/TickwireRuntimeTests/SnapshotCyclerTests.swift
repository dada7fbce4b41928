import Testing
import TickwireCore
import TickwireRuntime
import TickwireSystem
import TickwireTransport

// The snapshot channel: every instrument in turn, each snapshot consistent with the
// incremental sequence it names, so snapshot + later incremental packets = the live book.

@Suite struct SnapshotCyclerTests {
    typealias F = PublisherFixture

    /// An incremental publisher, its books, and a snapshot cycler on channel 2, all on one clock.
    struct Rig {
        let clock = ManualClock()
        let incremental = SendLog()
        let snapshots = SendLog()
        let publisher: ChannelPublisher<RecordingSender, ManualClock>
        let cycler: SnapshotCycler<RecordingSender, ManualClock>
        let books: BookTable

        init(packetsPerSecond: Int = 1000) throws {
            publisher = try F.publisher(log: incremental, clock: clock)
            cycler = try SnapshotCycler(
                configuration: F.configuration(channel: 2), packetsPerSecond: packetsPerSecond,
                lines: [PublishLine(sender: RecordingSender(log: snapshots), destination: F.snapshotLine)], clock: clock)
            books = try BookTable(capacity: 16, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 300), policy: .init(attempts: [.normal]))
            try books.activate(F.btc.id, levelsPerSide: 300)
            try books.activate(F.eth.id, levelsPerSide: 300)
        }

        /// Applies a delta to the book and publishes it, as the feed loop does.
        func apply(_ delta: BookDelta) {
            books.withBook(delta.instrument) { $0.set(delta.side, price: delta.price, quantity: delta.quantity) }
            publisher.publish(delta)
        }
    }

    @Test func snapshotPlusLaterIncrementalPacketsRebuildsTheLiveBook() throws {
        let rig = try Rig(packetsPerSecond: 1_000_000)
        rig.publisher.publish(BookStatus(instrument: F.btc.id, state: .valid, reason: .none, venueUpdateId: 0, changeTime: 1))
        var snapshotsTaken = 0
        for update in 1...400 as ClosedRange<UInt64> {
            for step in 0..<3 as Range<UInt64> {
                // A deterministic scatter of sets and deletes over 300 prices a side.
                let mix = Int64((update &* 2_654_435_761 &+ step &* 40_503) % 1_000_003)
                let side: Side = mix % 2 == 0 ? .bid : .ask
                let price = side == .bid ? 9_999 - mix % 300 : 10_000 + mix % 300
                rig.apply(F.delta(side: side, price: price, quantity: mix % 6, update: update))
            }
            rig.publisher.flush()
            rig.clock.advance(by: 50_000)
            if rig.cycler.poll(publisher: rig.publisher, books: rig.books) { snapshotsTaken += 1 }
        }
        #expect(snapshotsTaken > 100)

        let incremental = rig.incremental.sends.compactMap { decode($0.bytes) }
        // Every complete BTC snapshot, replayed with the incremental packets after its tag, gives the final book.
        var chunks: [DecodedChunk] = []
        var checked = 0
        for packet in rig.snapshots.sends.compactMap({ decode($0.bytes) }) {
            #expect(packet.header.channel == 2 && packet.header.session == F.session)
            for case .snapshot(let chunk) in packet.messages where chunk.instrument == F.btc.id {
                chunks.append(chunk)
                guard chunk.isLastChunk else { continue }
                let bids = chunks.flatMap(\.bids), asks = chunks.flatMap(\.asks)
                #expect(chunks.map(\.chunkIndex) == Array(0..<UInt16(chunks.count)))
                #expect(Set(chunks.map(\.incrementalSequence)).count == 1)
                var book = ReferenceBook(bids: bids, asks: asks)
                for later in incremental where later.header.sequence > chunk.incrementalSequence {
                    for case .plain(.bookDelta(let delta)) in later.messages { book.apply(delta) }
                }
                #expect(book == ReferenceBook(rig.books, F.btc.id), "snapshot tagged \(chunk.incrementalSequence)")
                checked += 1
                chunks = []
            }
        }
        #expect(checked > 50)
    }

    @Test func loopSendsEachInstrumentsDefinitionThenSnapshotOrStatus() throws {
        let rig = try Rig(packetsPerSecond: 1_000_000)
        rig.publisher.publish(BookStatus(instrument: F.btc.id, state: .valid, reason: .none, venueUpdateId: 0, changeTime: 1))
        rig.publisher.publish(BookStatus(instrument: F.eth.id, state: .resyncing, reason: .sequenceGap, venueUpdateId: 9, changeTime: 2))
        rig.apply(F.delta(price: 100, quantity: 3, update: 1))
        rig.publisher.flush()
        for _ in 0..<4 {
            rig.clock.advance(by: 1_000_000)
            rig.cycler.poll(publisher: rig.publisher, books: rig.books)
        }
        #expect(rig.cycler.loopsCompleted == 2)
        let packets = rig.snapshots.sends.compactMap { decode($0.bytes) }
        #expect(packets.map(\.header.sequence) == [1, 2, 3, 4])
        #expect(packets[0].messages == [
            .plain(.instrumentDefinition(WireInstrumentDefinition(F.btc))),
            .snapshot(DecodedChunk(instrument: F.btc.id, chunkIndex: 0, isLastChunk: true, incrementalSequence: 1, venueUpdateId: 0,
                                   bids: [BookLevel(price: Price(mantissa: 100), quantity: Quantity(mantissa: 3))], asks: [])),
        ])
        #expect(packets[1].messages == [
            .plain(.instrumentDefinition(WireInstrumentDefinition(F.eth))),
            .plain(.bookStatus(BookStatus(instrument: F.eth.id, state: .resyncing, reason: .sequenceGap, venueUpdateId: 9, changeTime: 2))),
        ])
        #expect(packets[2].messages == packets[0].messages && packets[3].messages == packets[1].messages)
    }

    @Test func noSnapshotWhileThePublisherHasUnsentEvents() throws {
        let rig = try Rig(packetsPerSecond: 1_000_000)
        rig.apply(F.delta(price: 100, quantity: 3, update: 1))
        rig.clock.advance(by: 1_000_000)
        #expect(!rig.cycler.poll(publisher: rig.publisher, books: rig.books))
        rig.publisher.flush()
        #expect(rig.cycler.poll(publisher: rig.publisher, books: rig.books))
    }

    @Test func loopIsPacedToItsPacketRate() throws {
        let rig = try Rig(packetsPerSecond: 100)  // one packet per 10 ms
        rig.publisher.publish(BookStatus(instrument: F.btc.id, state: .valid, reason: .none, venueUpdateId: 0, changeTime: 1))
        rig.publisher.flush()
        #expect(rig.cycler.poll(publisher: rig.publisher, books: rig.books))
        rig.clock.advance(by: 9_999_999)
        #expect(!rig.cycler.poll(publisher: rig.publisher, books: rig.books))
        rig.clock.advance(by: 1)
        #expect(rig.cycler.poll(publisher: rig.publisher, books: rig.books))
        #expect(rig.cycler.counters.packets == 2)
    }
}

/// A book as plain sorted arrays, built from snapshot levels and deltas with no Tickwire code.
struct ReferenceBook: Equatable {
    var bids: [Int64: Int64] = [:]
    var asks: [Int64: Int64] = [:]

    init(bids: [BookLevel], asks: [BookLevel]) {
        for level in bids { self.bids[level.price.mantissa] = level.quantity.mantissa }
        for level in asks { self.asks[level.price.mantissa] = level.quantity.mantissa }
    }

    init(_ books: BookTable, _ instrument: InstrumentId) {
        var bids: [BookLevel] = [], asks: [BookLevel] = []
        books.withBook(instrument) { book in
            book.forEachLevel(.bid) { bids.append($0) }
            book.forEachLevel(.ask) { asks.append($0) }
        }
        self.init(bids: bids, asks: asks)
    }

    mutating func apply(_ delta: BookDelta) {
        let quantity = delta.quantity.mantissa == 0 ? nil : delta.quantity.mantissa
        switch delta.side {
        case .bid: bids[delta.price.mantissa] = quantity
        case .ask: asks[delta.price.mantissa] = quantity
        }
    }
}
