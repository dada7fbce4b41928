import Foundation
import Testing
import TickwireCore
import TickwireTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ListenArgumentTests {
    @Test(arguments: [
        ([], "--channel GROUP:PORT is required"),
        (["--channel", "239.1.1.1"], "expected GROUP:PORT"),
        (["--channel", "10.0.0.1:3000"], "is not a multicast group"),
        (["--channel", "239.1.1.1:0"], "expected GROUP:PORT"),
        (["--channel", "239.1.1.1:3000", "--format", "xml"], "--format: expected jsonl, table or stats"),
        (["--channel", "239.1.1.1:3000", "--backend", "dpdk"], "--backend: expected socket or xdp"),
        (["--channel", "239.1.1.1:3000", "--backend", "xdp"], "--backend xdp needs --iface NAME"),
        (["--channel", "239.1.1.1:3000", "--depth", "0"], "--depth: expected an integer in 1...1000"),
        (["--channel", "239.1.1.1:3000", "--max-packet-size", "70000"], "--max-packet-size: expected an integer in 32...65507"),
        (["--channel", "239.1.1.1:3000", "--snapshot", "239.1.1.1:3000"], "must be different group:port pairs"),
        (["--channel", "239.1.1.1:3000", "--retransmit", "publisher:4000"], "expected HOST:PORT"),
        (["--channel", "239.1.1.1:3000", "--frobnicate"], "unknown option '--frobnicate'"),
        (["--channel", "239.1.1.1:3000", "--format", "stats", "--latency-histogram", "/nonexistent/latency.txt"],
         "--latency-histogram: cannot create /nonexistent/latency.txt: No such file or directory"),
        (["--channel", "239.1.1.1:3000", "--latency-histogram", "/tmp/latency.txt"], "--latency-histogram needs --format stats or table"),
    ])
    func aBadArgumentIsAUsageErrorWithExitCode2(arguments: [String], message: String) throws {
        let (status, output) = try runTickwire(["listen"] + arguments)
        #expect(status == 2)
        #expect(output.contains(message), "\(output)")
        #expect(output.contains("Usage: tickwire listen"))
    }
}

/// `tickwire listen` in one network namespace, fed multicast packets built with Core's
/// PacketWriter from another, until the session's end of session.
@Suite(.serialized) struct ListenOutputTests {
    static let session: UInt64 = 0x1234_5678_9ABC_DEF0

    /// Starts `listen` in `pair.b`, waits until it joined, runs `send` in `pair.a`, and returns
    /// the exit status and standard output once it exits (killed after 20 s).
    func listen(
        _ arguments: [String], pair: VethNamespacePair, environment: [String] = [], ready: String = "listen: socket:",
        binary: URL = productsDirectory.appendingPathComponent("tickwire"), send: () throws -> Void
    ) throws -> (status: Int32, output: String, log: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", pair.b.namespace, "env"] + environment + [binary.path, "listen"] + arguments
        let output = Pipe(), log = Pipe()
        process.standardOutput = output
        process.standardError = log
        try process.run()
        var logText = ""
        while !logText.contains(ready) {
            let data = log.fileHandleForReading.availableData
            if data.isEmpty { break }
            logText += String(decoding: data, as: UTF8.self)
        }
        try pair.run(in: pair.a) { try send() }
        let killer = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 20, execute: killer)
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        logText += String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        killer.cancel()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), logText)
    }

    @Test func jsonlPrintsTheWatchLineForEveryUpdateOfTheRebuiltBookAndExitsAtEndOfSession() throws {
        guard requireRoot("multicast across veth namespaces") else { return }
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: "239.77.2.1", port: 30_201)
        let (status, output, log) = try listen(
            ["--channel", "\(group)", "--iface", pair.b.interface, "--exit-on-end", "--depth", "2", "--idle-sleep-us", "100"],
            pair: pair
        ) {
            let sender = try MulticastSender()
            var packets = PacketBuilder(session: Self.session, channel: 3)
            let btc = WireInstrumentDefinition(
                instrument: InstrumentId(0), venueCode: Venue.binanceSpot.rawValue, priceScale: Scale(2), quantityScale: Scale(5),
                symbol: WireSymbol("BTCUSDT")!)
            for packet in packets.announce(btc, venueUpdateId: 500, bids: [(6_183_763, 125_000), (6_183_700, 1), (6_183_600, 2)],
                                           asks: [(6_183_800, 300_000)]) {
                sender.send(packet, to: group)
            }
            sender.send(packets.next { writer in
                _ = writer.append(BookDelta(instrument: btc.instrument, side: .bid, price: Price(mantissa: 6_183_763), quantity: .zero,
                                            venueUpdateId: 501, eventTime: 0, receiveTime: 1, isLastInUpdate: false))
                _ = writer.append(BookDelta(instrument: btc.instrument, side: .ask, price: Price(mantissa: 6_183_790),
                                            quantity: Quantity(mantissa: 50), venueUpdateId: 501, eventTime: 0, receiveTime: 1, isLastInUpdate: true))
            }, to: group)
            sender.send(packets.next { writer in
                _ = writer.append(BookStatus(instrument: btc.instrument, state: .invalid, reason: .disconnected, venueUpdateId: 501, changeTime: 2))
            }, to: group)
            for _ in 0..<3 { sender.send(packets.endOfSession(), to: group) }
        }
        #expect(status == 0, "\(log)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(output)")
        guard lines.count == 3 else { return }
        // The watch keys in the watch order; recv_ns and emit_ns are times.
        let expected = [
            #"{"venue":"binance-spot","symbol":"BTCUSDT","update_id":500,"valid":true,"bids":[["61837.63","1.25"],["61837","0.00001"]],"asks":[["61838","3"]],"recv_ns":"#,
            #"{"venue":"binance-spot","symbol":"BTCUSDT","update_id":501,"valid":true,"bids":[["61837","0.00001"],["61836","0.00002"]],"asks":[["61837.9","0.0005"],["61838","3"]],"recv_ns":"#,
            #"{"venue":"binance-spot","symbol":"BTCUSDT","update_id":501,"valid":false,"reason":"disconnected","bids":[],"asks":[],"recv_ns":"#,
        ]
        for (line, prefix) in zip(lines, expected) {
            #expect(line.hasPrefix(prefix), "\(line)")
            #expect(line.range(of: #","recv_ns":[0-9]+,"emit_ns":[0-9]+\}$"#, options: .regularExpression) != nil, "\(line)")
        }
        #expect(log.contains("end: packets 4"), "\(log)")
    }
}

