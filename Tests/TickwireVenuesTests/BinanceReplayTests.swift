import Foundation
import Testing
import TickwireCore
import TickwireSystem
import TickwireTestSupport
@testable import TickwireVenues

// Replays the recorded Binance captures (../shared/samples/binance) through the adapter and
// a BookKeeper, and checks every published book against a reference book that this file
// builds from the same lines by the documented rules (BinanceReference, in TickwireTestSupport).

/// What the keeper published: the top levels after every update, the whole book every
/// `fullEvery` updates and at the end.
struct ReplayObserver: BookObserver {
    static let top = 20
    static let fullEvery = 1000

    var published: [PublishedBook] = []
    var full: [Int: PublishedBook] = [:]
    var invalidations: [BookStatus.Reason] = []

    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        let count = published.count
        let limit = count % Self.fullEvery == 0 ? Int.max : Self.top
        var entry = PublishedBook(updateId: venueUpdateId, bids: [], asks: [])
        book.forEachLevel(.bid, limit: limit) { entry.bids.append($0) }
        book.forEachLevel(.ask, limit: limit) { entry.asks.append($0) }
        if limit == Int.max {
            full[count] = entry
            entry.bids = Array(entry.bids.prefix(Self.top))
            entry.asks = Array(entry.asks.prefix(Self.top))
        }
        published.append(entry)
    }

    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        invalidations.append(reason)
    }
}

/// Forwards to the keeper; checks @bookTicker quotes against the book when their update ids match.
struct ReplaySink: VenueEventSink {
    var keeper: BookKeeper<ReplayObserver>
    var trades = 0
    var quotes = 0
    var quotesAtBookId = 0
    var quoteMismatches: [String] = []

    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) { keeper.snapshotBegins(instrument, receiveTime: receiveTime) }
    mutating func bookDelta(_ delta: BookDelta) { keeper.bookDelta(delta) }
    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64) {
        keeper.updateComplete(instrument, venueUpdateId: venueUpdateId, checksum: checksum, eventTime: eventTime, receiveTime: receiveTime)
    }
    mutating func trade(_ trade: Trade) { trades += 1 }
    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        keeper.bookInvalid(instrument, reason: reason, receiveTime: receiveTime)
    }
    mutating func bestBidOffer(_ quote: BestBidOffer) {
        quotes += 1
        guard keeper.state(of: quote.instrument) == .valid else { return }
        let (updateId, bid, ask) = keeper.books.withBook(quote.instrument) { ($0.updateId, $0.bestBid, $0.bestAsk) }
        guard updateId == quote.venueUpdateId else { return }
        quotesAtBookId += 1
        let fromTicker = (BookLevel(price: quote.bidPrice, quantity: quote.bidQuantity), BookLevel(price: quote.askPrice, quantity: quote.askQuantity))
        if bid != fromTicker.0 || ask != fromTicker.1 {
            quoteMismatches.append("u=\(updateId): book \(String(describing: bid))/\(String(describing: ask)) ticker \(fromTicker)")
        }
    }
}

@Suite struct BinanceReplayTests {
    @Test func theSpotCaptureStaysInSyncAndEveryPublishedBookEqualsTheReference() throws {
        try replay(BinanceSpotRules.self, "binance/spot-ethusdt-20240808.gz", lines: 33_618, priceScale: 2, quantityScale: 8)
    }

    @Test func theUSDMCaptureStaysInSyncAndEveryPublishedBookEqualsTheReference() throws {
        try replay(BinanceUSDMRules.self, "binance/usdm-ethusdt-20240808.gz", lines: 74_655, priceScale: 2, quantityScale: 3)
    }

    /// ETHUSDT scales: prices have cents on both venues; spot quantities reach 5 decimals on
    /// the wire (e.g. "2292.22972000"), so spot uses 8 (the wire's own precision), USD-M 3.
    func replay<Rules: BinanceBookRules>(
        _ rules: Rules.Type, _ file: String, lines expectedLines: Int, priceScale: UInt8, quantityScale: UInt8
    ) throws {
        let capture = try SampleCapture(file)
        #expect(capture.lines.count == expectedLines)

        let eth = InstrumentId(0)
        var instruments = InstrumentTable(capacity: 4)
        try instruments.add(venue: Rules.venue, symbol: "ETHUSDT", priceScale: Scale(priceScale), quantityScale: Scale(quantityScale))
        let levelsPerSide = 20_000
        let books = try BookTable(capacity: 4, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: levelsPerSide),
                                  policy: HotMemoryPolicy(attempts: [.normal]))
        try books.activate(eth, levelsPerSide: levelsPerSide)
        var sink = ReplaySink(keeper: BookKeeper(books: books, instruments: instruments, observer: ReplayObserver()))
        var adapter = BinanceAdapter<Rules>(configuration: BinanceConfiguration(
            wsURL: "wss://example", restURL: "https://example",
            symbols: [VenueSymbol(name: "ETHUSDT", instrument: eth, priceScale: Scale(priceScale), quantityScale: Scale(quantityScale))],
            depthStream: Rules.venue == .binanceSpot ? "depth@100ms" : "depth@0ms", bufferBytesPerSymbol: 4 << 20))
        var reference = BinanceReference(venue: Rules.venue == .binanceSpot ? .spot : .usdm,
                                         priceScale: Int(priceScale), quantityScale: Int(quantityScale),
                                         top: ReplayObserver.top, fullEvery: ReplayObserver.fullEvery)
        var requests: [VenueRequest] = []
        adapter.connected(receiveTime: capture.lines[0].receiveTime, sink: &sink, requests: &requests)
        requests.removeAll()

