import Foundation
import Testing
import TickwireCore
@testable import TickwireVenues

// MARK: - Harness shared by the Bybit, OKX, Coinbase and Kraken adapter tests

/// Forwards book events to a real `BookKeeper` (which validates crossed books and checksums)
/// and logs every event, so tests can check the order: begin → deltas → one complete.
struct KeeperSink: VenueEventSink {
    var keeper: BookKeeper<RecordingObserver>
    var log: [String] = []
    var trades: [Trade] = []

    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) {
        log.append("begin \(instrument)")
        keeper.snapshotBegins(instrument, receiveTime: receiveTime)
    }

    mutating func bookDelta(_ delta: BookDelta) {
        log.append("delta \(delta.instrument) \(delta.side) \(delta.price.mantissa) \(delta.quantity.mantissa)\(delta.isLastInUpdate ? " last" : "")")
        keeper.bookDelta(delta)
    }

    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64) {
        log.append("complete \(instrument) \(venueUpdateId)")
        keeper.updateComplete(instrument, venueUpdateId: venueUpdateId, checksum: checksum, eventTime: eventTime, receiveTime: receiveTime)
    }

    mutating func trade(_ trade: Trade) { trades.append(trade) }
    mutating func bestBidOffer(_ quote: BestBidOffer) {}

    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        log.append("invalid \(instrument) \(reason)")
        keeper.bookInvalid(instrument, reason: reason, receiveTime: receiveTime)
    }
}

/// One adapter on one simulated connection, its books behind a `BookKeeper`.
struct VenueHarness<Adapter: VenueAdapter> {
    var adapter: Adapter
    var sink: KeeperSink
    var requests: [VenueRequest] = []
    let instruments: InstrumentTable
    let priceScale: Scale
    let quantityScale: Scale

    /// `levels`: each book's capacity a side (Kraken: the subscribed depth).
    init(venue: Venue, symbols: [String], priceScale: UInt8, quantityScale: UInt8, levels: Int = 100,
         _ make: ([VenueSymbol]) throws -> Adapter) throws {
        let (keeper, instruments) = try makeKeeper(venue: venue, symbols: symbols, priceScale: priceScale,
                                                   quantityScale: quantityScale, levels: levels)
        self.instruments = instruments
        self.priceScale = Scale(priceScale)
        self.quantityScale = Scale(quantityScale)
        sink = KeeperSink(keeper: keeper)
        adapter = try make(instruments.definitions.map {
            VenueSymbol(name: $0.symbol, instrument: $0.id, priceScale: $0.priceScale, quantityScale: $0.quantityScale)
        })
    }

    func id(_ symbol: String) -> InstrumentId { instruments.id(venue: adapter.venue, symbol: symbol)! }

    mutating func connect(at time: UInt64 = 1) {
        adapter.connected(receiveTime: time, sink: &sink, requests: &requests)
    }

    /// Feeds one text message; the typed error if the adapter refused it.
    @discardableResult
    mutating func send(_ text: String, at time: UInt64 = 2) -> VenueError? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> VenueError? in
            // A zero-length message still needs a valid pointer.
            let start = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
            do throws(VenueError) {
                try adapter.handle(message: ByteView(start: start, count: buffer.count), receiveTime: time, sink: &sink, requests: &requests)
                return nil
            } catch {
                return error
            }
        }
    }

    /// Runs the keeper's queued resyncs through the adapter, as the connection does.
    mutating func runResyncs() {
        for instrument in sink.keeper.takePendingResyncs() { adapter.resync(instrument, requests: &requests) }
    }

    mutating func takeRequests() -> [VenueRequest] {
        defer { requests.removeAll() }
        return requests
    }

    func state(_ symbol: String) -> BookKeeper<RecordingObserver>.State { sink.keeper.state(of: id(symbol)) }

    /// A side of the book as `["price×qty", …]`, best first, in decimal text.
    func levels(_ symbol: String, _ side: Side) -> [String] {
        var out: [String] = []
        sink.keeper.books.withBook(id(symbol)) { book in
            book.forEachLevel(side) { level in
                out.append("\(level.price.text(scale: priceScale))×\(level.quantity.text(scale: quantityScale))")
            }
        }
        return out
    }

    var lastPublishedUpdateId: UInt64? { sink.keeper.observer.updates.last?.1 }
}

