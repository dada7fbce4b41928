import Foundation
import Testing
import TickwireRuntime
import TickwireTestSupport

/// `tickwire run` as systemd and Prometheus see it, for real: the process gets a notify
/// socket the test listens on (as systemd's Type=notify does) and a metrics endpoint a real
/// Prometheus scrapes, while it publishes a simulated venue in the staged topology.
@Suite(.serialized) struct DaemonServicesTests {
    @Test(.enabled(if: PrometheusScrapeTests.prometheusBinary != nil || PrometheusScrapeTests.inCI,
                   "no prometheus binary (scripts/setup-host.sh installs Debian's prometheus)"))
    func runNotifiesReadyAndWatchdogServesMetricsPrometheusScrapesAndStopsWithStopping() throws {
        let prometheusBinary = try #require(PrometheusScrapeTests.prometheusBinary, "CI installs prometheus with scripts/setup-host.sh")
        let directory = temporaryDirectory()
        let notifySocket = "@tickwire-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let notifications = try UnixDatagramListener(address: notifySocket)
        let (simulator, url) = try GeneratedVenue.bybit.startSimulator(messages: nil, rate: 1000)
        defer { kill(simulator.process.processIdentifier, SIGKILL) }
        let venueFile = try GeneratedVenue.bybit.config(url: url, in: directory)
        // WATCHDOG_USEC of 0.4 s: the health thread checks the stages every 0.2 s.
        let run = try RunningTickwire(environment: ["NOTIFY_SOCKET": notifySocket, "WATCHDOG_USEC": "400000"], [
            "run", "--venue", venueFile, "--channel", "239.66.1.1:31201", "--iface", "lo",
            "--topology", "staged", "--idle", "spin-park:1000:50", "--metrics", "127.0.0.1:0"])
        defer { kill(run.process.processIdentifier, SIGKILL) }

        var received: [String] = []
        func waitFor(_ state: String) -> Bool {
            while let datagram = notifications.receive(waitingUpTo: 30) {
                received.append(datagram)
                if datagram.split(separator: "\n").contains(where: { $0 == state }) { return true }
            }
            return false
        }
        #expect(waitFor("READY=1"), "READY=1 once the book is valid; got \(received); \(run.standardError)")
        #expect(waitFor("WATCHDOG=1"), "WATCHDOG=1 while every stage moves; got \(received)")

        let bound = try #require(run.standardError.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: "metrics on http://") else { return nil }
            return String(line[range.upperBound...].prefix { $0 != "/" })
        }.first, "\(run.standardError)")
        let prometheus = try PrometheusInstance(binary: prometheusBinary, directory: directory, target: try MetricsEndpoint(parsing: bound))
        defer { prometheus.stop() }
        let expected = [
            #"tickwire_feed_messages_total{venue="bybit-linear"} > 0"#,
            #"tickwire_symbol_messages_total{venue="bybit-linear",symbol="BTCUSDT"} > 0"#,
            #"tickwire_book_updates_total{venue="bybit-linear",symbol="BTCUSDT"} > 0"#,
            #"tickwire_channel_packets_total{channel="1"} > 0"#,
            #"tickwire_send_packets_total > 0"#,
            #"tickwire_ingest_ring_high_water{venue="bybit-linear"}"#,
            #"tickwire_receive_to_send_seconds_count{venue="bybit-linear"} > 0"#,
        ]
        var missing = expected
        _ = waitUntil(seconds: 60) {
            // Keep reading the notify socket as systemd does: its queue is short (net.unix.max_dgram_qlen)
            // and the daemon never blocks on it, so an unread socket would lose datagrams.
            while let datagram = notifications.receiveQueued() { received.append(datagram) }
            missing = missing.filter { ((try? prometheus.query($0)) ?? []).isEmpty }
            return missing.isEmpty
        }
        #expect(missing.isEmpty, "series Prometheus did not have: \(missing)")

        kill(run.process.processIdentifier, SIGTERM)
        #expect(waitFor("STOPPING=1"), "STOPPING=1 on SIGTERM; got \(received)")
        #expect(try run.waitForExit(timeout: .seconds(30)) == 0, "\(run.standardError)")
        #expect(run.standardError.contains("every venue has a valid book: ready"))
    }
}
