import Foundation
import Testing
import TickwireCore
@testable import TickwireVenues

/// Kraken v2 book messages. The snapshot is Kraken's own documentation example, read from
/// ../shared/samples (never copied into the repository). The ETH/USD example of reference §5
/// (2606672715 → 3329440863) is not rebuilt here: the reference elides its levels ("…").
enum KrakenFixtures {
    static func docsExampleSnapshot() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/samples/checksum-vectors/kraken-v2-docs-example.json")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Expected checksums below were computed independently (Python zlib.crc32 over Kraken's
    /// string: top 10 asks then bids, digits at the pair's precision, no point or leading zeros).
    static let deleteBestAskAddDeeperAsk = #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[{"price":45285.2,"qty":0.00000000},{"price":45300.1,"qty":0.50000000}],"checksum":1398182243,"timestamp":"2023-10-06T17:35:56.000001Z"}]}"#
    static let betterBidPushesOutTheDeepest = #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45284.0,"qty":1.00000000}],"asks":[],"checksum":171994582,"timestamp":"2023-10-06T17:35:56.000002Z"}]}"#
    static let trade = #"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":45284.1,"qty":0.00010000,"ord_type":"market","trade_id":4665906,"timestamp":"2023-10-06T17:35:56.100000Z"}]}"#
}

@Suite struct KrakenTests {
    /// Books activated with `levelsPerSide == depth`, scales = BTC/USD precision (1, 8).
    func harness(_ symbols: [String] = ["BTC/USD"], depth: Int = 10) throws -> VenueHarness<KrakenAdapter> {
        var harness = try VenueHarness(venue: .kraken, symbols: symbols, priceScale: 1, quantityScale: 8, levels: depth) {
            try KrakenAdapter(symbols: $0, depth: depth)
        }
        harness.connect()
        _ = harness.takeRequests()
        return harness
    }

    @Test func connectingMarksBooksPendingAndSubscribesBookAtTheDepthAndTrades() throws {
        var h = try VenueHarness(venue: .kraken, symbols: ["BTC/USD", "MATIC/GBP"], priceScale: 1, quantityScale: 8, levels: 25) {
            try KrakenAdapter(symbols: $0, depth: 25)
        }
        h.connect()
        #expect(h.sink.log == ["invalid #0 snapshotPending", "invalid #1 snapshotPending"])
        #expect(h.takeRequests() == [
            .sendText(#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD","MATIC/GBP"],"depth":25,"snapshot":true},"req_id":1}"#),
            .sendText(#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","MATIC/GBP"],"snapshot":false},"req_id":2}"#),
        ])
    }

