import Foundation
import Testing
import TickwireCore
import TickwireTestSupport
import TickwireTransport
import TickwireVenues
@testable import TickwireRuntime

/// The counters block, the exporter's exposition text and the HTTP endpoint.
@Suite struct MetricsTests {
    @Test func latencyBucketsArePowersOfTwoFrom128NanosecondsWithAnOverflowBucket() {
        #expect(LatencyHistogramSlots.bucket(0) == 0)
        #expect(LatencyHistogramSlots.bucket(128) == 0)
        #expect(LatencyHistogramSlots.bucket(129) == 1)
        #expect(LatencyHistogramSlots.bucket(256) == 1)
        #expect(LatencyHistogramSlots.bucket(257) == 2)
        #expect(LatencyHistogramSlots.bucket(1 << 27) == 20)
        #expect(LatencyHistogramSlots.bucket(1 << 27 + 1) == 21)
        #expect(LatencyHistogramSlots.bucket(.max) == 21)
        for bucket in 0..<LatencyHistogramSlots.finiteBucketCount {
            let bound = LatencyHistogramSlots.upperBoundNanoseconds(bucket)
            #expect(LatencyHistogramSlots.bucket(bound) == bucket)
            #expect(LatencyHistogramSlots.bucket(bound + 1) == bucket + 1)
        }
    }

    @Test func groupsWrittenByDifferentThreadsStartOnTheirOwn128ByteLine() throws {
        var layout = CounterLayout()
        _ = RingMetrics(ring: "a", capacity: 8, layout: &layout)
        _ = ChannelMetrics(channel: 1, layout: &layout)
        let histogram = layout.registerHistogram("h", help: "h", labels: [])
        #expect(layout.counters.map(\.slot.index) == [0, 1] + Array(16..<23))
        #expect(histogram == LatencyHistogramSlots(first: 32))
        #expect(layout.slotCount == 32 + LatencyHistogramSlots.slotCount)

        var venueLayout = CounterLayout()
        let symbols = [VenueSymbol(name: "BTCUSDT", instrument: InstrumentId(0), priceScale: Scale(2), quantityScale: Scale(3))]
        _ = FeedMetrics(venue: "okx", symbols: symbols, layout: &venueLayout)
        _ = BookMetrics(venue: "okx", symbols: symbols, layout: &venueLayout)
        let firstBookSlot = try #require(venueLayout.counters.first { $0.name.hasPrefix("tickwire_book_") }).slot.index
        #expect(firstBookSlot % 16 == 0 && firstBookSlot > 0, "the keeper's thread writes its own line: \(firstBookSlot)")
    }

