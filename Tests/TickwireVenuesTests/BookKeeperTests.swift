import Foundation
import Testing
import TickwireCore
import TickwireSystem
@testable import TickwireVenues

/// Records what the keeper publishes.
struct RecordingObserver: BookObserver {
    var updates: [(InstrumentId, UInt64, BookLevel?, BookLevel?)] = []
    var invalidations: [(InstrumentId, BookStatus.Reason)] = []
    /// (side, price, quantity) of every delta the keeper passed on.
    var applied: [(Side, Int64, Int64)] = []

    mutating func deltaApplied(_ delta: BookDelta) { applied.append((delta.side, delta.price.mantissa, delta.quantity.mantissa)) }

    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        updates.append((instrument, venueUpdateId, book.bestBid, book.bestAsk))
    }

    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        invalidations.append((instrument, reason))
    }
}

/// A keeper over `symbols` instruments of one venue, each with `levels` levels a side.
func makeKeeper(venue: Venue = .okx, symbols: [String] = ["A", "B"], priceScale: UInt8 = 1, quantityScale: UInt8 = 0, levels: Int = 100)
    throws -> (BookKeeper<RecordingObserver>, InstrumentTable)
{
    var instruments = InstrumentTable(capacity: 16)
    for symbol in symbols {
        try instruments.add(venue: venue, symbol: symbol, priceScale: Scale(priceScale), quantityScale: Scale(quantityScale))
    }
    let books = try BookTable(capacity: 16, levelBudget: BookTable.levelBudget(books: symbols.count, levelsPerSide: levels),
                              policy: HotMemoryPolicy(attempts: [.normal]))
    for index in 0..<symbols.count { try books.activate(InstrumentId(UInt16(index)), levelsPerSide: levels) }
    return (BookKeeper(books: books, instruments: instruments, observer: RecordingObserver()), instruments)
}

func delta(_ instrument: UInt16, _ side: Side, _ price: Int64, _ quantity: Int64, id: UInt64 = 0) -> BookDelta {
    BookDelta(instrument: InstrumentId(instrument), side: side, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity),
              venueUpdateId: id, eventTime: 0, receiveTime: 0, isLastInUpdate: false)
}

@Suite struct CRC32Tests {
    @Test func okxDocumentedVectorsMatchAsSignedCRC32() {
        var first = CRC32()
        first.update("3366.1:7:3366.8:9:3366:6:3368:8")
        #expect(Int32(bitPattern: first.value) == -1_881_014_294)
        var second = CRC32()
        second.update("3366.1:7:3366.8:9:3368:8:3372:8")
        #expect(Int32(bitPattern: second.value) == 831_078_360)
    }

    @Test func theStandardCheckValueMatches() {
        var crc = CRC32()
        crc.update("123456789")
        #expect(crc.value == 0xCBF4_3926)
    }
}

@Suite struct VenueChecksumTests {
    @Test func okxChecksumOfABookUsesTrimmedNumbersInterleavedBidAsk() throws {
        var (keeper, _) = try makeKeeper(priceScale: 1)
        keeper.snapshotBegins(InstrumentId(0), receiveTime: 0)
        for d in [delta(0, .bid, 33661, 7), delta(0, .bid, 33660, 6), delta(0, .ask, 33668, 9), delta(0, .ask, 33680, 8)] {
            keeper.bookDelta(d)
        }
        let book = keeper.books.withBook(InstrumentId(0)) { $0 }
        #expect(VenueChecksum.okxTop25(-1_881_014_294).matches(book, priceScale: Scale(1), quantityScale: Scale(0)))
        #expect(!VenueChecksum.okxTop25(831_078_360).matches(book, priceScale: Scale(1), quantityScale: Scale(0)))
    }