        var snapshotRequests = 0
        var snapshots = 0
        var depthMessages = 0
        var tradeLines = 0
        var errors: [String] = []
        try capture.bytes.withUnsafeBufferPointer { bytes in
            for line in capture.lines {
                let view = ByteView(start: bytes.baseAddress! + line.frame.lowerBound, count: line.frame.count)
                let isSnapshot = capture.contains(line, #"{"lastUpdateId""#)
                let isDepth = capture.contains(line, "@depth")
                if capture.contains(line, "@trade") { tradeLines += 1 }
                do {
                    if isSnapshot {
                        snapshots += 1
                        try adapter.handleSnapshot(eth, body: view, receiveTime: line.receiveTime, sink: &sink, requests: &requests)
                    } else {
                        try adapter.handle(message: view, receiveTime: line.receiveTime, sink: &sink, requests: &requests)
                    }
                } catch {
                    errors.append("\(error)")
                }
                for request in requests {
                    if case .fetchSnapshot(let id, let url) = request {
                        #expect(id == eth)
                        #expect(url.hasPrefix("https://example/"))
                        snapshotRequests += 1
                    }
                }
                requests.removeAll()
                for id in sink.keeper.takePendingResyncs() { adapter.resync(id, requests: &requests) }

                // The reference, from the same line, parsed independently.
                if isDepth { depthMessages += 1 }
                if isSnapshot || isDepth { try reference.line(Data(bytes[line.frame])) }
            }
        }

        let observer = sink.keeper.observer
        let counters = adapter.binanceCounters(eth)
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        #expect(snapshots == 1)
        #expect(snapshotRequests == 1)
        #expect(counters.gaps == 0)
        #expect(reference.gaps == 0)
        #expect(reference.staleSnapshots == 0)
        #expect(counters.parseErrors == 0)
        #expect(counters.snapshotRefetches == 0)
        #expect(counters.resyncs == 0)
        #expect(counters.messages == UInt64(expectedLines - 1))
        #expect(sink.keeper.counters[0].crossedBooks == 0)
        // The keeper starts invalid, so connected()'s snapshotPending is no transition: nothing was invalidated.
        #expect(observer.invalidations.isEmpty)
        #expect(sink.trades == tradeLines)
        #expect(books.withBook(eth) { $0.droppedLevels } == 0)

        // Every published book, in order, against the reference.
        #expect(observer.published.count == reference.published.count)
        #expect(observer.published.count == Int(counters.depthUpdatesApplied + counters.snapshotsApplied))
        var mismatches = 0
        for (index, (got, want)) in zip(observer.published, reference.published).enumerated() where got != want {
            mismatches += 1
            if mismatches <= 3 { Issue.record("update #\(index) u=\(got.updateId): published \(got.bids.prefix(3))/\(got.asks.prefix(3)), reference u=\(want.updateId) \(want.bids.prefix(3))/\(want.asks.prefix(3))") }
        }
        #expect(mismatches == 0)
        #expect(observer.full.count == reference.full.count)
        for (index, want) in reference.full { #expect(observer.full[index] == want, "full book at update #\(index)") }
        let finalBook = books.withBook(eth) { book in
            PublishedBook(updateId: book.updateId,
                                     bids: { var l: [BookLevel] = []; book.forEachLevel(.bid) { l.append($0) }; return l }(),
                                     asks: { var l: [BookLevel] = []; book.forEachLevel(.ask) { l.append($0) }; return l }())
        }
        #expect(finalBook == reference.fullBook())
        #expect(sink.quoteMismatches.isEmpty, "\(sink.quoteMismatches.prefix(3))")
        print("""
            replay \(file): \(capture.lines.count) lines, \(depthMessages) depth messages, \
            \(observer.published.count) books published and compared (top \(ReplayObserver.top) each, \
            \(observer.full.count) full), final book \(finalBook.bids.count)+\(finalBook.asks.count) levels at u=\(finalBook.updateId), \
            gaps \(counters.gaps), covered by snapshot \(counters.eventsCoveredBySnapshot), stale \(counters.staleEventsIgnored), \
            trades \(sink.trades), book tickers \(sink.quotes) (\(sink.quotesAtBookId) at the book's update id, all equal to its top)
            """)
    }
}