    @Test func anUnsupportedDepthIsRefusedAtSetUp() throws {
        #expect(throws: VenueSetupError.self) {
            _ = try VenueHarness(venue: .kraken, symbols: ["BTC/USD"], priceScale: 1, quantityScale: 8) {
                try KrakenAdapter(symbols: $0, depth: 50)
            }
        }
    }

    @Test func theDocsExampleSnapshotParsedByTheAdapterHasChecksum3310070434() throws {
        var h = try harness()
        #expect(h.send(try KrakenFixtures.docsExampleSnapshot()) == nil)
        #expect(h.sink.log.last?.hasPrefix("complete #0") == true)
        #expect(h.state("BTC/USD") == .valid)
        #expect(h.sink.keeper.counters[0].checksumFailures == 0)
        #expect(h.levels("BTC/USD", .bid).first == "45283.5×0.10000000")
        #expect(h.levels("BTC/USD", .ask).first == "45285.2×0.00100000")
        #expect(h.lastPublishedUpdateId == 1_696_613_755_440_295_000)  // its timestamp, in ns
    }

    @Test func aOneDigitChangeToTheDocsExampleFailsTheChecksumAndResubscribesThatSymbol() throws {
        var h = try harness(["BTC/USD", "ETH/USD"])
        let changed = try KrakenFixtures.docsExampleSnapshot().replacingOccurrences(of: "0.15445238", with: "0.15445239")
        #expect(h.send(changed) == nil)
        #expect(h.state("BTC/USD") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.checksumMismatch])
        h.runResyncs()
        #expect(h.takeRequests() == [
            .sendText(#"{"method":"unsubscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10},"req_id":3}"#),
            .sendText(#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10,"snapshot":true},"req_id":4}"#),
        ])
        #expect(h.adapter.counters[h.id("BTC/USD")].resyncs == 1)
    }

    @Test func anUpdateIsAppliedWholeAndTruncatedToTheDepthBeforeItsChecksum() throws {
        var h = try harness()
        h.send(try KrakenFixtures.docsExampleSnapshot())
        #expect(h.send(KrakenFixtures.deleteBestAskAddDeeperAsk) == nil)
        #expect(h.state("BTC/USD") == .valid)
        #expect(h.levels("BTC/USD", .ask).count == 10)
        #expect(h.levels("BTC/USD", .ask).last == "45300.1×0.50000000")
        #expect(h.send(KrakenFixtures.betterBidPushesOutTheDeepest) == nil)
        #expect(h.state("BTC/USD") == .valid)
        #expect(h.levels("BTC/USD", .bid).count == 10)
        #expect(h.levels("BTC/USD", .bid).last == "45277.3×1.54602737")  // 45276.6 fell out of scope
        #expect(h.sink.keeper.counters[0].checksumFailures == 0)
        #expect(h.lastPublishedUpdateId == 1_696_613_756_000_002_000)
    }

    @Test func anInsertListedBeforeTheDeleteThatMakesRoomForItStillLandsInTheBook() throws {
        var h = try harness()
        h.send(try KrakenFixtures.docsExampleSnapshot())
        let insertFirst = #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[{"price":45300.1,"qty":0.50000000},{"price":45285.2,"qty":0.00000000}],"checksum":1398182243,"timestamp":"2023-10-06T17:35:56.000001Z"}]}"#
        #expect(h.send(insertFirst) == nil)
        #expect(h.state("BTC/USD") == .valid)
        #expect(h.sink.log.suffix(3).first == "delta #0 ask 452852 0")
    }

    @Test func updatesBeforeTheSnapshotAreNotApplied() throws {
        var h = try harness()
        h.send(KrakenFixtures.betterBidPushesOutTheDeepest)
        #expect(!h.sink.log.contains { $0.hasPrefix("delta") })
        #expect(h.state("BTC/USD") == .invalid)
    }

    @Test func heartbeatsStatusAndAcksAreControlMessagesAndAFailedRequestIsARejection() throws {
        var h = try harness()
        #expect(h.send(#"{"channel":"heartbeat"}"#) == nil)
        #expect(h.send(#"{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":1,"system":"online","version":"2.0.0"}]}"#) == nil)
        #expect(h.send(#"{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"ETH/USD"},"success":true,"time_in":"2025-05-06T09:17:25.000000Z","time_out":"2025-05-06T09:17:25.000100Z"}"#) == nil)
        #expect(h.send(#"{"method":"pong","req_id":7,"time_in":"2025-05-06T09:17:25.000000Z","time_out":"2025-05-06T09:17:25.000100Z"}"#) == nil)
        #expect(h.adapter.counters.controlMessages == 4)
        #expect(h.send(#"{"error":"Currency pair not supported ETH/USDX","method":"subscribe","req_id":1,"success":false,"symbol":"ETH/USDX"}"#)
            == .venueRejected("Currency pair not supported ETH/USDX"))
    }

    @Test func tradesGiveTheTakerSide() throws {
        var h = try harness()
        #expect(h.send(KrakenFixtures.trade) == nil)
        let trade = try #require(h.sink.trades.first)
        #expect(trade.aggressor == .bid)
        #expect(trade.price == Price(mantissa: 452_841))
        #expect(trade.quantity == Quantity(mantissa: 10_000))
        #expect(trade.tradeId == 4_665_906)
        #expect(trade.eventTime == 1_696_613_756_100_000_000)
        h.send(KrakenFixtures.trade.replacingOccurrences(of: #""side":"buy""#, with: #""side":"sell""#))
        #expect(h.sink.trades.last?.aggressor == .ask)
    }

    @Test func aPriceFinerThanThePairsPrecisionIsMalformedAndResubscribesThatSymbol() throws {
        var h = try harness()
        h.send(try KrakenFixtures.docsExampleSnapshot())
        let bad = KrakenFixtures.betterBidPushesOutTheDeepest.replacingOccurrences(of: "45284.0", with: "45284.05")
        guard case .malformed(let error) = h.send(bad) else { Issue.record("expected a malformed error"); return }
        #expect(error.kind == .decimal(.inexact))
        #expect(h.state("BTC/USD") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.malformedMessage])
        #expect(h.takeRequests().count == 2)
        #expect(h.levels("BTC/USD", .bid).first == "45283.5×0.10000000")
    }

    @Test func unknownSymbolsAndChannelsAreTypedErrors() throws {
        var h = try harness()
        #expect(h.send(KrakenFixtures.trade.replacingOccurrences(of: "BTC/USD", with: "XBT/EUR")) == .unknownSymbol("XBT/EUR"))
        #expect(h.send(#"{"channel":"ticker","type":"update","data":[]}"#) == .unexpectedMessage("channel ticker"))
    }

    @Test func everyTruncationOfTheDocsExampleAndAnUpdateIsATypedErrorAndAppliesNothing() throws {
        let snapshot = try KrakenFixtures.docsExampleSnapshot()
        for message in [snapshot, KrakenFixtures.deleteBestAskAddDeeperAsk, KrakenFixtures.trade] {
            try checkEveryTruncation(of: message) {
                var h = try harness()
                h.send(snapshot)
                return h
            }
        }
    }
}