extension ListenOutputTests {
    @Test func statsPrintsRatesCountersAndTheLatencyPercentiles() throws {
        guard requireRoot("multicast across veth namespaces") else { return }
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: "239.77.2.2", port: 30_202)
        let (status, output, log) = try listen(
            ["--channel", "\(group)", "--iface", pair.b.interface, "--exit-on-end", "--format", "stats", "--idle-sleep-us", "100"],
            pair: pair
        ) {
            let sender = try MulticastSender()
            var packets = PacketBuilder(session: Self.session, channel: 3)
            for index in 0..<20 {
                sender.send(packets.next { writer in
                    _ = writer.append(Trade(instrument: InstrumentId(0), price: Price(mantissa: 100 + Int64(index)), quantity: Quantity(mantissa: 1),
                                            aggressor: .bid, tradeId: UInt64(index), eventTime: 0, receiveTime: 0))
                }, to: group)
            }
            sender.send(packets.endOfSession(), to: group)
        }
        #expect(status == 0, "\(log)")
        #expect(output.contains("channel \(group) session 0x123456789abcdef0"), "\(output)")
        #expect(output.contains("packets 20, duplicates 0"), "\(output)")
        #expect(output.range(of: #"latency send->receive µs \(n=20\): p50 [0-9.]+ p99 [0-9.]+ p99.9 [0-9.]+ max [0-9.]+"#,
                             options: .regularExpression) != nil, "\(output)")
    }
}