    @Test func krakenDocumentedSnapshotHasItsDocumentedChecksumAndAOneDigitChangeFails() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/samples/checksum-vectors/kraken-v2-docs-example.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        var (keeper, _) = try makeKeeper(venue: .kraken, symbols: ["BTC/USD"], priceScale: 1, quantityScale: 8)
        keeper.snapshotBegins(InstrumentId(0), receiveTime: 0)
        // The levels come from the text through the project's exact scanner, never via Double.
        let levels = try krakenLevels(text)
        #expect(levels.count == 20)
        for (side, price, quantity) in levels { keeper.bookDelta(delta(0, side, price, quantity)) }
        let orderBook = keeper.books.withBook(InstrumentId(0)) { $0 }
        #expect(VenueChecksum.krakenTop10(3_310_070_434).matches(orderBook, priceScale: Scale(1), quantityScale: Scale(8)))
        orderBook.set(.ask, price: Price(mantissa: 452852), quantity: Quantity(mantissa: 100_001))
        #expect(!VenueChecksum.krakenTop10(3_310_070_434).matches(orderBook, priceScale: Scale(1), quantityScale: Scale(8)))
    }

    /// Reads `{"price":…,"qty":…}` levels out of the Kraken docs example with `JSONScanner`.
    private func krakenLevels(_ text: String) throws -> [(Side, Int64, Int64)] {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw throws -> [(Side, Int64, Int64)] in
            var s = JSONScanner(raw)
            var out: [(Side, Int64, Int64)] = []
            try s.beginObject()
            while let key = try s.nextKey() {
                guard key == "data" else { try s.skipValue(); continue }
                try s.beginArray()
                while try s.nextElement() {
                    try s.beginObject()
                    while let field = try s.nextKey() {
                        let side: Side? = field == "bids" ? .bid : field == "asks" ? .ask : nil
                        guard let side else { try s.skipValue(); continue }
                        try s.beginArray()
                        while try s.nextElement() {
                            try s.beginObject()
                            var price: Int64 = 0, quantity: Int64 = 0
                            while let name = try s.nextKey() {
                                if name == "price" { price = try s.decimal(scale: Scale(1)) } else { quantity = try s.decimal(scale: Scale(8)) }
                            }
                            out.append((side, price, quantity))
                        }
                    }
                }
            }
            return out
        }
    }
}

@Suite struct BookKeeperTests {
    @Test func aCompleteSnapshotMakesTheBookValidAndPublishesIt() throws {
        var (keeper, _) = try makeKeeper()
        keeper.snapshotBegins(InstrumentId(0), receiveTime: 1)
        keeper.bookDelta(delta(0, .bid, 100, 1))
        keeper.bookDelta(delta(0, .ask, 101, 2))
        #expect(keeper.state(of: InstrumentId(0)) == .building)
        keeper.updateComplete(InstrumentId(0), venueUpdateId: 7, checksum: .none, eventTime: 0, receiveTime: 1)
        #expect(keeper.state(of: InstrumentId(0)) == .valid)
        #expect(keeper.observer.updates.count == 1)
        #expect(keeper.observer.updates[0].1 == 7)
        #expect(keeper.books.withBook(InstrumentId(0)) { $0.updateId } == 7)
    }

    @Test func aCrossedBookAfterACompleteMessageInvalidatesOnlyThatSymbolAndQueuesAResync() throws {
        var (keeper, _) = try makeKeeper()
        for id in [UInt16(0), 1] {
            keeper.snapshotBegins(InstrumentId(id), receiveTime: 0)
            keeper.bookDelta(delta(id, .bid, 100, 1))
            keeper.bookDelta(delta(id, .ask, 101, 1))
            keeper.updateComplete(InstrumentId(id), venueUpdateId: 1, checksum: .none, eventTime: 0, receiveTime: 0)
        }
        keeper.bookDelta(delta(0, .bid, 102, 1))
        keeper.updateComplete(InstrumentId(0), venueUpdateId: 2, checksum: .none, eventTime: 0, receiveTime: 0)
        #expect(keeper.state(of: InstrumentId(0)) == .invalid)
        #expect(keeper.state(of: InstrumentId(1)) == .valid)
        #expect(keeper.observer.invalidations.map(\.1) == [.crossedBook])
        #expect(keeper.counters[0].crossedBooks == 1)
        #expect(keeper.takePendingResyncs() == [InstrumentId(0)])
        #expect(keeper.pendingResyncs.isEmpty)
    }