/// Feeds every proper prefix of `message` to a fresh, synced harness: each must give a typed
/// error or a valid parse, never a crash, and a refused prefix must emit no book change.
func checkEveryTruncation<Adapter: VenueAdapter>(
    of message: String, _ make: () throws -> VenueHarness<Adapter>
) throws {
    var bytes = Array(message.utf8)
    while let last = bytes.last, last == 0x0A || last == 0x20 { bytes.removeLast() }  // a file's final newline
    var refused = 0
    for length in 0..<bytes.count {
        var harness = try make()
        let before = harness.sink.log.count
        let prefix = String(decoding: bytes[0..<length], as: UTF8.self)
        if harness.send(prefix) != nil {
            refused += 1
            let emitted = harness.sink.log[before...].filter { $0.hasPrefix("delta") || $0.hasPrefix("complete") || $0.hasPrefix("begin") }
            #expect(emitted.isEmpty, "prefix of \(length) bytes half-applied: \(emitted)")
        }
    }
    #expect(refused == bytes.count, "every proper prefix of a JSON object is malformed")
}

// MARK: - Bybit

/// The documented messages of reference §3, with the elided levels filled in.
enum BybitFixtures {
    static let snapshot = #"{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1786310818129,"data":{"s":"BTCUSDT","b":[["65114.20","6.054"],["65093.10","1.000"],["65092.20","0.500"]],"a":[["65114.30","10.486"],["65116.60","2.000"]],"u":15076952,"seq":753843911359},"cts":1786310818027}"#
    static let delta = #"{"topic":"orderbook.200.BTCUSDT","type":"delta","ts":1786310818130,"data":{"s":"BTCUSDT","b":[["65093.10","0"],["65092.20","0.641"]],"a":[["65116.60","0"]],"u":15076953,"seq":753843913870},"cts":1786310818129}"#
    static let trade = #"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1786310819681,"data":[{"T":1786310819680,"s":"BTCUSDT","S":"Sell","v":"0.004","p":"65114.20","L":"MinusTick","i":"a9188a0a-82bc-50de-be60-03eedbe3cdd7","BT":false,"RPI":false,"seq":753843954913}]}"#

    static func snapshot(_ symbol: String, u: UInt64, bid: String = "100.00", ask: String = "101.00") -> String {
        #"{"topic":"orderbook.200.\#(symbol)","type":"snapshot","ts":1,"data":{"s":"\#(symbol)","b":[["\#(bid)","1"]],"a":[["\#(ask)","1"]],"u":\#(u),"seq":1},"cts":1}"#
    }

    static func delta(_ symbol: String, u: UInt64, bid: String = "99.00", quantity: String = "2") -> String {
        #"{"topic":"orderbook.200.\#(symbol)","type":"delta","ts":2,"data":{"s":"\#(symbol)","b":[["\#(bid)","\#(quantity)"]],"a":[],"u":\#(u),"seq":2},"cts":2}"#
    }
}

@Suite struct BybitTests {
    func harness(_ symbols: [String] = ["BTCUSDT"]) throws -> VenueHarness<BybitAdapter> {
        var harness = try VenueHarness(venue: .bybitLinear, symbols: symbols, priceScale: 2, quantityScale: 3) {
            try BybitAdapter(category: .linear, symbols: $0, depth: 200)
        }
        harness.connect()
        _ = harness.takeRequests()
        return harness
    }

    @Test func connectingMarksEveryBookPendingAndSubscribesBookAndTradeTopics() throws {
        var h = try VenueHarness(venue: .bybitSpot, symbols: ["BTCUSDT", "ETHUSDT"], priceScale: 2, quantityScale: 3) {
            try BybitAdapter(category: .spot, symbols: $0, depth: 50)
        }
        h.connect()
        #expect(h.adapter.venue == .bybitSpot)
        #expect(h.sink.keeper.observer.invalidations.isEmpty)  // already invalid: no transition
        #expect(h.sink.log == ["invalid #0 snapshotPending", "invalid #1 snapshotPending"])
        #expect(h.takeRequests() == [.sendText(
            #"{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT","orderbook.50.ETHUSDT","publicTrade.ETHUSDT"]}"#)])
    }