    /// A channel, a ring and a histogram with known values: the whole exposition, line for line
    /// (the registry emits families in no fixed order, so lines are compared as a set).
    @Test func exporterRendersKnownValuesAsExactExpositionLines() {
        var layout = CounterLayout()
        let channel = ChannelMetrics(channel: 7, layout: &layout)
        let ring = RingMetrics(ring: "ingest", capacity: 4096, layout: &layout)
        let latency = layout.registerHistogram("tickwire_receive_to_send_seconds", help: "Receive to send posted.", labels: [MetricLabel("venue", "okx")])
        let block = CounterBlock(layout: layout)
        var counters = ChannelCounters()
        counters.packets = 10
        counters.messages = 25
        counters.bytes = 1500
        counters.wouldBlock = 2
        channel.publish(counters, to: block.writer)
        ring.publish(highWater: 17, to: block.writer)
        for nanoseconds: UInt64 in [100, 128, 300, 1_000_000_000] { latency.record(nanoseconds: nanoseconds, to: block.writer) }

        let text = String(decoding: MetricsExporter(block: block).render(), as: UTF8.self)
        var expected = [
            "# HELP tickwire_channel_packets_total Sequenced packets sent.",
            "# TYPE tickwire_channel_packets_total counter",
            #"tickwire_channel_packets_total{channel="7"} 10"#,
            "# HELP tickwire_channel_messages_total Messages in the sequenced packets.",
            "# TYPE tickwire_channel_messages_total counter",
            #"tickwire_channel_messages_total{channel="7"} 25"#,
            "# HELP tickwire_channel_bytes_total Bytes of the sequenced packets.",
            "# TYPE tickwire_channel_bytes_total counter",
            #"tickwire_channel_bytes_total{channel="7"} 1500"#,
            "# HELP tickwire_channel_heartbeats_total Heartbeats sent.",
            "# TYPE tickwire_channel_heartbeats_total counter",
            #"tickwire_channel_heartbeats_total{channel="7"} 0"#,
            "# HELP tickwire_channel_end_of_sessions_total End-of-session packets sent.",
            "# TYPE tickwire_channel_end_of_sessions_total counter",
            #"tickwire_channel_end_of_sessions_total{channel="7"} 0"#,
            "# HELP tickwire_channel_send_errors_total Packets a line's sender refused with an error.",
            "# TYPE tickwire_channel_send_errors_total counter",
            #"tickwire_channel_send_errors_total{channel="7"} 0"#,
            "# HELP tickwire_channel_send_would_block_total Packets not sent because the socket buffer or TX ring was full.",
            "# TYPE tickwire_channel_send_would_block_total counter",
            #"tickwire_channel_send_would_block_total{channel="7"} 2"#,
            "# HELP tickwire_ring_high_water Most items the ring held at once.",
            "# TYPE tickwire_ring_high_water gauge",
            #"tickwire_ring_high_water{ring="ingest"} 17.0"#,
            "# HELP tickwire_ring_capacity Slots in the ring.",
            "# TYPE tickwire_ring_capacity gauge",
            #"tickwire_ring_capacity{ring="ingest"} 4096.0"#,
            "# HELP tickwire_receive_to_send_seconds Receive to send posted.",
            "# TYPE tickwire_receive_to_send_seconds histogram",
        ]
        let bounds = ["0.000000128", "0.000000256", "0.000000512", "0.000001024", "0.000002048", "0.000004096", "0.000008192",
                      "0.000016384", "0.000032768", "0.000065536", "0.000131072", "0.000262144", "0.000524288", "0.001048576",
                      "0.002097152", "0.004194304", "0.008388608", "0.016777216", "0.033554432", "0.067108864", "0.134217728"]
        for (index, bound) in bounds.enumerated() {
            expected.append(#"tickwire_receive_to_send_seconds_bucket{venue="okx",le="\#(bound)"} \#(index < 2 ? 2 : 3)"#)
        }
        expected += [
            #"tickwire_receive_to_send_seconds_bucket{venue="okx",le="+Inf"} 4"#,
            #"tickwire_receive_to_send_seconds_sum{venue="okx"} 1.000000528"#,
            #"tickwire_receive_to_send_seconds_count{venue="okx"} 4"#,
        ]
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == expected.count, "\(text)")
        #expect(Set(lines) == Set(expected), "\(Set(lines).symmetricDifference(expected).sorted())")
        // The histogram's lines keep their order: buckets ascending, then sum and count.
        #expect(Array(lines.drop { !$0.hasPrefix("tickwire_receive_to_send_seconds_bucket") }) == Array(expected.suffix(24)))
    }

    @Test func feedAndBookMetricsCarryVenueAndSymbolLabels() throws {
        var instruments = InstrumentTable(capacity: 4)
        let btc = try instruments.add(venue: .bybitLinear, symbol: "BTCUSDT", priceScale: Scale(2), quantityScale: Scale(3))
        let eth = try instruments.add(venue: .bybitLinear, symbol: "ETHUSDT", priceScale: Scale(2), quantityScale: Scale(3))
        let symbols = [VenueSymbol(name: "ETHUSDT", instrument: eth, priceScale: Scale(2), quantityScale: Scale(3)),
                       VenueSymbol(name: "BTCUSDT", instrument: btc, priceScale: Scale(2), quantityScale: Scale(3))]
        var layout = CounterLayout()
        let feed = FeedMetrics(venue: "bybit-linear", symbols: symbols, layout: &layout)
        let book = BookMetrics(venue: "bybit-linear", symbols: symbols, layout: &layout)
        let block = CounterBlock(layout: layout)
        var counters = FeedCounters()
        counters.messages = 90
        counters.malformed = 3
        counters.connects = 1
        var adapter = VenueCounters(instrumentCapacity: 2)
        adapter.symbols[btc.index].messages = 60
        adapter.symbols[btc.index].gaps = 1
        adapter.symbols[eth.index].messages = 27
        adapter.controlMessages = 3
        var books = [BookKeeper<NoObserver>.Counters](repeating: .init(), count: 2)
        books[btc.index].updatesPublished = 59
        books[eth.index].checksumFailures = 4
        feed.publish(counters, adapter: adapter, to: block.writer)
        book.publish(books, to: block.writer)

        let lines = Set(String(decoding: MetricsExporter(block: block).render(), as: UTF8.self).split(separator: "\n").map(String.init))
        for line in [
            #"tickwire_feed_messages_total{venue="bybit-linear"} 90"#,
            #"tickwire_feed_parse_errors_total{venue="bybit-linear",reason="malformed"} 3"#,
            #"tickwire_feed_parse_errors_total{venue="bybit-linear",reason="rejected"} 0"#,
            #"tickwire_feed_control_messages_total{venue="bybit-linear"} 3"#,
            #"tickwire_feed_connects_total{venue="bybit-linear"} 1"#,
            #"tickwire_symbol_messages_total{venue="bybit-linear",symbol="BTCUSDT"} 60"#,
            #"tickwire_symbol_messages_total{venue="bybit-linear",symbol="ETHUSDT"} 27"#,
            #"tickwire_symbol_gaps_total{venue="bybit-linear",symbol="BTCUSDT"} 1"#,
            #"tickwire_book_updates_total{venue="bybit-linear",symbol="BTCUSDT"} 59"#,
            #"tickwire_book_checksum_failures_total{venue="bybit-linear",symbol="ETHUSDT"} 4"#,
            #"tickwire_book_checksum_failures_total{venue="bybit-linear",symbol="BTCUSDT"} 0"#,
        ] {
            #expect(lines.contains(line), "\(line)")
        }
    }

