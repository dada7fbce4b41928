import Testing
import TickwireCore
@testable import TickwireVenues

@Suite struct BinanceUSDMSyncTests {
    let eth = USDMHarness.eth

    @Test func theSnapshotComesFromTheFuturesEndpointWithLimit1000() throws {
        var h = USDMHarness()
        try h.send(h.depthFrame(10, 20, previous: 5))
        #expect(h.takeRequests() == [.fetchSnapshot(eth, url: "https://fapi.binance.com/fapi/v1/depth?symbol=ETHUSDT&limit=1000")])
    }

    @Test func onlyEventsWithUBelowLastUpdateIdAreDroppedThenThePuChainIsFollowed() throws {
        var h = USDMHarness()
        try h.send(h.depthFrame(5, 9, previous: 1))
        try h.send(h.depthFrame(10, 20, previous: 9, bids: [("100.00", "1.000")]))  // u == lastUpdateId: kept (spot would drop it)
        try h.send(h.depthFrame(21, 30, previous: 20, asks: [("101.00", "2.000")]))
        try h.snapshot(eth, h.snapshotBody(20, bids: [("99.00", "1.000")], asks: []))
        #expect(h.events() == [
            .begins(0), .delta(.bid, 9900, 1000, u: 20, last: true), .complete(0, u: 20),
            .delta(.bid, 10000, 1000, u: 20, last: true), .complete(0, u: 20),
            .delta(.ask, 10100, 2000, u: 30, last: true), .complete(0, u: 30),
        ])
        #expect(h.counters().eventsCoveredBySnapshot == 1)
        try h.send(h.depthFrame(35, 40, previous: 30))  // U jumps, but pu chains: fine on futures
        #expect(completes(h.events()) == [40])
        #expect(h.counters().gaps == 0)
    }

    @Test func aPuThatIsNotThePreviousUIsAGap() throws {
        var h = USDMHarness()
        try h.sync(first: 10, last: 20, lastUpdateId: 15)
        try h.send(h.depthFrame(25, 30, previous: 22))
        #expect(h.events() == [.invalid(0, .sequenceGap)])
        #expect(h.counters().gaps == 1)
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        #expect(h.adapter.phase(of: eth) == .buffering)
    }

    @Test func aDuplicateOrStaleEventBreaksThePuChain() throws {
        var h = USDMHarness()
        try h.sync(first: 10, last: 20, lastUpdateId: 15)
        try h.send(h.depthFrame(21, 30, previous: 20))
        try h.send(h.depthFrame(21, 30, previous: 20))
        #expect(h.events() == [.complete(0, u: 30), .invalid(0, .sequenceGap)])
    }

    @Test func aSnapshotOlderThanTheFirstBufferedEventIsFetchedAgainKeepingTheBuffer() throws {
        var h = USDMHarness()
        try h.send(h.depthFrame(30, 40, previous: 25))
        _ = h.takeRequests()
        try h.snapshot(eth, h.snapshotBody(20, bids: [], asks: []))
        #expect(h.events().isEmpty)
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        #expect(h.counters().snapshotRefetches == 1)
        try h.snapshot(eth, h.snapshotBody(35, bids: [("99.00", "1.000")], asks: []))
        #expect(completes(h.events()) == [35, 40])
    }

    @Test func whenTheSnapshotCoversTheBufferTheFirstLiveEventMustStraddleIt() throws {
        var ok = USDMHarness()
        try ok.send(ok.depthFrame(10, 20, previous: 5))
        try ok.snapshot(eth, ok.snapshotBody(25, bids: [("99.00", "1.000")], asks: []))
        #expect(completes(ok.events()) == [25])
        try ok.send(ok.depthFrame(21, 30, previous: 20))
        #expect(completes(ok.events()) == [30])

        var missed = USDMHarness()
        try missed.send(missed.depthFrame(10, 20, previous: 5))
        try missed.snapshot(eth, missed.snapshotBody(25, bids: [("99.00", "1.000")], asks: []))
        _ = missed.events()
        try missed.send(missed.depthFrame(26, 30, previous: 24))
        #expect(missed.events() == [.invalid(0, .sequenceGap)])
    }

    @Test func aDepthEventWithoutPuIsMalformed() throws {
        var h = USDMHarness()
        try h.sync(first: 10, last: 20, lastUpdateId: 15)
        #expect(throws: VenueError.malformed(JSONError(.missingField("pu"), offset: 0))) {
            try h.send(#"{"e":"depthUpdate","E":1,"T":1,"s":"ETHUSDT","U":21,"u":30,"b":[],"a":[]}"#)
        }
        #expect(h.events() == [.invalid(0, .malformedMessage)])
        #expect(h.counters().parseErrors == 1)
    }

    @Test func theFuturesBookTickerAndTradeCarryTransactionTimes() throws {
        var h = USDMHarness()
        try h.send(#"{"stream":"ethusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"ETHUSDT","b":"2681.62","B":"16.969","a":"2681.63","A":"73.077","T":1723161256313,"E":1723161256314}}"#, at: 3)
        try h.send(#"{"stream":"ethusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256321,"s":"ETHUSDT","t":5266583935,"p":"2681.63","q":"0.006","X":"MARKET","m":false}}"#, at: 4)
        #expect(h.events() == [
            .quote(BestBidOffer(instrument: eth, bidPrice: Price(mantissa: 268_162), bidQuantity: Quantity(mantissa: 16_969),
                                askPrice: Price(mantissa: 268_163), askQuantity: Quantity(mantissa: 73_077),
                                venueUpdateId: 5_123_107_839_020, eventTime: 1_723_161_256_313_000_000, receiveTime: 3)),
            .trade(Trade(instrument: eth, price: Price(mantissa: 268_163), quantity: Quantity(mantissa: 6), aggressor: .bid,
                         tradeId: 5_266_583_935, eventTime: 1_723_161_256_321_000_000, receiveTime: 4)),
        ])
    }

    @Test func theSubscriptionUsesTheConfiguredDepthSpeed() {
        var h = USDMHarness { $0.symbols.removeLast(); $0.bookTicker = false; $0.tradeStream = .none }
        h.adapter.connected(receiveTime: 1, sink: &h.sink, requests: &h.requests)
        #expect(h.takeRequests() == [.sendText(#"{"method":"SUBSCRIBE","params":["ethusdt@depth@0ms"],"id":1}"#)])
        #expect(BinanceUSDMRules.depthStreams.contains("depth@0ms"))
    }
}
