import Foundation
import Testing
import TickwireCore
@testable import TickwireVenues

/// Messages in the shape of reference §4 (the documented example with its elided levels
/// filled in; its checksum -855196043 covers levels the docs do not show, so these carry 0).
enum OKXFixtures {
    static let snapshot = #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"],["8475.55","101","0","1"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}"#
    static let update = #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98","0","0","0"]],"bids":[["8476.97","300","0","13"]],"ts":"1597026383085","checksum":0,"prevSeqId":123456,"seqId":123457}]}"#
    static let trade = #"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0"}]}"#

    static func book(
        _ action: String, symbol: String = "BTC-USDT", asks: [(String, String)] = [], bids: [(String, String)] = [],
        prev: Int64?, seq: Int64?, checksum: Int64 = 0, ts: String = "1597026383085"
    ) -> String {
        func side(_ levels: [(String, String)]) -> String {
            "[" + levels.map { #"["\#($0.0)","\#($0.1)","0","1"]"# }.joined(separator: ",") + "]"
        }
        let sequence = seq.map { #","prevSeqId":\#(prev!),"seqId":\#($0)"# } ?? ""
        return #"{"arg":{"channel":"books","instId":"\#(symbol)"},"action":"\#(action)","data":[{"asks":\#(side(asks)),"bids":\#(side(bids)),"ts":"\#(ts)","checksum":\#(checksum)\#(sequence)}]}"#
    }
}

@Suite struct OKXTests {
    func harness(_ symbols: [String] = ["BTC-USDT"]) throws -> VenueHarness<OKXAdapter> {
        var harness = try VenueHarness(venue: .okx, symbols: symbols, priceScale: 2, quantityScale: 8, levels: 400) {
            try OKXAdapter(symbols: $0)
        }
        harness.connect()
        _ = harness.takeRequests()
        return harness
    }

    @Test func connectingMarksBooksPendingAndSubscribesBooksAndTradesForEachInstId() throws {
        var h = try VenueHarness(venue: .okx, symbols: ["BTC-USDT", "ETH-USDT"], priceScale: 2, quantityScale: 8) {
            try OKXAdapter(symbols: $0)
        }
        h.connect()
        #expect(h.sink.log == ["invalid #0 snapshotPending", "invalid #1 snapshotPending"])
        #expect(h.takeRequests() == [.sendText(
            #"{"id":"1","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"},{"channel":"books","instId":"ETH-USDT"},{"channel":"trades","instId":"ETH-USDT"}]}"#)])
    }

    @Test func theDocumentedSnapshotThenUpdateBuildTheBookAndPublishSeqId() throws {
        var h = try harness()
        #expect(h.send(OKXFixtures.snapshot) == nil)
        #expect(h.lastPublishedUpdateId == 123_456)
        #expect(h.send(OKXFixtures.update) == nil)
        #expect(h.levels("BTC-USDT", .bid) == ["8476.97×300.00000000", "8475.55×101.00000000"])
        #expect(h.levels("BTC-USDT", .ask) == ["8477.00×7.00000000"])
        #expect(h.lastPublishedUpdateId == 123_457)
        #expect(Array(h.sink.log.suffix(3)) == ["delta #0 ask 847698 0", "delta #0 bid 847697 30000000000 last", "complete #0 123457"])
        #expect(h.state("BTC-USDT") == .valid)
    }

    @Test func theDocumentedSequenceWithAKeepaliveAndAMaintenanceResetHasNoGap() throws {
        var h = try harness()
        h.send(OKXFixtures.book("snapshot", asks: [("101", "1")], bids: [("100", "1")], prev: -1, seq: 10))
        h.send(OKXFixtures.book("update", bids: [("99", "1")], prev: 10, seq: 15))
        h.send(OKXFixtures.book("update", prev: 15, seq: 15))  // no update for a while: empty keepalive
        h.send(OKXFixtures.book("update", bids: [("98", "1")], prev: 15, seq: 3))  // reset by maintenance
        h.send(OKXFixtures.book("update", bids: [("97", "1")], prev: 3, seq: 5))
        #expect(h.adapter.counters[h.id("BTC-USDT")].gaps == 0)
        #expect(h.sink.keeper.observer.updates.map(\.1) == [10, 15, 3, 5])
        #expect(h.levels("BTC-USDT", .bid) == ["100.00×1.00000000", "99.00×1.00000000", "98.00×1.00000000", "97.00×1.00000000"])
        #expect(h.state("BTC-USDT") == .valid)
    }

    @Test func aPrevSeqIdThatDoesNotChainIsAGapForThatInstIdOnly() throws {
        var h = try harness(["BTC-USDT", "ETH-USDT"])
        h.send(OKXFixtures.book("snapshot", symbol: "BTC-USDT", asks: [("101", "1")], bids: [("100", "1")], prev: -1, seq: 10))
        h.send(OKXFixtures.book("snapshot", symbol: "ETH-USDT", asks: [("11", "1")], bids: [("10", "1")], prev: -1, seq: 70))
        h.send(OKXFixtures.book("update", symbol: "BTC-USDT", bids: [("99", "1")], prev: 11, seq: 12))
        #expect(h.state("BTC-USDT") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.sequenceGap])
        #expect(h.adapter.counters[h.id("BTC-USDT")].gaps == 1)
        #expect(h.levels("BTC-USDT", .bid) == ["100.00×1.00000000"])
        #expect(h.takeRequests() == [
            .sendText(#"{"id":"2","op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#),
            .sendText(#"{"id":"3","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#),
        ])
        h.send(OKXFixtures.book("update", symbol: "ETH-USDT", bids: [("9", "1")], prev: 70, seq: 71))
        #expect(h.state("ETH-USDT") == .valid)
        h.send(OKXFixtures.book("update", symbol: "BTC-USDT", bids: [("98", "1")], prev: 12, seq: 13))  // ignored until the snapshot
        #expect(h.adapter.counters[h.id("BTC-USDT")].gaps == 1)
        h.send(OKXFixtures.book("snapshot", symbol: "BTC-USDT", asks: [("101", "1")], bids: [("100", "1")], prev: -1, seq: 40))
        #expect(h.state("BTC-USDT") == .valid)
    }

    @Test func aKeepaliveThatDoesNotChainIsAGap() throws {
        var h = try harness()
        h.send(OKXFixtures.book("snapshot", asks: [("101", "1")], bids: [("100", "1")], prev: -1, seq: 10))
        h.send(OKXFixtures.book("update", prev: 12, seq: 12))
        #expect(h.adapter.counters[h.id("BTC-USDT")].gaps == 1)
    }

    /// Reference §4 vectors: "3366.1:7:3366.8:9:3366:6:3368:8" → -1881014294 and
    /// "3366.1:7:3366.8:9:3368:8:3372:8" → 831078360, as books this adapter builds.
    @Test func theDocumentedChecksumVectorsValidateTheBookAndAWrongChecksumInvalidatesAndResubscribes() throws {
        var h = try harness(["BTC-USDT", "ETH-USDT"])
        h.send(OKXFixtures.book("snapshot", asks: [("3366.8", "9"), ("3368", "8")], bids: [("3366.1", "7"), ("3366", "6")],
                                prev: -1, seq: 1, checksum: -1_881_014_294))
        #expect(h.state("BTC-USDT") == .valid)
        h.send(OKXFixtures.book("update", asks: [("3372", "8")], bids: [("3366", "0")], prev: 1, seq: 2, checksum: 831_078_360))
        #expect(h.state("BTC-USDT") == .valid)
        #expect(h.sink.keeper.counters[0].checksumFailures == 0)
        // One digit off: the book the adapter built no longer matches.
        h.send(OKXFixtures.book("update", asks: [("3372", "9")], prev: 2, seq: 3, checksum: 831_078_360))
        #expect(h.state("BTC-USDT") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.checksumMismatch])
        h.runResyncs()
        #expect(h.takeRequests() == [
            .sendText(#"{"id":"2","op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#),
            .sendText(#"{"id":"3","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#),
        ])
        #expect(h.adapter.counters[h.id("BTC-USDT")].resyncs == 1)
    }

    @Test func aZeroChecksumMeansNoChecksum() throws {
        var h = try harness()
        h.send(OKXFixtures.book("snapshot", asks: [("3366.8", "9")], bids: [("3366.1", "7")], prev: -1, seq: 1, checksum: 0))
        #expect(h.state("BTC-USDT") == .valid)
        #expect(h.sink.log.last == "complete #0 1")
    }

    @Test func olderMessagesWithoutSeqIdAreValidatedByChecksumAloneAndPublishTs() throws {
        var h = try harness()
        h.send(OKXFixtures.book("snapshot", asks: [("3366.8", "9"), ("3368", "8")], bids: [("3366.1", "7"), ("3366", "6")],
                                prev: nil, seq: nil, checksum: -1_881_014_294, ts: "1597026383085"))
        #expect(h.lastPublishedUpdateId == 1_597_026_383_085)
        h.send(OKXFixtures.book("update", asks: [("3372", "8")], bids: [("3366", "0")], prev: nil, seq: nil,
                                checksum: 831_078_360, ts: "1597026383185"))
        #expect(h.lastPublishedUpdateId == 1_597_026_383_185)
        #expect(h.adapter.counters[h.id("BTC-USDT")].gaps == 0)
        h.send(OKXFixtures.book("update", asks: [("3372", "0")], prev: nil, seq: nil, checksum: 831_078_360))
        #expect(h.state("BTC-USDT") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.checksumMismatch])
    }

    @Test func tradesGiveTheTakerSide() throws {
        var h = try harness()
        #expect(h.send(OKXFixtures.trade, at: 9) == nil)
        let trade = try #require(h.sink.trades.first)
        #expect(trade.aggressor == .bid)
        #expect(trade.price == Price(mantissa: 4_221_990))
        #expect(trade.quantity == Quantity(mantissa: 12_060_306))
        #expect(trade.tradeId == 130_639_474)
        #expect(!trade.isTradeIdDigest)
        #expect(trade.eventTime == 1_630_048_897_897_000_000)
        h.send(OKXFixtures.trade.replacingOccurrences(of: #""side":"buy""#, with: #""side":"sell""#))
        #expect(h.sink.trades.last?.aggressor == .ask)
    }

    @Test func pingsEvery25SecondsAndPongAcksAndNoticesAreControlMessages() throws {
        var h = try harness()
        h.adapter.tick(now: 1 + 24_000_000_000, requests: &h.requests)
        #expect(h.requests.isEmpty)
        h.adapter.tick(now: 1 + 25_000_000_000, requests: &h.requests)
        #expect(h.takeRequests() == [.sendText("ping")])
        #expect(h.send("pong") == nil)
        #expect(h.send(#"{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#) == nil)
        #expect(h.send(#"{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade.","connId":"a4d3ae55"}"#) == nil)
        #expect(h.adapter.counters.controlMessages == 3)
    }

    @Test func anErrorEventIsARejection() throws {
        var h = try harness()
        #expect(h.send(#"{"event":"error","code":"60012","msg":"Invalid request: {\"op\": \"subscribe\"}","connId":"a4d3ae55"}"#)
            == .venueRejected(#"Invalid request: {\"op\": \"subscribe\"}"#))
    }

    @Test func aMalformedBookMessageInvalidatesAndResubscribesThatInstId() throws {
        var h = try harness()
        h.send(OKXFixtures.snapshot)
        let bad = OKXFixtures.update.replacingOccurrences(of: #""checksum":0"#, with: #""checksum":4294967296"#)
        guard case .malformed = h.send(bad) else { Issue.record("expected a malformed error"); return }
        #expect(h.state("BTC-USDT") == .invalid)
        #expect(h.sink.keeper.observer.invalidations.map(\.1) == [.malformedMessage])
        #expect(h.takeRequests().count == 2)
        #expect(h.levels("BTC-USDT", .bid) == ["8476.97×256.00000000", "8475.55×101.00000000"])
    }

    @Test func unknownInstIdsAndChannelsAreTypedErrors() throws {
        var h = try harness()
        #expect(h.send(OKXFixtures.book("snapshot", symbol: "XRP-USDT", prev: -1, seq: 1)) == .unknownSymbol("XRP-USDT"))
        #expect(h.send(#"{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[]}"#) == .unexpectedMessage("channel tickers"))
    }

    @Test func everyTruncationOfTheDocumentedMessagesIsATypedErrorAndAppliesNothing() throws {
        for message in [OKXFixtures.snapshot, OKXFixtures.update, OKXFixtures.trade] {
            try checkEveryTruncation(of: message) {
                var h = try harness()
                h.send(OKXFixtures.snapshot)
                return h
            }
        }
    }
}
