import Foundation
import Testing
import TickwireCore
import TickwireTestSupport
import TickwireSimulator
import TickwireTransport
import TickwireVenues

extension SimulatorFeedTests {
    /// The first 3000 lines of the spot capture (its REST snapshot is line 6): frames recorded
    /// before the snapshot reach the adapter before the REST answer exists, so it buffers,
    /// fetches, drops what the snapshot covers and applies the rest: zero gaps.
    @Test func replayedSpotCaptureThroughTheSimulatorSyncsTheSpotAdapterWithZeroGaps() throws {
        var configuration = SimulatorConfiguration(venue: .binanceSpot, instruments: [])
        configuration.replay = ReplayConfiguration(path: SampleCapture.path("binance/spot-ethusdt-20240808.gz"), speed: 0, maximumLines: 3000)
        configuration.heartbeatInterval = .max / 2
        let feed = try LockstepFeed(configuration: configuration, path: "/stream", levelsPerSide: 5000) { symbols, simulator in
            BinanceSpotAdapter(configuration: BinanceConfiguration(wsURL: simulator.url, restURL: simulator.restURL, symbols: symbols,
                                                                   depthStream: "depth@100ms"))
        }
        #expect(feed.symbols == ["ETHUSDT"])
        try feed.connect()
        var batches = 0
        while try feed.replayStep(100) { batches += 1 }
        let eth = feed.instrument("ETHUSDT")
        let counters = feed.adapter.binanceCounters(eth)
        #expect(batches >= 29)
        #expect(counters.gaps == 0)
        #expect(counters.resyncs == 0)
        #expect(counters.snapshotsApplied == 1)
        #expect(counters.eventsBuffered >= 1, "the first depth events were buffered while the snapshot was fetched")
        #expect(counters.eventsCoveredBySnapshot >= 1)
        #expect(counters.depthUpdatesApplied > 200)
        #expect(counters.parseErrors == 0)
        #expect(feed.parseErrors == 0)
        #expect(feed.state("ETHUSDT") == .valid)
        let book = feed.book("ETHUSDT")
        #expect(book.bids.count > 100 && book.asks.count > 100)
        #expect(book.bids[0].price < book.asks[0].price)
    }

    /// A dropped diff in the replay: the spot adapter sees the gap on the next diff, resyncs
    /// from the simulator's REST endpoint — now served from the book the replay rebuilt from
    /// the recorded snapshot and the stream — and ends valid and equal to that book.
    @Test func aDroppedDiffInTheReplayIsResyncedFromTheRebuiltBook() throws {
        var configuration = SimulatorConfiguration(venue: .binanceSpot, instruments: [])
        configuration.replay = ReplayConfiguration(path: SampleCapture.path("binance/spot-ethusdt-20240808.gz"), speed: 0, maximumLines: 3000)
        configuration.heartbeatInterval = .max / 2
        configuration.faults.drop = .nth(100)
        configuration.faults.logToStandardError = false
        let feed = try LockstepFeed(configuration: configuration, path: "/stream", levelsPerSide: 5000) { symbols, simulator in
            BinanceSpotAdapter(configuration: BinanceConfiguration(wsURL: simulator.url, restURL: simulator.restURL, symbols: symbols,
                                                                   depthStream: "depth@100ms"))
        }
        try feed.connect()
        while try feed.replayStep(100) {}
        let counters = feed.adapter.binanceCounters(feed.instrument("ETHUSDT"))
        let fault = try #require(feed.faultRecords().first)
        #expect(fault.kind == .drop)
        #expect(feed.stateAfter("ETHUSDT", client: fault.client, frame: fault.firstAffectedFrame - 1) == .valid)
        #expect(counters.gaps == 1)
        #expect(counters.snapshotsApplied == 2)
        #expect(feed.state("ETHUSDT") == .valid)
        let rebuilt = try #require(feed.thread.perform { $0.replayBook })
        #expect(rebuilt.isUsable)
        #expect(feed.adapter.localUpdateId(of: feed.instrument("ETHUSDT")) == rebuilt.book.updateId)
        let mine = feed.book("ETHUSDT"), truth = rebuilt.book.levels(depth: 100)
        #expect(Array(mine.bids.prefix(100)) == truth.bids && Array(mine.asks.prefix(100)) == truth.asks)
    }

    @Test func aMissingOrMalformedReplayFileIsAClearError() throws {
        var configuration = SimulatorConfiguration(venue: .binanceSpot, instruments: [])
        configuration.replay = ReplayConfiguration(path: "/nonexistent/capture.gz")
        #expect(throws: SimulatorError.replay("cannot open /nonexistent/capture.gz: No such file or directory")) {
            _ = try ExchangeSimulator(configuration: configuration)
        }
        let path = temporaryPath("bad.txt")
        try "1723161254024619568 {\"stream\":\"x@trade\",\"data\":{}}\nnot a line\n".write(toFile: path, atomically: true, encoding: .utf8)
        configuration.replay = ReplayConfiguration(path: path)
        #expect(throws: SimulatorError.replay("\(path):2: expected '<recv_ns> <frame>' (digits, a space, a JSON object)")) {
            _ = try ExchangeSimulator(configuration: configuration)
        }
        configuration.venue = .kraken
        #expect(throws: SimulatorError.self) { _ = try ExchangeSimulator(configuration: configuration) }
    }
}
