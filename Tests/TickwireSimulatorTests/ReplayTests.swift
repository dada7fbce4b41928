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

    /// `--send-log`: one `<client> <update_id> <send_ns>` line per depth message the client got,
    /// in sending order, with the capture's own update ids and wall-clock send times.
    @Test func theSendLogHasALinePerBookMessageSentWithItsVenueUpdateId() throws {
        let path = temporaryPath("send.log")
        var configuration = SimulatorConfiguration(venue: .binanceSpot, instruments: [])
        configuration.replay = ReplayConfiguration(path: SampleCapture.path("binance/spot-ethusdt-20240808.gz"), speed: 0, maximumLines: 3000)
        configuration.heartbeatInterval = .max / 2
        configuration.sendLogPath = path
        let before = wallClockNanoseconds()
        let feed = try LockstepFeed(configuration: configuration, path: "/stream", levelsPerSide: 5000) { symbols, simulator in
            BinanceSpotAdapter(configuration: BinanceConfiguration(wsURL: simulator.url, restURL: simulator.restURL, symbols: symbols,
                                                                   depthStream: "depth@100ms"))
        }
        try feed.connect()
        while try feed.replayStep(100) {}
        let (sent, client) = feed.thread.perform { ($0.statistics.bookMessagesSent, $0.clientIds.first) }
        feed.thread.perform { $0.flushSendLog() }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map { UInt64($0)! } }
        #expect(sent > 200)
        #expect(lines.count == Int(sent))
        #expect(lines.allSatisfy { $0.count == 3 && $0[0] == UInt64(client ?? -1) })
        let updateIds = lines.map { $0[1] }, times = lines.map { $0[2] }
        #expect(updateIds == updateIds.sorted() && Set(updateIds).count == updateIds.count)
        let replay = try ReplaySource(ReplayConfiguration(path: SampleCapture.path("binance/spot-ethusdt-20240808.gz"), maximumLines: 3000))
        #expect(updateIds == replay.frames.filter { $0.kind == .depth }.map(\.updateId))
        #expect(times == times.sorted() && times[0] >= before)
    }

    /// `--replay-rate`: frame i of the file is due i/rate seconds after the start, whatever the
    /// recorded times (the spot capture's first five frames come before its snapshot line).
    @Test func aFramesPerSecondReplayIsDueByFrameIndexNotRecordedTime() throws {
        let replay = try ReplaySource(ReplayConfiguration(path: SampleCapture.path("binance/spot-ethusdt-20240808.gz"),
                                                          maximumLines: 5, framesPerSecond: 1000))
        replay.start(at: 1_000)
        #expect(replay.nextDue(now: 1_000) != nil)
        #expect(replay.nextDue(now: 1_000 + 999_999) == nil)
        #expect(replay.nanosecondsUntilDue(now: 1_000 + 999_000) == 1_000)
        #expect(replay.nextDue(now: 1_000 + 1_000_000) != nil)
        #expect(replay.nextDue(now: 1_000 + 4_000_000) != nil)
        #expect(replay.nextDue(now: 1_000 + 4_000_000) != nil)
        #expect(replay.nextDue(now: 1_000 + 4_000_000) != nil)
        #expect(replay.isFinished)
        #expect(throws: SimulatorError.replay("frames per second must be > 0, got 0.0")) {
            _ = try ReplaySource(ReplayConfiguration(path: SampleCapture.path("binance/spot-ethusdt-20240808.gz"), framesPerSecond: 0))
        }
    }

    /// The wait at the snapshot line for the client's REST request does not count: the frames
    /// after it keep their spacing (the spot capture's snapshot is its sixth line).
    @Test func theWaitForTheSnapshotRequestDoesNotBunchTheFramesAfterIt() throws {
        let replay = try ReplaySource(ReplayConfiguration(path: SampleCapture.path("binance/spot-ethusdt-20240808.gz"),
                                                          maximumLines: 10, framesPerSecond: 1000))
        replay.start(at: 0)
        for _ in 0..<5 { #expect(replay.nextDue(now: 5_000_000) != nil) }
        #expect(replay.nextDue(now: 5_000_000) == nil, "waiting at the snapshot line")
        #expect(replay.nanosecondsUntilDue(now: 5_000_000) == nil, "nothing to pace while waiting for the request")
        _ = replay.snapshotBody(now: 100_000_000, advancing: { _ in Issue.record("nothing was left before the snapshot") })
        #expect(replay.nextDue(now: 100_500_000) == nil)
        #expect(replay.nextDue(now: 101_000_000) != nil)
    }
}
