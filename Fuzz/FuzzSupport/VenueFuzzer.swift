import TickwireCore
import TickwireSystem
import TickwireVenues
#if canImport(Glibc)
import Glibc
#endif

// The harness every venue fuzz target shares (each target's main.swift only describes its
// venue: adapter, symbols, scales, a recovery sequence).
//
// Input format: records separated by '\n' (so a seed file is one venue message per line).
//   `!<i><body>`  Binance REST snapshot body for symbol `<i> % symbols` (handleSnapshot)
//   `~`           the connection is re-established (connected)
//   `^`           a tick a day later (planned reconnects, keepalives)
//   anything else one text message (handle(message:))
// Each record is copied into its own exactly-sized heap block, so AddressSanitizer reports
// any read past the end of a message (a view into the whole input would hide it).
//
// Invariants (precondition, so libFuzzer stops on a violation):
// - every delta/begin is followed, before the message returns or throws, by that
//   instrument's updateComplete or bookInvalid (no half-applied message, the keeper never
//   stays `.building`);
// - a book the keeper holds valid is not crossed, each side strictly ordered best first,
//   no zero quantity, no more levels than its capacity; delta quantities are never negative;
// - events only name the adapter's own instruments;
// - after any input, `connected` plus the venue's recovery messages make instrument 0
//   valid with the expected best bid and ask (the adapter's state was left consistent).

/// Calls `body` with each '\n'-separated record of the input (possibly empty).
public func forEachRecord(_ data: UnsafePointer<UInt8>, _ size: Int, _ body: (UnsafePointer<UInt8>, Int) -> Void) {
    var start = 0
    var index = 0
    while index <= size {
        if index == size || data[index] == 0x0A {
            let count = index - start
            let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
            copy.initialize(from: data + start, count: count)
            body(copy, count)
            copy.deallocate()
            start = index + 1
        }
        index += 1
    }
}

/// Calls `body` with a ByteView of `text`'s bytes in an exactly-sized block.
func withView<T>(_ bytes: [UInt8], _ body: (ByteView) -> T) -> T {
    let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
    copy.initialize(from: bytes, count: bytes.count)
    defer { copy.deallocate() }
    return body(ByteView(start: copy, count: bytes.count))
}

public struct CountingObserver: BookObserver {
    public var updates = 0
    public var invalidations = 0
    public init() {}
    public mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        updates += 1
    }
    public mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        invalidations += 1
    }
}

/// Forwards to a real BookKeeper and checks the sink contract on the way.
struct CheckingSink: VenueEventSink {
    var keeper: BookKeeper<CountingObserver>
    /// Per instrument: a begin or delta not yet closed by updateComplete or bookInvalid.
    var open: [Bool]
    let instrumentCount: Int

    init(keeper: BookKeeper<CountingObserver>, instrumentCount: Int) {
        self.keeper = keeper
        self.instrumentCount = instrumentCount
        open = Array(repeating: false, count: instrumentCount)
    }

    func checkId(_ instrument: InstrumentId) {
        precondition(instrument.index < instrumentCount, "event for an instrument the adapter does not carry: \(instrument)")
    }

    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) {
        checkId(instrument)
        open[instrument.index] = true
        keeper.snapshotBegins(instrument, receiveTime: receiveTime)
    }

    mutating func bookDelta(_ delta: BookDelta) {
        checkId(delta.instrument)
        precondition(delta.quantity.mantissa >= 0, "negative quantity \(delta.quantity.mantissa) reached the book")
        open[delta.instrument.index] = true
        keeper.bookDelta(delta)
    }

    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64) {
        checkId(instrument)
        open[instrument.index] = false
        keeper.updateComplete(instrument, venueUpdateId: venueUpdateId, checksum: checksum, eventTime: eventTime, receiveTime: receiveTime)
        if keeper.state(of: instrument) == .valid { checkBook(instrument) }
    }

    mutating func trade(_ trade: Trade) { checkId(trade.instrument) }

    mutating func bestBidOffer(_ quote: BestBidOffer) { checkId(quote.instrument) }

    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        checkId(instrument)
        open[instrument.index] = false
        keeper.bookInvalid(instrument, reason: reason, receiveTime: receiveTime)
    }

    /// A valid book: not crossed, ordered best first without duplicates, no empty level, within capacity.
    func checkBook(_ instrument: InstrumentId) {
        keeper.books.withBook(instrument) { book in
            precondition(!book.isCrossed, "book \(instrument) is valid but crossed")
            for side in [Side.bid, Side.ask] {
                precondition(book.levelCount(side) <= book.levelsPerSide, "more levels than capacity")
                var previous: Int64? = nil
                var seen = 0
                book.forEachLevel(side) { level in
                    precondition(level.quantity.mantissa > 0, "level \(level) with a non-positive quantity in a valid book")
                    if let previous {
                        precondition(side == .bid ? level.price.mantissa < previous : level.price.mantissa > previous,
                                     "\(side) levels out of order in book \(instrument)")
                    }
                    previous = level.price.mantissa
                    seen += 1
                }
                precondition(seen == book.levelCount(side))
            }
        }
    }

    /// After each message, returned or thrown.
    func checkMessageBoundary() {
        for index in 0..<instrumentCount {
            let instrument = InstrumentId(UInt16(index))
            precondition(!open[index], "message left book \(instrument) half-applied (deltas without complete or invalid)")
            let state = keeper.state(of: instrument)
            precondition(state != .building, "book \(instrument) still building after the message")
            if state == .valid { checkBook(instrument) }
        }
    }
}

