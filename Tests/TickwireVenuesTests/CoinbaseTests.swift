import Foundation
import Testing
import TickwireCore
@testable import TickwireVenues

/// The captured messages of reference §6, with the elided levels and fields filled in.
enum CoinbaseFixtures {
    static let snapshot = #"{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.483587501Z","sequence_num":13,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65083.66","new_quantity":"0.20371215"},{"side":"bid","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65083.00","new_quantity":"1.5"},{"side":"offer","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65106.54","new_quantity":"0.5"},{"side":"offer","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65110.00","new_quantity":"2"}]}]}"#
    static let heartbeat = #"{"channel":"heartbeats","client_id":"","timestamp":"2026-08-09T21:05:48.500000000Z","sequence_num":14,"events":[{"current_time":"2026-08-09 21:05:48.5 +0000 UTC m=+1.0","heartbeat_counter":3}]}"#
    static let update = #"{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.506659391Z","sequence_num":15,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"offer","event_time":"2026-08-09T21:05:48.264069Z","price_level":"65106.54","new_quantity":"0.15361938"}]}]}"#
    static let trade = #"{"channel":"market_trades","client_id":"","timestamp":"2026-08-09T21:05:48.2Z","sequence_num":9,"events":[{"type":"update","trades":[{"product_id":"BTC-USD","trade_id":"1068572091","price":"65083.67","size":"0.01034361","time":"2026-08-09T21:05:48.167634Z","side":"SELL"}]}]}"#

    static func book(_ product: String, _ type: String, sequence: UInt64, updates: [(String, String, String)]) -> String {
        let list = updates.map { #"{"side":"\#($0.0)","event_time":"2026-08-09T21:05:48.1Z","price_level":"\#($0.1)","new_quantity":"\#($0.2)"}"# }
        return #"{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.1Z","sequence_num":\#(sequence),"events":[{"type":"\#(type)","product_id":"\#(product)","updates":[\#(list.joined(separator: ","))]}]}"#
    }

    static func heartbeat(sequence: UInt64) -> String {
        #"{"channel":"heartbeats","client_id":"","timestamp":"2026-08-09T21:05:48.1Z","sequence_num":\#(sequence),"events":[{"current_time":"x","heartbeat_counter":1}]}"#
    }
}

@Suite struct CoinbaseTests {
    func harness(_ symbols: [String] = ["BTC-USD"]) throws -> VenueHarness<CoinbaseAdapter> {
        var harness = try VenueHarness(venue: .coinbase, symbols: symbols, priceScale: 2, quantityScale: 8) {
            try CoinbaseAdapter(symbols: $0, maxLevelsPerMessage: 1000)
        }
        harness.connect()
        _ = harness.takeRequests()
        return harness
    }

