import Foundation
import Testing
import TickwireTransport
@testable import TickwireRuntime

/// The feed loop against a scripted venue on loopback: real sockets, real adapters, the
/// jsonl observer's output parsed back.
@Suite(.serialized) struct FeedLoopTests {
    /// Bybit: snapshot, delta, a gap (invalid, resubscribe), a new snapshot, a delta, then the
    /// server closes the connection: runOnce stops with every book reported disconnected.
    static func bybitGapScript() -> (WebSocketServer, VenueServerEvent) -> Void {
        nonisolated(unsafe) var subscriptions = 0
        return { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#), text.contains("orderbook.50.BTCUSDT") else { return }
            subscriptions += 1
            if subscriptions == 1 {
                server.send(#"{"success":true,"ret_msg":"","conn_id":"x","req_id":"","op":"subscribe"}"#, to: client)
                server.send(BybitFrames.book("snapshot", u: 100, bids: [("65114.20", "6.054"), ("65114.10", "1.5")], asks: [("65114.30", "10.486")]), to: client)
                server.send(BybitFrames.book("delta", u: 101, bids: [("65114.20", "0"), ("65114.00", "0.100")], asks: []), to: client)
                server.send(BybitFrames.book("delta", u: 103, bids: [("65113.00", "1")], asks: []), to: client)  // 102 is missing
            } else {
                server.send(BybitFrames.book("snapshot", u: 200, bids: [("65110.00", "2.000")], asks: [("65111.50", "0.250")]), to: client)
                server.send(BybitFrames.book("delta", u: 201, bids: [], asks: [("65111.50", "0"), ("65112.00", "3")]), to: client)
                server.close(client)
            }
        }
    }

    static let expectedGapLines = [
        #"BTCUSDT 100 valid bids [["65114.2", "6.054"], ["65114.1", "1.5"]] asks [["65114.3", "10.486"]]"#,
        #"BTCUSDT 101 valid bids [["65114.1", "1.5"], ["65114", "0.1"]] asks [["65114.3", "10.486"]]"#,
        "BTCUSDT 101 invalid sequenceGap",
        #"BTCUSDT 200 valid bids [["65110", "2"]] asks [["65111.5", "0.25"]]"#,
        #"BTCUSDT 201 valid bids [["65110", "2"]] asks [["65112", "3"]]"#,
        "BTCUSDT 201 invalid disconnected",
    ]

    static func check(_ run: FeedRun) {
        #expect(run.lines.map(\.summary) == expectedGapLines)
        for line in run.lines {
            #expect(line.venue == "bybit-linear")
            #expect(line.receiveNanoseconds <= line.emitNanoseconds, "\(line)")
            #expect(line.receiveNanoseconds > 1_700_000_000_000_000_000, "recv_ns is ns since the epoch")
        }
        #expect(run.counters.resyncs == 0, "the adapter found the gap itself; the keeper had nothing to resync")
        #expect(run.counters.parseErrors == 0)
        #expect(run.counters.connects == 1)
    }

    @Test func bybitOverPlainWebSocketGapThenResubscribeThenServerCloseStopsRunOnce() throws {
        let server = try VenueServer(script: Self.bybitGapScript())
        let run = try runFeed(configText: bybitConfig(port: server.port), options: FeedOptions(runOnce: true, idleSleepMicroseconds: 50))
        #expect(run.stop == .connectionEnded(code: 1000, reason: "server closed the connection (1000)"))
        Self.check(run)
        let texts = server.events.compactMap { if case .text(_, let text) = $0 { text } else { nil } }
        #expect(texts.contains(#"{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}"#), "\(texts)")
    }

    @Test func bybitOverTLSWithTheConfiguredCAFile() throws {
        let directory = temporaryDirectory()
        let tls = try TLSContext.serverWithGeneratedIdentity(writingCACertificateTo: directory + "/sim-ca.pem")
        let server = try VenueServer(tls: tls, script: Self.bybitGapScript())
        // tls_ca_file is relative to the configuration file's folder.
        let run = try runFeed(configText: bybitConfig(port: server.port, tls: "sim-ca.pem"), directory: directory,
                              options: FeedOptions(runOnce: true, idleSleepMicroseconds: 50))
        #expect(run.stop == .connectionEnded(code: 1000, reason: "server closed the connection (1000)"))
        Self.check(run)
    }

    @Test func withoutTheCAFileTLSVerificationRefusesTheServer() throws {
        let directory = temporaryDirectory()
        let tls = try TLSContext.serverWithGeneratedIdentity(writingCACertificateTo: directory + "/sim-ca.pem")
        let server = try VenueServer(tls: tls, script: Self.bybitGapScript())
        let run = try runFeed(configText: bybitConfig(port: server.port).replacingOccurrences(of: "ws://", with: "wss://"), directory: directory,
                              options: FeedOptions(runOnce: true, idleSleepMicroseconds: 50))
        guard case .connectionEnded(nil, let reason) = run.stop else { Issue.record("\(run.stop)"); return }
        #expect(reason.contains("certificate verify failed"), "\(reason)")
        #expect(run.counters.connects == 0 && run.counters.connectFailures == 1)
        #expect(run.lines.isEmpty)
    }

    /// Not runOnce: a dropped connection reports the book invalid at once, then the feed
    /// reconnects after a backoff delay, subscribes again and the book comes back valid.
    @Test func reconnectsWithBackoffAndResubscribesAfterTheServerDrops() throws {
        nonisolated(unsafe) var connections = 0
        let server = try VenueServer { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            connections += 1
            let u = UInt64(connections * 1000)
            server.send(BybitFrames.book("snapshot", u: u, bids: [("100.00", "1")], asks: [("101.00", "2")]), to: client)
            server.send(BybitFrames.book("delta", u: u + 1, bids: [("100.50", "1")], asks: []), to: client)
            if connections < 3 {  // no close frame: the frames, then EOF
                server.flush()
                server.drop(client)
            }
        }
        let started = ContinuousClock.now
        let run = try runFeed(configText: bybitConfig(port: server.port), until: { lines in lines.count >= 8 })
        let elapsed = ContinuousClock.now - started
        #expect(run.stop == .requested)
        #expect(run.lines.map(\.summary) == [
            #"BTCUSDT 1000 valid bids [["100", "1"]] asks [["101", "2"]]"#,
            #"BTCUSDT 1001 valid bids [["100.5", "1"], ["100", "1"]] asks [["101", "2"]]"#,
            "BTCUSDT 1001 invalid disconnected",
            #"BTCUSDT 2000 valid bids [["100", "1"]] asks [["101", "2"]]"#,
            #"BTCUSDT 2001 valid bids [["100.5", "1"], ["100", "1"]] asks [["101", "2"]]"#,
            "BTCUSDT 2001 invalid disconnected",
            #"BTCUSDT 3000 valid bids [["100", "1"]] asks [["101", "2"]]"#,
            #"BTCUSDT 3001 valid bids [["100.5", "1"], ["100", "1"]] asks [["101", "2"]]"#,
        ])
        #expect(run.counters.connects == 3)
        #expect(run.counters.reconnects == 2)
        #expect(run.counters.disconnects == 2)
        #expect(elapsed < .seconds(5), "backoff capped at reconnect_max_ms = 200")
    }

    @Test func connectFailuresBackOffUntilTheServerIsThere() throws {
        // A port nobody listens on: every attempt fails; the feed keeps trying with backoff.
        let probe = try WebSocketServer(host: "127.0.0.1", port: 0)
        let port = probe.port
        _ = consume probe
        let run = try runFeed(configText: bybitConfig(port: port), timeout: .milliseconds(1500))
        #expect(run.stop == .requested)
        #expect(run.counters.connects == 0)
        // 20 ms initial, 200 ms cap, full jitter: at least a handful of attempts in 1.5 s, not thousands.
        #expect(run.counters.connectFailures >= 5 && run.counters.connectFailures < 400, "\(run.counters.connectFailures)")
    }

    @Test func malformedAndUnknownMessagesAreCountedAndTheFeedCarriesOn() throws {
        let server = try VenueServer { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            server.send(BybitFrames.book("snapshot", u: 10, bids: [("100.00", "1")], asks: [("101.00", "2")]), to: client)
            server.send(#"{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","b":[["100.00""#, to: client)  // truncated
            server.send(BybitFrames.book("snapshot", symbol: "DOGEUSDT", u: 5, bids: [("1.00", "1")], asks: [("2.00", "1")]), to: client)
            server.send(BybitFrames.book("snapshot", u: 20, bids: [("100.00", "1")], asks: [("101.00", "2")]), to: client)
            server.close(client)
        }
        let run = try runFeed(configText: bybitConfig(port: server.port), options: FeedOptions(runOnce: true, idleSleepMicroseconds: 50))
        #expect(run.lines.map(\.summary) == [
            #"BTCUSDT 10 valid bids [["100", "1"]] asks [["101", "2"]]"#,
            "BTCUSDT 10 invalid malformedMessage",
            #"BTCUSDT 20 valid bids [["100", "1"]] asks [["101", "2"]]"#,
            "BTCUSDT 20 invalid disconnected",
        ])
        #expect(run.counters.malformed == 1)
        #expect(run.counters.unknownSymbol == 1)
        #expect(run.counters.messages == 4)
    }

    @Test func oversizeMessagesAreCountedAndTheConnectionIsRenewed() throws {
        nonisolated(unsafe) var connections = 0
        let server = try VenueServer { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            connections += 1
            if connections == 1 {
                let levels = (0..<400).map { ("\(1000 - $0).00", "1.000") }
                server.send(BybitFrames.book("snapshot", u: 1, bids: levels, asks: []), to: client)  // > 4096 bytes
            } else {
                server.send(BybitFrames.book("snapshot", u: 7, bids: [("100.00", "1")], asks: [("101.00", "2")]), to: client)
            }
        }
        let run = try runFeed(configText: bybitConfig(port: server.port, extra: "max_message_bytes = 4096"),
                              until: { lines in lines.count >= 1 })
        #expect(run.counters.oversize == 1)
        #expect(run.counters.reconnects == 1)
        #expect(run.lines.map(\.summary) == [#"BTCUSDT 7 valid bids [["100", "1"]] asks [["101", "2"]]"#])
    }
}

extension FeedLoopTests {
    @Test func aSilentConnectionIsRenewedAfterTheIdleTimeout() throws {
        nonisolated(unsafe) var connections = 0
        let server = try VenueServer { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            connections += 1
            server.send(BybitFrames.book("snapshot", u: UInt64(connections), bids: [("100.00", "1")], asks: [("101.00", "2")]), to: client)
            // …and then nothing: a half-dead connection.
        }
        let started = ContinuousClock.now
        let run = try runFeed(configText: bybitConfig(port: server.port, extra: "idle_timeout_ms = 500"), until: { $0.count >= 3 })
        #expect(run.lines.map(\.summary) == [
            #"BTCUSDT 1 valid bids [["100", "1"]] asks [["101", "2"]]"#,
            "BTCUSDT 1 invalid disconnected",
            #"BTCUSDT 2 valid bids [["100", "1"]] asks [["101", "2"]]"#,
        ])
        #expect(run.counters.idleTimeouts == 1)
        #expect(ContinuousClock.now - started >= .milliseconds(500))
    }
}