    @Test func stagedPipelineStagesPublishTheirOwnCounters() {
        var layout = CounterLayout()
        let ingest = IngestLinkMetrics(venue: "okx", layout: &layout)
        let send = SendStageMetrics(sender: "xdp", layout: &layout)
        let block = CounterBlock(layout: layout)
        var ingestCounters = IngestLinkCounters()
        ingestCounters.droppedEvents = 12
        ingestCounters.highWater = 900
        ingest.publish(ingestCounters, to: block.writer)
        var sendCounters = SendStageCounters()
        sendCounters.packets = 5
        sendCounters.wouldBlock = 1
        send.publish(sendCounters, to: block.writer)
        let lines = Set(String(decoding: MetricsExporter(block: block).render(), as: UTF8.self).split(separator: "\n").map(String.init))
        for line in [#"tickwire_ingest_dropped_events_total{venue="okx"} 12"#, #"tickwire_ingest_overflowed_books_total{venue="okx"} 0"#,
                     #"tickwire_ingest_ring_high_water{venue="okx"} 900.0"#, #"tickwire_send_packets_total{sender="xdp"} 5"#,
                     #"tickwire_send_would_block_total{sender="xdp"} 1"#, #"tickwire_send_errors_total{sender="xdp"} 0"#] {
            #expect(lines.contains(line), "\(line)")
        }
    }

    /// Counters follow the block across scrapes; one that goes down (its owner started over,
    /// e.g. a rebuilt stage) starts over in Prometheus too instead of going negative.
    @Test func countersFollowTheBlockAndStartOverWithTheirOwner() {
        var layout = CounterLayout()
        let retransmission = RetransmissionMetrics(layout: &layout)
        let block = CounterBlock(layout: layout)
        let exporter = MetricsExporter(block: block)
        var counters = RetransmissionCounters()
        func requestsLine() -> String? {
            String(decoding: exporter.render(), as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("tickwire_retransmit_requests_total ") }.map(String.init)
        }
        for (value, expected) in [(10, "10"), (25, "25"), (3, "3"), (3, "3")] {
            counters.requests = value
            retransmission.publish(counters, to: block.writer)
            #expect(requestsLine() == "tickwire_retransmit_requests_total \(expected)")
        }
    }