    @Test func aChecksumMismatchInvalidatesAndNothingIsPublishedUntilTheNextSnapshot() throws {
        var (keeper, _) = try makeKeeper()
        keeper.snapshotBegins(InstrumentId(0), receiveTime: 0)
        keeper.bookDelta(delta(0, .bid, 100, 1))
        keeper.updateComplete(InstrumentId(0), venueUpdateId: 1, checksum: .okxTop25(12345), eventTime: 0, receiveTime: 0)
        #expect(keeper.observer.invalidations.map(\.1) == [.checksumMismatch])
        #expect(keeper.counters[0].checksumFailures == 1)
        keeper.bookDelta(delta(0, .bid, 99, 1))
        keeper.updateComplete(InstrumentId(0), venueUpdateId: 2, checksum: .none, eventTime: 0, receiveTime: 0)
        #expect(keeper.observer.updates.isEmpty)
        #expect(keeper.books.withBook(InstrumentId(0)) { $0.levelCount(.bid) } == 1)
        keeper.snapshotBegins(InstrumentId(0), receiveTime: 0)
        keeper.bookDelta(delta(0, .bid, 98, 1))
        keeper.updateComplete(InstrumentId(0), venueUpdateId: 3, checksum: .none, eventTime: 0, receiveTime: 0)
        #expect(keeper.state(of: InstrumentId(0)) == .valid)
        #expect(keeper.observer.updates.count == 1)
    }

    @Test func anAdapterReportedGapIsPublishedOncePerTransition() throws {
        var (keeper, _) = try makeKeeper()
        keeper.snapshotBegins(InstrumentId(1), receiveTime: 0)
        keeper.updateComplete(InstrumentId(1), venueUpdateId: 1, checksum: .none, eventTime: 0, receiveTime: 0)
        keeper.bookInvalid(InstrumentId(1), reason: .sequenceGap, receiveTime: 0)
        keeper.bookInvalid(InstrumentId(1), reason: .sequenceGap, receiveTime: 0)
        #expect(keeper.observer.invalidations.count == 1)
        #expect(keeper.counters[1].invalidations == 1)
        #expect(keeper.pendingResyncs.isEmpty)  // the adapter resyncs its own gaps
    }
}

@Suite struct DepthLimitedBookTests {
    /// A consumer rebuilding the book from the passed-on deltas must end with the keeper's
    /// book: a level a full side dropped goes out as a delete, a level that did not fit does not go out.
    @Test func aFullSidePassesOnTheLevelItDroppedAsADeleteAndNothingForALevelThatDidNotFit() throws {
        var (keeper, _) = try makeKeeper(symbols: ["A"], levels: 2)
        keeper.snapshotBegins(InstrumentId(0), receiveTime: 0)
        keeper.bookDelta(delta(0, .bid, 100, 1))
        keeper.bookDelta(delta(0, .bid, 99, 1))
        keeper.updateComplete(InstrumentId(0), venueUpdateId: 1, checksum: .none, eventTime: 0, receiveTime: 0)
        keeper.observer.applied.removeAll()
        keeper.bookDelta(delta(0, .bid, 98, 5))   // worse than both: not kept, not passed on
        keeper.bookDelta(delta(0, .bid, 101, 2))  // better: 99 drops out
        #expect(keeper.observer.applied.map { "\($0.0) \($0.1) \($0.2)" } == ["bid 101 2", "bid 99 0"])
        let book = keeper.books.withBook(InstrumentId(0)) { $0 }
        #expect(book.levelCount(.bid) == 2 && book.bestBid?.price.mantissa == 101)
        #expect(book.droppedLevels == 2)
    }
}