    @Test func subscriptionsAreSplitIntoRequestsOfAtMostTenTopics() throws {
        let symbols = (0..<6).map { "S\($0)USDT" }
        var h = try VenueHarness(venue: .bybitSpot, symbols: symbols, priceScale: 2, quantityScale: 3) {
            try BybitAdapter(category: .spot, symbols: $0, depth: 50)
        }
        h.connect()
        #expect(h.takeRequests().count == 2)
    }

    @Test func anUnsupportedDepthIsRefusedAtSetUp() throws {
        #expect(throws: VenueSetupError.self) {
            _ = try VenueHarness(venue: .bybitLinear, symbols: ["BTCUSDT"], priceScale: 2, quantityScale: 3) {
                try BybitAdapter(category: .linear, symbols: $0, depth: 25)
            }
        }
    }

    @Test func theDocumentedSnapshotThenDeltaBuildTheBookAndPublishU() throws {
        var h = try harness()
        #expect(h.send(BybitFixtures.snapshot) == nil)
        #expect(h.state("BTCUSDT") == .valid)
        #expect(h.lastPublishedUpdateId == 15_076_952)
        #expect(h.send(BybitFixtures.delta) == nil)
        #expect(h.levels("BTCUSDT", .bid) == ["65114.20×6.054", "65092.20×0.641"])
        #expect(h.levels("BTCUSDT", .ask) == ["65114.30×10.486"])
        #expect(h.lastPublishedUpdateId == 15_076_953)
        #expect(Array(h.sink.log.suffix(4)) == [
            "delta #0 bid 6509310 0", "delta #0 bid 6509220 641", "delta #0 ask 6511660 0 last", "complete #0 15076953",
        ])
        #expect(h.sink.log.filter { $0.hasPrefix("begin") }.count == 1)
        #expect(h.adapter.counters[h.id("BTCUSDT")].messages == 2)
        #expect(h.takeRequests().isEmpty)
    }

    @Test func aDeltaThatSkipsAnUpdateIdIsAGapForThatSymbolOnlyAndResubscribesItsTopic() throws {
        var h = try harness(["BTCUSDT", "ETHUSDT"])
        h.send(BybitFixtures.snapshot("BTCUSDT", u: 10))
        h.send(BybitFixtures.snapshot("ETHUSDT", u: 500))
        h.send(BybitFixtures.delta("BTCUSDT", u: 11))
        h.send(BybitFixtures.delta("BTCUSDT", u: 13))  // 12 is missing
        #expect(h.state("BTCUSDT") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.sequenceGap])
        #expect(h.adapter.counters[h.id("BTCUSDT")].gaps == 1)
        #expect(h.adapter.counters[h.id("BTCUSDT")].resyncs == 1)
        #expect(h.takeRequests() == [
            .sendText(#"{"op":"unsubscribe","args":["orderbook.200.BTCUSDT"]}"#),
            .sendText(#"{"op":"subscribe","args":["orderbook.200.BTCUSDT"]}"#),
        ])
        // The other symbol carries on.
        h.send(BybitFixtures.delta("ETHUSDT", u: 501))
        #expect(h.state("ETHUSDT") == .valid)
        #expect(h.adapter.counters[h.id("ETHUSDT")].gaps == 0)
        // Deltas before the new snapshot are dropped, not counted as more gaps.
        h.send(BybitFixtures.delta("BTCUSDT", u: 14))
        #expect(h.adapter.counters[h.id("BTCUSDT")].gaps == 1)
        #expect(h.takeRequests().isEmpty)
        h.send(BybitFixtures.snapshot("BTCUSDT", u: 20, bid: "98.00"))
        #expect(h.state("BTCUSDT") == .valid)
        #expect(h.levels("BTCUSDT", .bid) == ["98.00×1.000"])
        h.send(BybitFixtures.delta("BTCUSDT", u: 21))
        #expect(h.lastPublishedUpdateId == 21)
    }

    @Test func aDuplicatedDeltaIsAGapToo() throws {
        var h = try harness()
        h.send(BybitFixtures.snapshot("BTCUSDT", u: 10))
        h.send(BybitFixtures.delta("BTCUSDT", u: 11))
        h.send(BybitFixtures.delta("BTCUSDT", u: 11))
        #expect(h.adapter.counters[h.id("BTCUSDT")].gaps == 1)
    }

    @Test func aDeltaWithUpdateIdOneIsASnapshotThatOverwritesTheBook() throws {
        var h = try harness()
        h.send(BybitFixtures.snapshot("BTCUSDT", u: 900, bid: "100.00"))
        h.send(BybitFixtures.delta("BTCUSDT", u: 1, bid: "97.00", quantity: "3"))
        #expect(h.levels("BTCUSDT", .bid) == ["97.00×3.000"])
        #expect(h.levels("BTCUSDT", .ask).isEmpty)
        #expect(h.state("BTCUSDT") == .valid)
        #expect(h.adapter.counters[h.id("BTCUSDT")].gaps == 0)
        #expect(h.sink.log.filter { $0.hasPrefix("begin") }.count == 2)
        h.send(BybitFixtures.delta("BTCUSDT", u: 2))
        #expect(h.lastPublishedUpdateId == 2)
    }

    @Test func anUnsolicitedSnapshotReplacesTheBook() throws {
        var h = try harness()
        h.send(BybitFixtures.snapshot("BTCUSDT", u: 10, bid: "100.00"))
        h.send(BybitFixtures.snapshot("BTCUSDT", u: 50, bid: "90.00", ask: "91.00"))
        #expect(h.levels("BTCUSDT", .bid) == ["90.00×1.000"])
        h.send(BybitFixtures.delta("BTCUSDT", u: 51, bid: "89.00"))
        #expect(h.adapter.counters[h.id("BTCUSDT")].gaps == 0)
    }

    @Test func deltasBeforeTheFirstSnapshotAreNotApplied() throws {
        var h = try harness()
        h.send(BybitFixtures.delta("BTCUSDT", u: 11))
        #expect(h.state("BTCUSDT") == .invalid)
        #expect(!h.sink.log.contains { $0.hasPrefix("delta") })
        #expect(h.adapter.counters[h.id("BTCUSDT")].gaps == 0)
    }

    @Test func publicTradeGivesATradeWithTheTakerSideAndAUUIDDigest() throws {
        var h = try harness()
        #expect(h.send(BybitFixtures.trade, at: 77) == nil)
        let trade = try #require(h.sink.trades.first)
        #expect(trade.aggressor == .ask)
        #expect(trade.price == Price(mantissa: 6_511_420))
        #expect(trade.quantity == Quantity(mantissa: 4))
        #expect(trade.eventTime == 1_786_310_819_680_000_000)
        #expect(trade.receiveTime == 77)
        #expect(trade.isTradeIdDigest)
        #expect(trade.tradeId == fnv1a64Digest("a9188a0a-82bc-50de-be60-03eedbe3cdd7"))
        let buy = BybitFixtures.trade.replacingOccurrences(of: #""S":"Sell""#, with: #""S":"Buy""#)
            .replacingOccurrences(of: #""i":"a9188a0a-82bc-50de-be60-03eedbe3cdd7""#, with: #""i":"2290000000061666327""#)
        h.send(buy)
        #expect(h.sink.trades.last?.aggressor == .bid)
        #expect(h.sink.trades.last?.tradeId == 2_290_000_000_061_666_327)
        #expect(h.sink.trades.last?.isTradeIdDigest == false)
    }

    @Test func acksAndPongsAreControlMessagesAndAnErrorReplyIsARejection() throws {
        var h = try harness()
        #expect(h.send(#"{"success":true,"ret_msg":"","conn_id":"d8bu1olkndm7crnfs1e0-j6akw","req_id":"","op":"subscribe"}"#) == nil)
        #expect(h.send(#"{"success":true,"ret_msg":"pong","conn_id":"c","req_id":"","op":"ping"}"#) == nil)
        #expect(h.send(#"{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"c"}"#) == nil)
        #expect(h.adapter.counters.controlMessages == 3)
        let rejected = h.send(#"{"success":false,"ret_msg":"error:handler not found","conn_id":"c","req_id":"","op":"subscribe"}"#)
        #expect(rejected == .venueRejected("error:handler not found"))
    }

    @Test func pingsEveryTwentySeconds() throws {
        var h = try harness()
        h.adapter.tick(now: 1 + 19_000_000_000, requests: &h.requests)
        #expect(h.requests.isEmpty)
        h.adapter.tick(now: 1 + 20_000_000_000, requests: &h.requests)
        #expect(h.takeRequests() == [.sendText(#"{"op":"ping"}"#)])
        h.adapter.tick(now: 1 + 30_000_000_000, requests: &h.requests)
        #expect(h.requests.isEmpty)
    }

    @Test func aMalformedBookMessageInvalidatesAndResubscribesThatSymbolOnly() throws {
        var h = try harness(["BTCUSDT", "ETHUSDT"])
        h.send(BybitFixtures.snapshot("BTCUSDT", u: 10))
        h.send(BybitFixtures.snapshot("ETHUSDT", u: 10))
        let bad = BybitFixtures.delta("BTCUSDT", u: 11, quantity: "1.2345")  // finer than the 3-decimal lot
        guard case .malformed(let error) = h.send(bad) else { Issue.record("expected a malformed error"); return }
        #expect(error.kind == .decimal(.inexact))
        #expect(h.state("BTCUSDT") == .invalid)
        #expect(h.state("ETHUSDT") == .valid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.malformedMessage])
        #expect(h.adapter.counters[h.id("BTCUSDT")].parseErrors == 1)
        #expect(h.takeRequests().count == 2)
        #expect(h.levels("BTCUSDT", .bid) == ["100.00×1.000"])  // nothing of the bad message applied
    }

    @Test func unknownSymbolsAndTopicsAreTypedErrors() throws {
        var h = try harness()
        #expect(h.send(BybitFixtures.snapshot("XRPUSDT", u: 1)) == .unknownSymbol("XRPUSDT"))
        #expect(h.send(#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{}}"#) == .unexpectedMessage("topic tickers.BTCUSDT"))
        #expect(h.send("pong") != nil)
        #expect(h.adapter.counters.unattributedParseErrors == 3)
    }

    @Test func theDataObjectMayComeBeforeTheTopic() throws {
        var h = try harness()
        let reordered = #"{"data":{"s":"BTCUSDT","b":[["100.00","1"]],"a":[["101.00","1"]],"u":5},"type":"snapshot","ts":1,"topic":"orderbook.200.BTCUSDT"}"#
        #expect(h.send(reordered) == nil)
        #expect(h.state("BTCUSDT") == .valid)
    }

    @Test func aResyncRequestResubscribesThatTopic() throws {
        var h = try harness(["BTCUSDT", "ETHUSDT"])
        h.adapter.resync(h.id("ETHUSDT"), requests: &h.requests)
        #expect(h.takeRequests() == [
            .sendText(#"{"op":"unsubscribe","args":["orderbook.200.ETHUSDT"]}"#),
            .sendText(#"{"op":"subscribe","args":["orderbook.200.ETHUSDT"]}"#),
        ])
    }

    @Test func everyTruncationOfTheDocumentedMessagesIsATypedErrorAndAppliesNothing() throws {
        for message in [BybitFixtures.snapshot, BybitFixtures.delta, BybitFixtures.trade] {
            try checkEveryTruncation(of: message) {
                var h = try harness()
                h.send(BybitFixtures.snapshot)
                return h
            }
        }
    }
}

/// FNV-1a 64 of a string, computed independently of the adapter's helper.
func fnv1a64Digest(_ text: String) -> UInt64 {
    text.utf8.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
}
