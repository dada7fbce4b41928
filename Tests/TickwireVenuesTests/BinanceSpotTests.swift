import Testing
import TickwireCore
@testable import TickwireVenues

@Suite struct BinanceSpotSyncTests {
    let eth = SpotHarness.eth
    let btc = SpotHarness.btc

    @Test func theFirstDepthEventIsBufferedAndTheRESTSnapshotIsRequested() throws {
        var h = SpotHarness()
        try h.send(h.depthFrame(10, 12, bids: [("100.00", "1.000")]))
        #expect(h.events().isEmpty)
        #expect(h.takeRequests() == [.fetchSnapshot(eth, url: "https://api.binance.com/api/v3/depth?symbol=ETHUSDT&limit=5000")])
        #expect(h.adapter.phase(of: eth) == .buffering)
        try h.send(h.depthFrame(13, 15))
        #expect(h.takeRequests().isEmpty)  // one fetch at a time
        #expect(h.counters().eventsBuffered == 2)
        #expect(h.counters().messages == 2)
    }

    @Test func aSnapshotOlderThanTheFirstBufferedEventIsFetchedAgain() throws {
        var h = SpotHarness()
        try h.send(h.depthFrame(10, 12))
        _ = h.takeRequests()
        try h.snapshot(eth, h.snapshotBody(9, bids: [("99.00", "1.000")], asks: []))
        #expect(h.events().isEmpty)
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        #expect(h.counters().snapshotRefetches == 1)
        #expect(h.adapter.phase(of: eth) == .buffering)
    }