    @Test func metricsEndpointParsesHostPortOrBarePortAndRejectsTheRest() throws {
        #expect(try MetricsEndpoint(parsing: "127.0.0.1:9464") == .defaultEndpoint)
        #expect(try MetricsEndpoint(parsing: "9464") == .defaultEndpoint)
        #expect(try MetricsEndpoint(parsing: "0.0.0.0:0").description == "0.0.0.0:0")
        for bad in ["", "localhost:9464", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:-1", "1.2.3:80", "9464x"] {
            #expect(throws: MetricsEndpointError(description: "--metrics: expected HOST:PORT (an IPv4 address and a port 0-65535) or PORT, got '\(bad)'")) {
                try MetricsEndpoint(parsing: bad)
            }
        }
    }

    /// Real TCP connections to the server: the exposition on GET /metrics, 404/405/400/431/408
    /// for everything else, and the server still answers afterwards, having counted each.
    @Test func endpointServesGetMetricsAndSurvivesBadRequests() throws {
        var layout = CounterLayout()
        let ring = RingMetrics(ring: "ingest", capacity: 64, layout: &layout)
        let block = CounterBlock(layout: layout)
        ring.publish(highWater: 5, to: block.writer)
        let server = try MetricsServer(endpoint: try MetricsEndpoint(parsing: "127.0.0.1:0"), exporter: MetricsExporter(block: block))
        server.start()
        defer { server.stop() }
        let port = server.endpoint.port
        #expect(port != 0)

        let ok = try HTTPExchange(port: port, request: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(ok.status == 200)
        #expect(ok.head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(ok.body.contains(#"tickwire_ring_high_water{ring="ingest"} 5.0"#), "\(ok.body)")
        #expect(try HTTPExchange(port: port, request: "GET /metrics?x=1 HTTP/1.0\r\n\r\n").status == 200)
        #expect(try HTTPExchange(port: port, request: "GET / HTTP/1.1\r\n\r\n").status == 404)
        #expect(try HTTPExchange(port: port, request: "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").status == 405)
        #expect(try HTTPExchange(port: port, request: "\u{0}\u{1}garbage\r\n\r\n").status == 400)
        #expect(try HTTPExchange(port: port, request: "GET /metrics HTTP/9\r\n\r\n").status == 400)
        #expect(try HTTPExchange(port: port, request: "GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000)).status == 431)
        #expect(try HTTPExchange(port: port, request: "GET /metri", stall: true).status == 408, "a client that stalls is cut off")
        #expect(try HTTPExchange(port: port, request: "").status == nil, "a client that leaves at once gets nothing")

        let after = try HTTPExchange(port: port, request: "GET /metrics HTTP/1.1\r\n\r\n")
        for line in [#"{code="200"} 2"#, #"{code="404"} 1"#, #"{code="405"} 1"#, #"{code="400"} 2"#, #"{code="431"} 1"#, #"{code="408"} 1"#] {
            #expect(after.body.contains("tickwire_metrics_http_requests_total" + line), "\(line) in \(after.body)")
        }
    }
}

struct NoObserver: BookObserver {
    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {}
    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {}
}

/// One HTTP request over a fresh loopback TCP connection, read until the server closes it.
struct HTTPExchange {
    /// nil when the server closed without answering.
    var status: Int?
    var head: String
    var body: String

    /// `stall`: keep the sending side open (a client that never finishes its request, or a
    /// server that reads an early EOF as the client giving up).
    init(host: String = "127.0.0.1", port: UInt16, request: String, stall: Bool = false) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        if !stall { shutdown(descriptor, Int32(SHUT_WR)) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if received > 0 { response += chunk[..<received] } else if received < 0 && errno == EINTR { continue } else { break }
        }
        let text = String(decoding: response, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        head = parts.first ?? ""
        body = parts.dropFirst().joined(separator: "\r\n\r\n")
        status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }
}

@Suite struct XdpSenderMetricsTests {
    @Test func xdpSenderRingStatisticsAreExportedPerSender() throws {
        guard requireRoot("AF_XDP over veth") else { return }
        let pair = try VethNamespacePair()
        let sender = try pair.run(in: pair.a) {
            var configuration = SenderConfiguration(kind: .xdp, interface: pair.a.interface)
            configuration.xdpFrameCount = 256
            return try XdpUdpSender(configuration: configuration)
        }
        var layout = CounterLayout()
        let metrics = XdpSenderMetrics(sender: "line-a", layout: &layout)
        let block = CounterBlock(layout: layout)
        metrics.publish(sender, to: block.writer)
        let lines = Set(String(decoding: MetricsExporter(block: block).render(), as: UTF8.self).split(separator: "\n").map(String.init))
        for line in [#"tickwire_xdp_frames{sender="line-a"} 256.0"#, #"tickwire_xdp_frames_in_flight{sender="line-a"} 0.0"#,
                     #"tickwire_xdp_tx_invalid_descriptors_total{sender="line-a"} 0"#, #"tickwire_xdp_tx_ring_empty_total{sender="line-a"} 0"#] {
            #expect(lines.contains(line), "\(line) in \(lines.sorted())")
        }
    }
}