    @Test func connectingMarksBooksPendingAndSubscribesLevel2TradesAndHeartbeats() throws {
        var h = try VenueHarness(venue: .coinbase, symbols: ["BTC-USD", "ETH-USD"], priceScale: 2, quantityScale: 8) {
            try CoinbaseAdapter(symbols: $0)
        }
        h.connect()
        #expect(h.sink.log == ["invalid #0 snapshotPending", "invalid #1 snapshotPending"])
        #expect(h.takeRequests() == [
            .sendText(#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"level2"}"#),
            .sendText(#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"market_trades"}"#),
            .sendText(#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"heartbeats"}"#),
        ])
    }

    @Test func theCapturedSnapshotHeartbeatAndUpdateBuildTheBookAndPublishSequenceNum() throws {
        var h = try harness()
        #expect(h.send(CoinbaseFixtures.snapshot) == nil)
        #expect(h.lastPublishedUpdateId == 13)
        #expect(h.send(CoinbaseFixtures.heartbeat) == nil)
        #expect(h.adapter.counters.controlMessages == 1)
        #expect(h.send(CoinbaseFixtures.update) == nil)
        #expect(h.levels("BTC-USD", .bid) == ["65083.66×0.20371215", "65083.00×1.50000000"])
        #expect(h.levels("BTC-USD", .ask) == ["65106.54×0.15361938", "65110.00×2.00000000"])
        #expect(h.lastPublishedUpdateId == 15)
        #expect(Array(h.sink.log.suffix(2)) == ["delta #0 ask 6510654 15361938 last", "complete #0 15"])
        #expect(h.adapter.counters[h.id("BTC-USD")].gaps == 0)
        #expect(h.state("BTC-USD") == .valid)
    }

    @Test func aSequenceJumpOnAnyChannelIsAGapForEveryLevel2ProductAndResubscribesThemAll() throws {
        var h = try harness(["BTC-USD", "ETH-USD"])
        h.send(CoinbaseFixtures.book("BTC-USD", "snapshot", sequence: 13, updates: [("bid", "100.00", "1"), ("offer", "101.00", "1")]))
        h.send(CoinbaseFixtures.book("ETH-USD", "snapshot", sequence: 14, updates: [("bid", "10.00", "1"), ("offer", "11.00", "1")]))
        h.send(CoinbaseFixtures.heartbeat(sequence: 15))
        #expect(h.takeRequests().isEmpty)
        h.send(CoinbaseFixtures.heartbeat(sequence: 17))  // 16 was lost: nobody knows whose it was
        #expect(h.state("BTC-USD") == .invalid)
        #expect(h.state("ETH-USD") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.sequenceGap, .sequenceGap])
        #expect(h.adapter.counters[h.id("BTC-USD")].gaps == 1)
        #expect(h.adapter.counters[h.id("ETH-USD")].gaps == 1)
        #expect(h.takeRequests() == [
            .sendText(#"{"type":"unsubscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"level2"}"#),
            .sendText(#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"level2"}"#),
        ])
        // Updates before the fresh snapshots are dropped; each product comes back with its own.
        h.send(CoinbaseFixtures.book("BTC-USD", "update", sequence: 18, updates: [("bid", "99.00", "1")]))
        #expect(h.levels("BTC-USD", .bid) == ["100.00×1.00000000"])
        h.send(CoinbaseFixtures.book("BTC-USD", "snapshot", sequence: 19, updates: [("bid", "98.00", "1"), ("offer", "99.00", "1")]))
        #expect(h.state("BTC-USD") == .valid)
        #expect(h.state("ETH-USD") == .invalid)
        h.send(CoinbaseFixtures.book("ETH-USD", "snapshot", sequence: 20, updates: [("bid", "10.00", "1"), ("offer", "11.00", "1")]))
        #expect(h.state("ETH-USD") == .valid)
        #expect(h.adapter.counters[h.id("BTC-USD")].gaps == 1)
    }

    @Test func aRepeatedSequenceNumberIsAGapToo() throws {
        var h = try harness()
        h.send(CoinbaseFixtures.snapshot)
        h.send(CoinbaseFixtures.heartbeat(sequence: 13))
        #expect(h.adapter.counters[h.id("BTC-USD")].gaps == 1)
    }

    @Test func theFirstMessageOfEachConnectionStartsTheSequence() throws {
        var h = try harness()
        h.send(CoinbaseFixtures.heartbeat(sequence: 500))
        h.send(CoinbaseFixtures.heartbeat(sequence: 501))
        h.connect()
        h.send(CoinbaseFixtures.heartbeat(sequence: 0))
        h.send(CoinbaseFixtures.heartbeat(sequence: 1))
        #expect(h.adapter.counters[h.id("BTC-USD")].gaps == 0)
    }

    @Test func aResyncOfOneProductResubscribesOnlyThatProduct() throws {
        var h = try harness(["BTC-USD", "ETH-USD"])
        h.send(CoinbaseFixtures.book("BTC-USD", "snapshot", sequence: 1, updates: [("bid", "100.00", "1"), ("offer", "101.00", "1")]))
        h.send(CoinbaseFixtures.book("BTC-USD", "update", sequence: 2, updates: [("bid", "102.00", "1")]))  // crosses the book
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.crossedBook])
        h.runResyncs()
        #expect(h.takeRequests() == [
            .sendText(#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"level2"}"#),
            .sendText(#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}"#),
        ])
    }

