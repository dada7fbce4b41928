import Foundation
import Testing
import TickwireTransport
@testable import TickwireRuntime

/// Binance spot through the feed: WebSocket diff depth plus the REST snapshot served by the
/// same loopback server, fetched on the helper thread (a 429 with Retry-After first).
@Suite(.serialized) struct BinanceFeedTests {
    static func depth(_ first: UInt64, _ last: UInt64, bids: [(String, String)] = [], asks: [(String, String)] = []) -> String {
        func levels(_ list: [(String, String)]) -> String { list.map { "[\"\($0.0)\",\"\($0.1)\"]" }.joined(separator: ",") }
        return #"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":\#(first),"u":\#(last),"b":[\#(levels(bids))],"a":[\#(levels(asks))]}}"#
    }

    /// Server thread state. After the gap the adapter restarts at once from the gap event
    /// (buffered, new snapshot), so the third REST call comes without another event.
    final class Script: @unchecked Sendable {
        var client: Int?
        var snapshotCalls = 0
        var servedAt: [ContinuousClock.Instant] = []
        var phase = 0
        var phaseChanged = ContinuousClock.now
        var targets: [String] = []
    }

    /// Confirms the subscription and sends the first diff (101...105).
    static func answerSubscription(_ state: Script) -> (WebSocketServer, VenueServerEvent) -> Void {
        { server, event in
            guard case .text(let client, let text) = event, text.contains(#""method":"SUBSCRIBE""#) else { return }
            state.client = client
            server.send(#"{"result":null,"id":1}"#, to: client)
            server.send(depth(101, 105, bids: [("100.00", "1.0")], asks: [("101.00", "2.0")]), to: client)
        }
    }

    /// BTCUSDT on Binance spot, WebSocket and REST both served by the loopback server on `port`.
    static func config(port: UInt16) -> String {
        """
        adapter = "binance-spot"
        ws_url = "ws://127.0.0.1:\(port)"
        rest_url = "http://127.0.0.1:\(port)"
        symbols = ["BTCUSDT"]
        depth = 100
        streams = ["depth@100ms"]
        [scales]
        BTCUSDT = { price = 2, quantity = 5 }
        """
    }

    @Test func restSnapshotAfterA429ThenGapThenNewSnapshot() throws {
        let state = Script()
        let server = try VenueServer(
            httpHandler: { target in
                state.targets.append(target)
                state.snapshotCalls += 1
                switch state.snapshotCalls {
                case 1:
                    return HTTPResponse(status: 429, body: Array(#"{"code":-1003,"msg":"Too many requests"}"#.utf8), headers: [("Retry-After", "1")])
                case 2:
                    state.servedAt.append(.now)
                    return HTTPResponse(status: 200, body: Array(#"{"lastUpdateId":103,"bids":[["100.00","0.5"],["99.00","3"]],"asks":[["101.00","1.5"]]}"#.utf8))
                default:
                    state.servedAt.append(.now)
                    return HTTPResponse(status: 200, body: Array(#"{"lastUpdateId":112,"bids":[["100.00","5"]],"asks":[["102.00","1"]]}"#.utf8))
                }
            },
            tick: { server in
                guard let client = state.client, let served = state.servedAt.last,
                      ContinuousClock.now - max(served, state.phaseChanged) > .milliseconds(300) else { return }
                if state.phase == 0 && state.servedAt.count == 1 {
                    server.send(Self.depth(106, 107, bids: [("99.50", "2")]), to: client)
                    server.send(Self.depth(110, 111, bids: [("98.00", "1")]), to: client)  // 108-109 missing: restart, new snapshot
                } else if state.phase == 1 && state.servedAt.count == 2 {
                    server.send(Self.depth(112, 113, bids: [("100.00", "6")]), to: client)
                } else if state.phase == 2 {
                    server.close(client)
                } else {
                    return
                }
                state.phase += 1
                state.phaseChanged = .now
            },
            script: Self.answerSubscription(state))
        let config = Self.config(port: server.port)
        let started = ContinuousClock.now
        let run = try runFeed(configText: config, options: FeedOptions(runOnce: true, idleSleepMicroseconds: 50), timeout: .seconds(20))
        #expect(run.stop == .connectionEnded(code: 1000, reason: "server closed the connection (1000)"))
        #expect(run.lines.map(\.summary) == [
            #"BTCUSDT 103 valid bids [["100", "0.5"], ["99", "3"]] asks [["101", "1.5"]]"#,
            #"BTCUSDT 105 valid bids [["100", "1"], ["99", "3"]] asks [["101", "2"]]"#,
            #"BTCUSDT 107 valid bids [["100", "1"], ["99.5", "2"], ["99", "3"]] asks [["101", "2"]]"#,
            "BTCUSDT 107 invalid sequenceGap",
            #"BTCUSDT 112 valid bids [["100", "5"]] asks [["102", "1"]]"#,
            #"BTCUSDT 113 valid bids [["100", "6"]] asks [["102", "1"]]"#,
            "BTCUSDT 113 invalid disconnected",
        ])
        for line in run.lines { #expect(line.receiveNanoseconds <= line.emitNanoseconds) }
        #expect(state.targets.allSatisfy { $0 == "/api/v3/depth?symbol=BTCUSDT&limit=5000" }, "\(state.targets)")
        #expect(run.counters.snapshotRateLimits == 1)
        #expect(run.counters.snapshotsRequested == 2)
        #expect(run.counters.snapshotsDelivered == 2)
        #expect(ContinuousClock.now - started >= .seconds(1), "the 429's Retry-After: 1 was waited out")
        #expect(run.counters.parseErrors == 0, "\(run.counters) \(state.snapshotCalls) phase \(state.phase)")
    }
}

extension BinanceFeedTests {
    /// The REST snapshot fails (HTTP 500), then times out (the server answers after the
    /// client's 0.5 s), then comes: the book is never shown before that snapshot, and from it
    /// on it is exactly the venue's book. The stale answer of the timed-out request is never used.
    @Test func aFailedThenTimedOutRestSnapshotIsRetriedAndTheBookIsShownOnlyFromTheOneThatCame() throws {
        let state = Script()
        let server = try VenueServer(
            httpHandler: { target in
                state.targets.append(target)
                state.snapshotCalls += 1
                switch state.snapshotCalls {
                case 1:
                    return HTTPResponse(status: 500, body: Array(#"{"code":-1000,"msg":"An unknown error occurred"}"#.utf8))
                case 2:
                    usleep(1_500_000)  // the client gave up at 0.5 s
                    return HTTPResponse(status: 200, body: Array(#"{"lastUpdateId":104,"bids":[["100.00","9"]],"asks":[["101.00","9"]]}"#.utf8))
                default:
                    state.servedAt.append(.now)
                    return HTTPResponse(status: 200, body: Array(#"{"lastUpdateId":103,"bids":[["100.00","0.5"],["99.00","3"]],"asks":[["101.00","1.5"]]}"#.utf8))
                }
            },
            tick: { server in
                guard let client = state.client, let served = state.servedAt.last, ContinuousClock.now - served > .milliseconds(300) else { return }
                if state.phase == 0 {
                    server.send(Self.depth(106, 107, bids: [("99.50", "2")]), to: client)
                    state.phase = 1
                    state.phaseChanged = .now
                } else if state.phase == 1 && ContinuousClock.now - state.phaseChanged > .milliseconds(300) {
                    server.close(client)
                    state.phase = 2
                }
            },
            script: Self.answerSubscription(state))
        let config = Self.config(port: server.port)
        let run = try runFeed(configText: config, options: FeedOptions(runOnce: true, idleSleepMicroseconds: 50, snapshotTimeout: .milliseconds(500)),
                              timeout: .seconds(30))
        #expect(run.stop == .connectionEnded(code: 1000, reason: "server closed the connection (1000)"))
        #expect(run.lines.map(\.summary) == [
            #"BTCUSDT 103 valid bids [["100", "0.5"], ["99", "3"]] asks [["101", "1.5"]]"#,
            #"BTCUSDT 105 valid bids [["100", "1"], ["99", "3"]] asks [["101", "2"]]"#,
            #"BTCUSDT 107 valid bids [["100", "1"], ["99.5", "2"], ["99", "3"]] asks [["101", "2"]]"#,
            "BTCUSDT 107 invalid disconnected",
        ])
        #expect(state.snapshotCalls == 3)
        #expect(run.counters.snapshotsRequested == 1)
        #expect(run.counters.snapshotRetries == 2, "the 500 and the timeout were retried: \(run.counters)")
        #expect(run.counters.snapshotsDelivered == 1)
    }
}
