import Foundation
import Synchronization
import Testing
import TickwireCore
import TickwireTestSupport
import TickwireVenues
@testable import TickwireRuntime

/// A real Prometheus (Debian's `prometheus`, its own instance: own config, temporary TSDB,
/// free loopback port) scrapes the metrics endpoint every second while a real feed runs in
/// this process against `tickwire simulate`'s generator over ws://127.0.0.1; its query API
/// must end up holding the feed's series per venue and symbol and the latency histogram.
@Suite(.serialized) struct PrometheusScrapeTests {
    static let prometheusBinary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let inCI = ProcessInfo.processInfo.environment["CI"] != nil

    @Test(.enabled(if: prometheusBinary != nil || inCI, "no prometheus binary (scripts/setup-host.sh installs Debian's prometheus)"))
    func prometheusScrapesPerSymbolCountersAndTheLatencyHistogramOfARunningFeed() throws {
        let binary = try #require(Self.prometheusBinary, "CI installs prometheus with scripts/setup-host.sh")
        let directory = temporaryDirectory()
        let simulator = try RunningTickwire(["simulate", "--venue", "bybit-linear", "--symbols", "BTCUSDT,ETHUSDT", "--rate", "500",
                                             "--price-scale", "2", "--quantity-scale", "3"])
        // SIGKILL: the child inherits the test thread's signal mask, where SIGTERM is blocked.
        defer { kill(simulator.process.processIdentifier, SIGKILL) }
        let banner = try simulator.waitForLines(2)
        let listening = try #require(banner.first { $0.hasPrefix("listening ") })
        try writeFile(directory + "/bybit.toml", """
            adapter = "bybit-linear"
            ws_url = "\(listening.dropFirst("listening ".count).dropLast())"
            symbols = ["BTCUSDT", "ETHUSDT"]
            depth = 50
            [scales]
            BTCUSDT = { price = 2, quantity = 3 }
            ETHUSDT = { price = 2, quantity = 3 }
            """)
        let config = try VenueConfig.load(path: directory + "/bybit.toml")
        let failures = try config.withAdapter(ScrapedFeed(config: config, prometheus: binary, directory: directory))
        #expect(failures.isEmpty, "\(failures)")
    }
}

/// Runs the feed on the test thread, publishing its counters every 250 ms, with the metrics
/// server and a Prometheus scraping it; a checker thread queries Prometheus until every
/// expected series is there. Returns what was still missing at the deadline.
struct ScrapedFeed: VenueAdapterConsumer {
    let config: VenueConfig
    let prometheus: String
    let directory: String

    static let expectedQueries = [
        #"tickwire_symbol_messages_total{venue="bybit-linear",symbol="BTCUSDT"} > 0"#,
        #"tickwire_symbol_messages_total{venue="bybit-linear",symbol="ETHUSDT"} > 0"#,
        #"tickwire_book_updates_total{venue="bybit-linear",symbol="BTCUSDT"} > 0"#,
        #"tickwire_feed_messages_total{venue="bybit-linear"} > 0"#,
        #"tickwire_feed_connects_total{venue="bybit-linear"} == 1"#,
        #"tickwire_feed_parse_errors_total{venue="bybit-linear",reason="malformed"} == 0"#,
        #"tickwire_receive_to_send_seconds_bucket{venue="bybit-linear",le="+Inf"} > 0"#,
        #"histogram_quantile(0.5, tickwire_receive_to_send_seconds_bucket{venue="bybit-linear"}) > 0"#,
        #"tickwire_metrics_http_requests_total{code="200"} > 0"#,
        #"up{job="tickwire"} == 1"#,
    ]