extension ListenOutputTests {
    @Test func tablePrintsTheTopOfEveryBook() throws {
        guard requireRoot("multicast across veth namespaces") else { return }
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: "239.77.2.4", port: 30_204)
        let (status, output, log) = try listen(
            ["--channel", "\(group)", "--iface", pair.b.interface, "--exit-on-end", "--format", "table", "--idle-sleep-us", "100"],
            pair: pair
        ) {
            let sender = try MulticastSender()
            var packets = PacketBuilder(session: Self.session, channel: 3)
            let eth = WireInstrumentDefinition(
                instrument: InstrumentId(2), venueCode: Venue.kraken.rawValue, priceScale: Scale(2), quantityScale: Scale(4),
                symbol: WireSymbol("ETH/USD")!)
            for packet in packets.announce(eth, venueUpdateId: 0, bids: [(250_010, 12_500)], asks: [(250_020, 3)]) {
                sender.send(packet, to: group)
            }
            for _ in 0..<3 { sender.send(packets.endOfSession(), to: group) }
        }
        #expect(status == 0, "\(log)")
        let row = try #require(output.split(separator: "\n").last { $0.hasPrefix("kraken:ETH/USD") }, "\(output)")
        #expect(row.split(separator: " ").prefix(5) == ["kraken:ETH/USD", "1.25", "2500.1", "2500.2", "0.0003"], "\(row)")
        #expect(row.contains("VALID"))
    }

    @Test func xdpBackendReceivesTheChannelWhileArpPingAndOtherPortsStillReachTheKernel() throws {
        guard requireRoot("AF_XDP on veth namespaces") else { return }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let built = try runCommand(["bash", repository.appendingPathComponent("scripts/build-bpf.sh").path])
        let object = built.split(separator: "\n").first { $0.hasSuffix("/tickwire_xdp.o") }.map(String.init)
            ?? repository.appendingPathComponent(".build-bpf/tickwire_xdp.o").path
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: "239.77.2.3", port: 30_203)
        let other = UdpEndpoint(address: pair.b.address, port: 30_299)
        let kernelSocket = try pair.run(in: pair.b) { try PlainReceiver(port: other.port) }
        var pinged = ""
        let (status, output, log) = try listen(
            ["--channel", "\(group)", "--iface", pair.b.interface, "--backend", "xdp", "--exit-on-end", "--idle-sleep-us", "100"],
            pair: pair, environment: ["TICKWIRE_XDP_OBJECT=\(object)"], ready: "listen: xdp"
        ) {
            pinged = try pair.execute(in: pair.a, ["ping", "-c", "1", "-W", "2", pair.b.address])
            let sender = try MulticastSender()
            sender.send([7, 7, 7], to: other)
            var packets = PacketBuilder(session: Self.session, channel: 3)
            let btc = WireInstrumentDefinition(
                instrument: InstrumentId(0), venueCode: Venue.okx.rawValue, priceScale: Scale(1), quantityScale: Scale(2),
                symbol: WireSymbol("BTC-USDT")!)
            for packet in packets.announce(btc, venueUpdateId: 9, bids: [(1_000, 150)], asks: [(1_001, 5)]) {
                sender.send(packet, to: group)
            }
            for _ in 0..<3 { sender.send(packets.endOfSession(), to: group) }
        }
        #expect(status == 0, "\(log)")
        #expect(output.hasPrefix(#"{"venue":"okx","symbol":"BTC-USDT","update_id":9,"valid":true,"bids":[["100","1.5"]],"asks":[["100.1","0.05"]],"recv_ns":"#), "\(output)")
        #expect(pinged.contains("1 received"), "\(pinged)")
        #expect(kernelSocket.receive() == [7, 7, 7])
    }
}

/// The receive path (socket → FeedClient → book → jsonl line) must not allocate: the release
/// `listen` runs under an LD_PRELOAD malloc counter, once with few and once with many updates.
@Suite(.serialized) struct ListenAllocationTests {
    /// The optimized build next to this (debug) test bundle, if one was built.
    static var releaseBinary: URL? {
        let candidate = productsDirectory.deletingLastPathComponent().appendingPathComponent("release/tickwire")
        return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
    }

    /// Runs release `listen` over `updates` one-delta updates; returns (malloc calls, lines).
    func mallocs(updates: Int, counter: String, binary: URL) throws -> (calls: Int, lines: Int) {
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let group = UdpEndpoint(address: "239.77.2.5", port: 30_205)
        let (status, output, log) = try ListenOutputTests().listen(
            ["--channel", "\(group)", "--iface", pair.b.interface, "--exit-on-end", "--idle-sleep-us", "50"],
            pair: pair, environment: ["LD_PRELOAD=\(counter)"], binary: binary
        ) {
            let sender = try MulticastSender()
            var packets = PacketBuilder(session: ListenOutputTests.session, channel: 3)
            let btc = WireInstrumentDefinition(
                instrument: InstrumentId(0), venueCode: Venue.bybitLinear.rawValue, priceScale: Scale(1), quantityScale: Scale(3),
                symbol: WireSymbol("BTCUSDT")!)
            for packet in packets.announce(btc, venueUpdateId: 1, bids: (0..<40).map { (650_000 - Int64($0), 1_250) },
                                           asks: (0..<40).map { (650_010 + Int64($0), 750) }) {
                sender.send(packet, to: group)
            }
            for index in 0..<updates {
                let level = Int64(index % 40)
                sender.send(packets.next { writer in
                    _ = writer.append(BookDelta(instrument: btc.instrument, side: index % 2 == 0 ? .bid : .ask,
                                                price: Price(mantissa: index % 2 == 0 ? 650_000 - level : 650_010 + level),
                                                quantity: Quantity(mantissa: Int64(index % 7) * 100), venueUpdateId: UInt64(index + 2),
                                                eventTime: 0, receiveTime: 0, isLastInUpdate: true))
                }, to: group, paced: index % 100 == 99)
            }
            for _ in 0..<3 { sender.send(packets.endOfSession(), to: group) }
        }
        #expect(status == 0, "\(log)")
        let calls = try #require(MallocCounter.calls(inStandardError: log), "\(log)")
        return (calls, output.split(separator: "\n").count)
    }