/// What makes instrument 0 valid again after `connected`, and the top of book expected then.
public struct FuzzRecovery: Sendable {
    public var records: [String]
    public var bestBid: Int64
    public var bestAsk: Int64
    public init(records: [String], bestBid: Int64, bestAsk: Int64) {
        self.records = records
        self.bestBid = bestBid
        self.bestAsk = bestAsk
    }
}

/// One venue's fuzz target: the book table and the adapter are made once (as a connection
/// keeps its adapter across reconnects: Binance's preallocates 160 KB of level scratch, which
/// per input would cost more than the parsing); each input starts with `connected`, which
/// must forget all sync state, and gets a fresh keeper over cleared books.
/// `FUZZ_FRESH_ADAPTER=1` makes a new adapter per input instead (to check that a crash
/// reproduces without any state carried over from earlier inputs).
public final class VenueFuzzer<Adapter: VenueAdapter> {
    let books: BookTable
    let instruments: InstrumentTable
    let symbols: [VenueSymbol]
    let make: ([VenueSymbol]) -> Adapter
    let recovery: FuzzRecovery
    var shared: Adapter
    let freshAdapter: Bool

    public init(venue: Venue, symbols names: [String], priceScale: UInt8, quantityScale: UInt8, levelsPerSide: Int,
                recovery: FuzzRecovery, make: @escaping ([VenueSymbol]) throws -> Adapter) {
        do {
            var table = InstrumentTable(capacity: names.count)
            for name in names {
                _ = try table.add(venue: venue, symbol: name, priceScale: Scale(priceScale), quantityScale: Scale(quantityScale))
            }
            instruments = table
            books = try BookTable(capacity: names.count, levelBudget: BookTable.levelBudget(books: names.count, levelsPerSide: levelsPerSide),
                                  policy: HotMemoryPolicy(attempts: [.normal], prefault: false))
            for index in 0..<names.count { try books.activate(InstrumentId(UInt16(index)), levelsPerSide: levelsPerSide) }
            symbols = table.definitions.map {
                VenueSymbol(name: $0.symbol, instrument: $0.id, priceScale: $0.priceScale, quantityScale: $0.quantityScale)
            }
            shared = try make(symbols)
            self.make = { try! make($0) }
        } catch {
            fatalError("fuzz set-up failed: \(error)")
        }
        self.recovery = recovery
        freshAdapter = getenv("FUZZ_FRESH_ADAPTER") != nil
    }

    /// One libFuzzer input.
    public func run(_ data: UnsafePointer<UInt8>, _ size: Int) {
        if freshAdapter {
            var adapter = make(symbols)
            run(data, size, adapter: &adapter)
        } else {
            run(data, size, adapter: &shared)
        }
    }

    func run(_ data: UnsafePointer<UInt8>, _ size: Int, adapter: inout Adapter) {
        for index in 0..<instruments.count { books.withBook(InstrumentId(UInt16(index))) { $0.clear() } }
        var sink = CheckingSink(keeper: BookKeeper(books: books, instruments: instruments, observer: CountingObserver()),
                                instrumentCount: instruments.count)
        var requests: [VenueRequest] = []
        var time: UInt64 = 1_700_000_000_000_000_000
        adapter.connected(receiveTime: time, sink: &sink, requests: &requests)
        sink.checkMessageBoundary()
        forEachRecord(data, size) { bytes, count in
            time += 1_000_000
            apply(ByteView(start: bytes, count: count), time: &time, adapter: &adapter, sink: &sink, requests: &requests)
        }
        // Whatever came before, a new connection and the venue's recovery make the book whole.
        time += 1_000_000
        adapter.connected(receiveTime: time, sink: &sink, requests: &requests)
        sink.checkMessageBoundary()
        for index in 0..<instruments.count {
            precondition(sink.keeper.state(of: InstrumentId(UInt16(index))) == .invalid, "connected left a book valid")
        }
        for record in recovery.records {
            time += 1_000_000
            withView(Array(record.utf8)) { view in
                apply(view, time: &time, adapter: &adapter, sink: &sink, requests: &requests)
            }
        }
        let first = InstrumentId(0)
        precondition(sink.keeper.state(of: first) == .valid, "recovery after the input did not make the book valid")
        sink.keeper.books.withBook(first) { book in
            precondition(book.bestBid?.price.mantissa == recovery.bestBid && book.bestAsk?.price.mantissa == recovery.bestAsk,
                         "recovery gave the wrong top of book: \(String(describing: book.bestBid)) / \(String(describing: book.bestAsk))")
        }
    }

    func apply(_ record: ByteView, time: inout UInt64, adapter: inout Adapter, sink: inout CheckingSink, requests: inout [VenueRequest]) {
        if record.count == 1 && record[0] == UInt8(ascii: "~") {
            adapter.connected(receiveTime: time, sink: &sink, requests: &requests)
        } else if record.count == 1 && record[0] == UInt8(ascii: "^") {
            time += 86_400 * 1_000_000_000
            adapter.tick(now: time, requests: &requests)
        } else if record.count >= 2 && record[0] == UInt8(ascii: "!") {
            let instrument = symbols[Int(record[1]) % symbols.count].instrument
            let body = ByteView(start: record.start + 2, count: record.count - 2)
            do throws(VenueError) {
                try adapter.handleSnapshot(instrument, body: body, receiveTime: time, sink: &sink, requests: &requests)
            } catch {
                _ = error
            }
        } else {
            do throws(VenueError) {
                try adapter.handle(message: record, receiveTime: time, sink: &sink, requests: &requests)
            } catch {
                _ = error
            }
        }
        sink.checkMessageBoundary()
        // As the connection does: the keeper's failed checks go back to the adapter.
        for instrument in sink.keeper.takePendingResyncs() { adapter.resync(instrument, requests: &requests) }
        adapter.tick(now: time, requests: &requests)
        requests.removeAll(keepingCapacity: true)
    }
}