    @Test func marketTradesGiveTheTakerSideOppositeToTheMakerSideCoinbaseReports() throws {
        var h = try harness()
        #expect(h.send(CoinbaseFixtures.trade) == nil)
        let trade = try #require(h.sink.trades.first)
        #expect(trade.aggressor == .bid)  // "SELL" at 65083.67, above the 65083.66 bid: a buyer took the offer
        #expect(trade.price == Price(mantissa: 6_508_367))
        #expect(trade.quantity == Quantity(mantissa: 1_034_361))
        #expect(trade.tradeId == 1_068_572_091)
        #expect(trade.eventTime == 1_786_309_548_167_634_000)
        h.send(CoinbaseFixtures.trade.replacingOccurrences(of: #""SELL""#, with: #""BUY""#).replacingOccurrences(of: #""sequence_num":9"#, with: #""sequence_num":10"#))
        #expect(h.sink.trades.last?.aggressor == .ask)
    }

    @Test func theTradeSnapshotOfRecentHistoryIsNotPublished() throws {
        var h = try harness()
        #expect(h.send(CoinbaseFixtures.trade.replacingOccurrences(of: #""type":"update""#, with: #""type":"snapshot""#)) == nil)
        #expect(h.sink.trades.isEmpty)
    }

    @Test func subscriptionRepliesAreControlAndErrorsAreRejections() throws {
        var h = try harness()
        #expect(h.send(#"{"channel":"subscriptions","client_id":"","timestamp":"2026-08-09T21:05:48.1Z","sequence_num":1,"events":[{"subscriptions":{"level2":["BTC-USD"]}}]}"#) == nil)
        #expect(h.adapter.counters.controlMessages == 1)
        #expect(h.send(#"{"type":"error","message":"failure to subscribe"}"#) == .venueRejected("failure to subscribe"))
        #expect(h.send(#"{"channel":"candles","timestamp":"2026-08-09T21:05:48.1Z","sequence_num":2,"events":[]}"#) == .unexpectedMessage("channel candles"))
    }

    @Test func aMalformedUpdateInvalidatesAndResubscribesThatProductAndItsSequenceStillCounts() throws {
        var h = try harness(["BTC-USD", "ETH-USD"])
        h.send(CoinbaseFixtures.book("BTC-USD", "snapshot", sequence: 1, updates: [("bid", "100.00", "1"), ("offer", "101.00", "1")]))
        h.send(CoinbaseFixtures.book("ETH-USD", "snapshot", sequence: 2, updates: [("bid", "10.00", "1"), ("offer", "11.00", "1")]))
        let bad = CoinbaseFixtures.book("BTC-USD", "update", sequence: 3, updates: [("ask", "100.50", "1")])  // "ask" is not a Coinbase side
        guard case .malformed = h.send(bad) else { Issue.record("expected a malformed error"); return }
        #expect(h.state("BTC-USD") == .invalid)
        #expect(h.state("ETH-USD") == .valid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.malformedMessage])
        #expect(h.takeRequests() == [
            .sendText(#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"level2"}"#),
            .sendText(#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}"#),
        ])
        h.send(CoinbaseFixtures.heartbeat(sequence: 4))
        #expect(h.adapter.counters[h.id("ETH-USD")].gaps == 0)
    }

    @Test func unknownProductsAreTypedErrors() throws {
        var h = try harness()
        #expect(h.send(CoinbaseFixtures.book("SOL-USD", "snapshot", sequence: 1, updates: [])) == .unknownSymbol("SOL-USD"))
    }

    @Test func eventsMayComeBeforeTheChannelAndUpdatesBeforeTheProduct() throws {
        var h = try harness()
        let reordered = #"{"events":[{"updates":[{"side":"bid","price_level":"100.00","new_quantity":"1"}],"product_id":"BTC-USD","type":"snapshot"}],"sequence_num":1,"timestamp":"2026-08-09T21:05:48.1Z","channel":"l2_data"}"#
        #expect(h.send(reordered) == nil)
        #expect(h.levels("BTC-USD", .bid) == ["100.00×1.00000000"])
    }

    @Test func everyTruncationOfTheCapturedMessagesIsATypedErrorAndAppliesNothing() throws {
        for message in [CoinbaseFixtures.snapshot, CoinbaseFixtures.update, CoinbaseFixtures.trade, CoinbaseFixtures.heartbeat] {
            try checkEveryTruncation(of: message) { try harness() }
        }
    }
}

@Suite struct ISO8601TimestampTests {
    func nanoseconds(_ text: String) throws(JSONError) -> UInt64 {
        try scan("\"\(text)\"") { (s) throws(JSONError) -> UInt64 in try s.isoTimestampNanoseconds() }
    }

    @Test func utcTimesWithUpToNineFractionDigitsBecomeNanosecondsSinceTheEpoch() throws {
        #expect(try nanoseconds("1970-01-01T00:00:00Z") == 0)
        #expect(try nanoseconds("2026-08-09T21:05:48.483587501Z") == 1_786_309_548_483_587_501)
        #expect(try nanoseconds("2026-08-09T21:05:48.167634Z") == 1_786_309_548_167_634_000)
        #expect(try nanoseconds("2000-02-29T12:00:00.5Z") == 951_825_600_500_000_000)
        #expect(try nanoseconds("2023-10-06T17:35:55.440295Z") == 1_696_613_755_440_295_000)
    }

    @Test func malformedTimesAreTypedErrors() {
        for bad in ["2026-13-01T00:00:00Z", "2026-08-09T21:05:48", "2026-08-09T21:05:48.1234567891Z", "2026-08-09 21:05:48Z",
                    "2026-08-09T21:05:48.Z", "2026-08-09T21:05:48+00:00", "1969-12-31T23:59:59Z", "",
                    "9999-12-31T23:59:59Z", "2555-01-01T00:00:00Z"] {  // beyond UInt64 ns: refused, never a trap (fuzz find)
            #expect(throws: JSONError.self, "\(bad)") { try nanoseconds(bad) }
        }
    }
}