    @Test(.enabled(if: releaseBinary != nil, "no release build of tickwire next to the test bundle: run `swift build -c release --product tickwire` first"))
    func releaseListenDoesNotAllocatePerPacket() throws {
        guard requireRoot("multicast across veth namespaces") else { return }
        let binary = try #require(Self.releaseBinary)
        let counter = try MallocCounter.build()
        let few = try mallocs(updates: 200, counter: counter, binary: binary)
        let many = try mallocs(updates: 5200, counter: counter, binary: binary)
        #expect(few.lines == 1 + 200 && many.lines == 1 + 5200)
        // 5000 more packets (each validated, applied, printed as a 10-level line) cost no more
        // than noise: far below one allocation per packet.
        #expect(many.calls - few.calls < 100, "\(few.calls) malloc calls for 200 updates, \(many.calls) for 5200")
    }
}

/// A plain UDP socket bound to a port (in the namespace of the thread that makes it).
final class PlainReceiver {
    let fd: Int32
    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }
    deinit { close(fd) }

    /// The datagram waiting, if any.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count >= 0 ? Array(buffer.prefix(count)) : nil
    }
}

/// Builds the packets of one channel: sequenced packets in order, then end of session.
struct PacketBuilder {
    let session: UInt64
    let channel: UInt16
    var sequence: UInt64 = 1

    mutating func next(_ body: (inout PacketWriter) -> Void) -> [UInt8] {
        defer { sequence += 1 }
        return build { writer in
            writer.begin(channel: channel, sequence: sequence, sendTime: Self.now(), session: session)
            body(&writer)
        }
    }

    /// An instrument's definition, then its book as a one-chunk inline snapshot (price, quantity
    /// mantissas, best first).
    mutating func announce(
        _ definition: WireInstrumentDefinition, venueUpdateId: UInt64, bids: [(Int64, Int64)], asks: [(Int64, Int64)]
    ) -> [[UInt8]] {
        let announcement = next { _ = $0.append(definition) }
        let snapshotSequence = sequence
        let snapshot = next { writer in
            _ = writer.beginSnapshotChunk(
                instrument: definition.instrument, chunkIndex: 0, incrementalSequence: snapshotSequence, venueUpdateId: venueUpdateId)
            for (price, quantity) in bids { _ = writer.appendSnapshotLevel(.bid, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity)) }
            for (price, quantity) in asks { _ = writer.appendSnapshotLevel(.ask, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity)) }
            writer.finishSnapshotChunk(isLast: true)
        }
        return [announcement, snapshot]
    }

    func endOfSession() -> [UInt8] {
        build { writer in
            writer.begin(channel: channel, sequence: sequence, sendTime: Self.now(), session: session, flags: .unsequenced)
            _ = writer.append(EndOfSession(nextSequence: sequence))
        }
    }

    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1e9) }

    private func build(_ body: (inout PacketWriter) -> Void) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: WireProtocol.defaultMaxPacketSize)
        let length = bytes.withUnsafeMutableBytes { buffer in
            var writer = PacketWriter(buffer: buffer)
            body(&writer)
            return writer.finish()
        }
        return Array(bytes.prefix(length))
    }
}

struct UdpEndpoint: CustomStringConvertible {
    var address: String
    var port: UInt16
    var description: String { "\(address):\(port)" }
}

/// A plain UDP socket (created in the namespace of the thread that makes it).
final class MulticastSender {
    let fd: Int32
    init() throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
    }
    deinit { close(fd) }

    /// Paced by default (2 ms a datagram): the tests check lines, not the receive buffer.
    func send(_ bytes: [UInt8], to destination: UdpEndpoint, paced: Bool = true) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = destination.port.bigEndian
        inet_pton(AF_INET, destination.address, &address.sin_addr)
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        if paced { usleep(2_000) }
    }
}