    @Test func eventsWithUAtOrBelowLastUpdateIdAreDroppedAndTheStraddlingOneIsApplied() throws {
        var h = SpotHarness()
        try h.send(h.depthFrame(10, 12, bids: [("100.00", "1.000")]))
        try h.send(h.depthFrame(13, 15, bids: [("100.50", "3.000")], asks: [("101.00", "0")]))
        _ = h.takeRequests()
        try h.snapshot(eth, h.snapshotBody(13, bids: [("100.00", "2.000")], asks: [("101.00", "4.500")]))
        #expect(h.events() == [
            .begins(0),
            .delta(.bid, 10000, 2000, u: 13, last: false), .delta(.ask, 10100, 4500, u: 13, last: true),
            .complete(0, u: 13),
            .delta(.bid, 10050, 3000, u: 15, last: false), .delta(.ask, 10100, 0, u: 15, last: true),
            .complete(0, u: 15),
        ])
        #expect(h.counters().eventsCoveredBySnapshot == 1)
        #expect(h.adapter.localUpdateId(of: eth) == 15)
    }

    @Test func u_equalToLastUpdateIdIsDroppedAndLiveEventsContinueFromTheSnapshotId() throws {
        // The captures' own situation: every buffered event is in the snapshot; the next
        // live event starts at lastUpdateId + 1.
        var h = SpotHarness()
        try h.send(h.depthFrame(10, 12, bids: [("100.00", "1.000")]))
        try h.snapshot(eth, h.snapshotBody(12, bids: [("100.00", "1.000")], asks: [("101.00", "1.000")]))
        #expect(completes(h.events()) == [12])
        try h.send(h.depthFrame(13, 14, bids: [("100.00", "2.000")]))
        #expect(h.events() == [.delta(.bid, 10000, 2000, u: 14, last: true), .complete(0, u: 14)])
        #expect(h.counters().gaps == 0)
    }

    @Test func aFirstBufferedEventThatDoesNotStraddleTheSnapshotIsAGap() throws {
        var h = SpotHarness()
        try h.send(h.depthFrame(10, 12))
        try h.send(h.depthFrame(14, 15))  // 13 is missing
        _ = h.takeRequests()
        try h.snapshot(eth, h.snapshotBody(12, bids: [], asks: []))
        #expect(h.events() == [.invalid(0, .sequenceGap)])
        #expect(h.counters().gaps == 1)
        #expect(h.adapter.phase(of: eth) == .waitingForEvent)
        try h.send(h.depthFrame(16, 17))
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
    }

    @Test func eventsContinueWhenUIsLocalPlusOneAndOverlapsAreApplied() throws {
        var h = SpotHarness()
        try h.sync(first: 10, last: 12, lastUpdateId: 11)
        try h.send(h.depthFrame(13, 20))
        try h.send(h.depthFrame(18, 25))  // overlaps: U <= local + 1, u >= local
        #expect(completes(h.events()) == [20, 25])
        #expect(h.counters().gaps == 0)
    }

    @Test func anEventOlderThanTheBookIsIgnored() throws {
        var h = SpotHarness()
        try h.sync(first: 10, last: 12, lastUpdateId: 11)
        try h.send(h.depthFrame(8, 11, bids: [("1.00", "1.000")]))
        #expect(h.events().isEmpty)
        #expect(h.counters().staleEventsIgnored == 1)
        #expect(h.adapter.localUpdateId(of: eth) == 12)
    }

    @Test func aGapInvalidatesOnlyThatSymbolAndRestartsItsSnapshotProcess() throws {
        var h = SpotHarness()
        try h.sync(eth, symbol: "ETHUSDT", first: 10, last: 12, lastUpdateId: 11)
        try h.sync(btc, symbol: "BTCUSDT", first: 100, last: 120, lastUpdateId: 110)
        try h.send(h.depthFrame(14, 15))  // expected U == 13
        #expect(h.events() == [.invalid(0, .sequenceGap)])
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        #expect(h.counters().gaps == 1)
        #expect(h.counters().resyncs == 1)
        #expect(h.adapter.phase(of: eth) == .buffering)
        #expect(h.adapter.phase(of: btc) == .synced)
        // The event that showed the gap is the first of the new buffer.
        try h.snapshot(eth, h.snapshotBody(14, bids: [("99.00", "1.000")], asks: []))
        #expect(completes(h.events()) == [14, 15])
        try h.send(h.depthFrame("BTCUSDT", 121, 122))
        #expect(completes(h.events()) == [122])
    }

    @Test func aBufferOverflowDropsTheBufferAndRestartsTheSnapshotProcess() throws {
        var h = SpotHarness(bufferBytes: 256)
        try h.send(h.depthFrame(10, 12, bids: [("100.00", "1.000")]))
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        try h.send(h.depthFrame(13, 15, bids: [("100.00", "1.000")]))
        #expect(h.counters().bufferOverflows == 1)
        #expect(h.takeRequests().isEmpty)  // the fetch under way is judged against the new buffer
        // That snapshot predates the new first event (13): step 4 fetches it again.
        try h.snapshot(eth, h.snapshotBody(12, bids: [], asks: []))
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        try h.snapshot(eth, h.snapshotBody(14, bids: [("99.00", "1.000")], asks: []))
        #expect(completes(h.events()) == [14, 15])
    }

    @Test func aMalformedDepthMessageIsNeverHalfAppliedAndResyncsTheBook() throws {
        var h = SpotHarness()
        try h.sync(first: 10, last: 12, lastUpdateId: 11)
        let bad = h.depthFrame(13, 14, bids: [("100.00", "1.000")], asks: [("101.00", "1.000"), ("10x.00", "2.000")])
        #expect(throws: VenueError.self) { try h.send(bad) }
        #expect(h.events() == [.invalid(0, .malformedMessage)])
        #expect(h.counters().parseErrors == 1)
        #expect(h.counters().malformedBookMessages == 1)
        #expect(h.counters().resyncs == 1)
        #expect(h.adapter.phase(of: eth) == .waitingForEvent)
        try h.send(h.depthFrame(15, 16))
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
    }

    @Test func aTruncatedCombinedFrameIsAttributedByItsStreamName() throws {
        var h = SpotHarness()
        try h.sync(btc, symbol: "BTCUSDT", first: 10, last: 12, lastUpdateId: 11)
        let truncated = #"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255"#
        #expect(throws: VenueError.malformed(JSONError(.truncated, offset: truncated.utf8.count))) { try h.send(truncated) }
        #expect(h.events() == [.invalid(1, .malformedMessage)])
        #expect(h.counters(btc).parseErrors == 1)
        // A trade stream's damage does not touch the book.
        #expect(throws: VenueError.self) { try h.send(#"{"stream":"ethusdt@trade","data":{"e":"trade","#) }
        #expect(h.events().isEmpty)
        #expect(h.counters(eth).parseErrors == 1)
        // Raw and unattributable: counted for the connection.
        #expect(throws: VenueError.self) { try h.send(#"{"e":"depthUpdate","E":"#) }
        #expect(h.adapter.connectionCounters.unattributedParseErrors == 1)
    }

    @Test func anUnknownSymbolIsATypedErrorAndCounted() throws {
        var h = SpotHarness()
        #expect(throws: VenueError.unknownSymbol("XRPUSDT")) { try h.send(h.depthFrame("XRPUSDT", 1, 2, bids: [("0.5123", "1")])) }
        #expect(h.adapter.connectionCounters.unknownSymbolMessages == 1)
        #expect(h.events().isEmpty)
        #expect(h.takeRequests().isEmpty)
    }

    @Test func subscriptionRepliesAreControlMessagesAndErrorRepliesAreRejections() throws {
        var h = SpotHarness()
        try h.send(#"{"result":null,"id":1}"#)
        #expect(h.adapter.connectionCounters.controlMessages == 1)
        #expect(throws: VenueError.venueRejected("Invalid request: unknown variant")) {
            try h.send(#"{"code":2,"msg":"Invalid request: unknown variant","id":1}"#)
        }
        #expect(throws: VenueError.venueRejected("Unknown property")) {
            try h.send(#"{"error":{"code":0,"msg":"Unknown property"},"id":3}"#)
        }
        #expect(h.adapter.connectionCounters.rejections == 2)
        #expect(throws: VenueError.self) { try h.send(#"{"e":"24hrTicker","s":"ETHUSDT"}"#) }
        #expect(h.adapter.connectionCounters.unexpectedMessages == 1)
    }

    @Test func rawAndCombinedFramesInEitherKeyOrderGiveTheSameEvents() throws {
        var outputs: [[SinkEvent]] = []
        for form in 0..<3 {
            var h = SpotHarness()
            try h.sync(first: 10, last: 12, lastUpdateId: 11)
            let raw = h.depthFrame(13, 14, bids: [("100.25", "1.500")], asks: [("101.00", "0.000")], combined: false)
            switch form {
            case 0: try h.send(raw)
            case 1: try h.send(#"{"stream":"ethusdt@depth@100ms","data":\#(raw)}"#)
            default: try h.send(#"{"data":\#(raw),"stream":"ethusdt@depth@100ms"}"#)
            }
            outputs.append(h.events())
        }
        #expect(outputs[0] == [.delta(.bid, 10025, 1500, u: 14, last: false), .delta(.ask, 10100, 0, u: 14, last: true), .complete(0, u: 14)])
        #expect(outputs[1] == outputs[0])
        #expect(outputs[2] == outputs[0])
    }

    @Test func levelsBeforeTheSymbolAreParsedAtTheSymbolsScale() throws {
        var h = SpotHarness()
        try h.sync(first: 10, last: 12, lastUpdateId: 11)
        try h.send(#"{"b":[["100.25","1.5"]],"a":[["101","2"]],"e":"depthUpdate","E":1,"U":13,"u":14,"s":"ETHUSDT"}"#)
        #expect(h.events() == [.delta(.bid, 10025, 1500, u: 14, last: false), .delta(.ask, 10100, 2000, u: 14, last: true), .complete(0, u: 14)])
    }

    @Test func tradeAggressorComesFromTheMakerFlag() throws {
        var h = SpotHarness()
        try h.send(#"{"stream":"ethusdt@trade","data":{"e":"trade","E":1723161255343,"s":"ETHUSDT","t":3735683259,"p":"2683.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#, at: 7)
        try h.send(#"{"e":"aggTrade","E":1672515782136,"s":"ETHUSDT","a":12345,"p":"0.01","q":"100","f":100,"l":105,"T":1672515782137,"m":false,"M":true}"#, at: 8)
        #expect(h.events() == [
            .trade(Trade(instrument: eth, price: Price(mantissa: 268_363), quantity: Quantity(mantissa: 20), aggressor: .ask,
                         tradeId: 3_735_683_259, eventTime: 1_723_161_255_342_000_000, receiveTime: 7)),
            .trade(Trade(instrument: eth, price: Price(mantissa: 1), quantity: Quantity(mantissa: 100_000), aggressor: .bid,
                         tradeId: 12345, eventTime: 1_672_515_782_137_000_000, receiveTime: 8)),
        ])
        #expect(h.counters().trades == 2)
    }

    @Test func theSpotBookTickerHasNoEventTime() throws {
        var h = SpotHarness()
        try h.send(#"{"stream":"ethusdt@bookTicker","data":{"u":35346513501,"s":"ETHUSDT","b":"2683.80000000","B":"3.02900000","a":"2683.81000000","A":"31.43900000"}}"#, at: 5)
        #expect(h.events() == [.quote(BestBidOffer(
            instrument: eth, bidPrice: Price(mantissa: 268_380), bidQuantity: Quantity(mantissa: 3029),
            askPrice: Price(mantissa: 268_381), askQuantity: Quantity(mantissa: 31_439),
            venueUpdateId: 35_346_513_501, eventTime: 0, receiveTime: 5))])
    }

    @Test func aPriceFinerThanTheScaleIsAParseErrorNotARounding() throws {
        var h = SpotHarness()
        #expect(throws: VenueError.malformed(JSONError(.decimal(.inexact), offset: 0))) {
            try h.send(#"{"u":1,"s":"ETHUSDT","b":"2683.805","B":"1","a":"2683.81","A":"1"}"#)
        }
        #expect(h.counters().parseErrors == 1)
    }

    @Test func serverShutdownAndTheDailyLimitAskForAReconnect() throws {
        var h = SpotHarness()
        try h.send(#"{"e":"serverShutdown","E":1723161255343}"#)
        #expect(h.takeRequests() == [.reconnect(reason: "Binance serverShutdown event")])
        let start: UInt64 = 1_723_161_255_000_000_000
        h.adapter.connected(receiveTime: start, sink: &h.sink, requests: &h.requests)
        _ = h.takeRequests()
        h.adapter.tick(now: start + 3600 * 1_000_000_000, requests: &h.requests)
        #expect(h.takeRequests().isEmpty)
        h.adapter.tick(now: start + (23 * 3600 + 31 * 60) * 1_000_000_000, requests: &h.requests)
        #expect(h.takeRequests().count == 1)
        h.adapter.tick(now: start + (23 * 3600 + 32 * 60) * 1_000_000_000, requests: &h.requests)
        #expect(h.takeRequests().isEmpty)  // once per connection
    }

    @Test func connectingInvalidatesEveryBookAndSubscribes() throws {
        var h = SpotHarness()
        try h.sync(first: 10, last: 12, lastUpdateId: 11)
        h.adapter.connected(receiveTime: 1, sink: &h.sink, requests: &h.requests)
        #expect(h.events() == [.invalid(0, .snapshotPending), .invalid(1, .snapshotPending)])
        #expect(h.takeRequests() == [.sendText(
            #"{"method":"SUBSCRIBE","params":["ethusdt@depth@100ms","ethusdt@trade","ethusdt@bookTicker","btcusdt@depth@100ms","btcusdt@trade","btcusdt@bookTicker"],"id":1}"#)])
        #expect(h.adapter.phase(of: eth) == .waitingForEvent)
        #expect(h.adapter.configuration.connectionURL == "wss://stream.binance.com:9443/stream")
    }

    @Test func theCombinedStreamURLCanCarryTheSubscription() {
        var h = SpotHarness(subscribeInURL: true) { $0.tradeStream = .aggTrade; $0.bookTicker = false; $0.symbols.removeLast() }
        #expect(h.adapter.configuration.connectionURL == "wss://stream.binance.com:9443/stream?streams=ethusdt@depth@100ms/ethusdt@aggTrade")
        h.adapter.connected(receiveTime: 1, sink: &h.sink, requests: &h.requests)
        #expect(h.takeRequests().isEmpty)
    }

    @Test func aKeeperResyncRestartsOnlyThatSymbol() throws {
        var h = SpotHarness()
        try h.sync(eth, symbol: "ETHUSDT", first: 10, last: 12, lastUpdateId: 11)
        try h.sync(btc, symbol: "BTCUSDT", first: 10, last: 12, lastUpdateId: 11)
        h.adapter.resync(eth, requests: &h.requests)
        #expect(h.adapter.phase(of: eth) == .waitingForEvent)
        #expect(h.adapter.phase(of: btc) == .synced)
        #expect(h.counters().resyncs == 1)
        try h.send(h.depthFrame(13, 14))
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        #expect(h.events().isEmpty)
    }

    @Test func aSnapshotNobodyWaitsForIsIgnoredAndAMalformedOneIsFetchedAgain() throws {
        var h = SpotHarness()
        try h.snapshot(eth, h.snapshotBody(5, bids: [], asks: []))
        #expect(h.counters().unexpectedSnapshots == 1)
        try h.send(h.depthFrame(10, 12))
        _ = h.takeRequests()
        #expect(throws: VenueError.self) { try h.snapshot(eth, #"{"lastUpdateId":12,"bids":[["1.00""#) }
        #expect(isOneSnapshotRequest(h.takeRequests(), eth))
        #expect(h.adapter.phase(of: eth) == .buffering)
    }
}