    func consume<Adapter: VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> [String] {
        var layout = CounterLayout()
        let feedMetrics = FeedMetrics(venue: config.venue.name, symbols: books.symbols, layout: &layout)
        let bookMetrics = BookMetrics(venue: config.venue.name, symbols: books.symbols, layout: &layout)
        let latency = layout.registerHistogram("tickwire_receive_to_send_seconds", help: "Receive to send posted.",
                                               labels: [MetricLabel("venue", config.venue.name)])
        let block = CounterBlock(layout: layout)
        let server = try MetricsServer(endpoint: MetricsEndpoint(parsing: "127.0.0.1:0"), exporter: MetricsExporter(block: block))
        server.start()
        defer { server.stop() }
        let instance = try PrometheusInstance(binary: prometheus, directory: directory, target: server.endpoint)
        defer { instance.stop() }

        let writer = block.writer
        var feed = try VenueFeed(config: config, adapter: adapter, books: books,
                                 observer: LatencyRecorder(histogram: latency, writer: writer), options: FeedOptions(idleSleepMicroseconds: 100))
        defer { feed.shutDown() }
        let done = Atomic<Bool>(false)
        let missing = Mutex(Self.expectedQueries)
        let checker = Thread {
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                let stillMissing = Self.expectedQueries.filter { (try? instance.query($0).isEmpty) ?? true }
                missing.withLock { $0 = stillMissing }
                if stillMissing.isEmpty { break }
                usleep(500_000)
            }
            done.store(true, ordering: .releasing)
        }
        checker.start()

        var lastPublish = ContinuousClock.now
        _ = feed.run(shouldStop: { done.load(ordering: .acquiring) }, idle: { feed in
            guard ContinuousClock.now - lastPublish >= .milliseconds(250) else { return }
            lastPublish = ContinuousClock.now
            feedMetrics.publish(feed.counters, adapter: feed.adapter.counters, to: writer)
            bookMetrics.publish(feed.sink.counters, to: writer)
        })
        let stillMissing = missing.withLock { $0 }
        guard !stillMissing.isEmpty else { return [] }
        let targets = (try? HTTPExchange(port: instance.port, request: "GET /api/v1/targets HTTP/1.0\r\nHost: localhost\r\n\r\n", stall: true).body) ?? ""
        return stillMissing + ["targets: " + targets, "prometheus log: " + instance.log]
    }
}

/// Stands in for the send stage: records receive → book published, as the sender will record
/// receive → send posted.
struct LatencyRecorder: BookObserver {
    let histogram: LatencyHistogramSlots
    let writer: CounterWriter

    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanoseconds = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        histogram.record(nanoseconds: nanoseconds > receiveTime ? nanoseconds - receiveTime : 0, to: writer)
    }

    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {}
}

/// A Prometheus server of the test's own, scraping one target every second; `stop` kills it.
final class PrometheusInstance: @unchecked Sendable {
    let process = Process()
    let port: UInt16
    private let logPath: String

    init(binary: String, directory: String, target: MetricsEndpoint) throws {
        port = try Self.freePort()
        let configPath = directory + "/prometheus.yml"
        try writeFile(configPath, """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: tickwire
                scrape_interval: 1s
                scrape_timeout: 1s
                static_configs:
                  - targets: ["\(target)"]
            """)
        logPath = directory + "/prometheus.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config.file=\(configPath)", "--storage.tsdb.path=\(directory)/tsdb",
                             "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        guard waitUntil(seconds: 60, { (try? HTTPExchange(port: port, request: "GET /-/ready HTTP/1.0\r\nHost: localhost\r\n\r\n", stall: true).status) == 200 }) else {
            stop()
            throw TestTimeout(what: "prometheus to be ready on port \(port): \(self.log)")
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// HTTP/1.0 so the answer is not chunked; the sending side stays open because Go's server
    /// cancels a query whose client half-closed (503).
    /// The instant query's result vector (empty when the expression matches nothing).
    func query(_ expression: String) throws -> [Any] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        let answer = try HTTPExchange(port: port, request: "GET /api/v1/query?query=\(encoded) HTTP/1.0\r\nHost: localhost\r\n\r\n",
                                   stall: true)
        let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        return (object?["data"] as? [String: Any])?["result"] as? [Any] ?? []
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        if !waitUntil(seconds: 10, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }

    private static func freePort() throws -> UInt16 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 ? getsockname(descriptor, $0, &length) : -1 }
        }
        guard status == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return UInt16(bigEndian: address.sin_port)
    }
}
