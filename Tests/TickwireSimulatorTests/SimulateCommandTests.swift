import Foundation
import Testing
import TickwireCore
import TickwireSimulator
import TickwireTransport
import TickwireVenues

/// The built `tickwire` binary (SwiftPM puts executables beside the test bundle).
var tickwireBinary: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tickwire")
}

func runTickwire(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = tickwireBinary
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension SimulatorFeedTests {
    @Test(arguments: [
        (["simulate"], "Missing expected argument '--venue <venue>'"),
        (["simulate", "--venue", "nasdaq"], "--venue 'nasdaq' is not one of binance-spot, binance-usdm, bybit-linear"),
        (["simulate", "--venue", "okx", "--tls"], "--tls needs --ca-out PATH"),
        (["simulate", "--venue", "okx", "--port", "70000"], "--port 70000: expected 0...65535"),
        (["simulate", "--venue", "okx", "--drop-nth", "0"], "--drop-nth 0: expected a message number >= 1"),
        (["simulate", "--venue", "okx", "--drop-nth", "3", "--drop-probability", "0.1"], "--drop-nth and --drop-probability: choose one"),
        (["simulate", "--venue", "kraken", "--corrupt-kind", "bits"], "--corrupt-kind 'bits': expected json or frame"),
        (["simulate", "--venue", "kraken", "--replay", "x.gz"], "--replay serves Binance captures"),
        (["simulate", "--venue", "coinbase", "--rate=-1"], "--rate -1.0: expected a number >= 0"),
        (["simulate", "--venue", "binance-usdm", "--replay", "x.gz", "--replay-rate", "0"], "--replay-rate 0.0: expected frames per second > 0"),
        (["simulate", "--venue", "binance-usdm", "--replay-rate", "1000"], "--replay-rate paces a --replay FILE"),
        (["simulate", "--venue", "binance-usdm", "--send-log", "/nonexistent/dir/send.log"], "--send-log /nonexistent/dir/send.log: cannot open for writing"),
        (["simulate", "--venue", "okx", "--linger-ms", "500"], "--linger-ms needs --messages"),
        (["simulate", "--venue", "okx", "--messages", "5", "--linger-ms=-1"], "--linger-ms -1: expected 0...600000"),
        (["simulate", "--venue", "binance-spot", "--replay", "x.gz", "--truth-out", "t"], "--truth-out writes the generator's books: not with --replay"),
    ])
    func badArgumentsAreAClearUsageErrorWithExitCode2(arguments: [String], message: String) throws {
        let (status, output) = try runTickwire(arguments)
        #expect(status == 2)
        #expect(output.contains(message), "\(output)")
    }

    @Test func aReplayFileThatCannotBeReadExitsWithTwo() throws {
        let (status, output) = try runTickwire(["simulate", "--venue", "binance-spot", "--replay", "/nonexistent/capture.gz"])
        #expect(status == 2)
        #expect(output.contains("tickwire simulate: replay: cannot open /nonexistent/capture.gz: No such file or directory"), "\(output)")
    }

    /// The binary prints its URL first, waits for a subscriber, sends 400 events as fast as it
    /// can, closes cleanly (1000) and exits 0; the Kraken adapter's checksums verify every message.
    @Test func theBinaryServesKrakenUntilMessagesThenClosesCleanly() throws {
        let process = Process()
        process.executableURL = tickwireBinary
        process.arguments = ["simulate", "--venue", "kraken", "--symbols", "BTC/USD,ETH/USD", "--messages", "400", "--rate", "0", "--seed", "3"]
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var firstLine = Data()
        while !firstLine.contains(10) {
            let chunk = stdout.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            firstLine.append(chunk)
        }
        let line = String(decoding: firstLine, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        #expect(line.hasPrefix("listening ws://127.0.0.1:"), "\(line)")
        let url = String(line.dropFirst("listening ".count)) + "/v2"

        var table = InstrumentTable(capacity: 4)
        let btc = try table.add(venue: .kraken, symbol: "BTC/USD", priceScale: Scale(2), quantityScale: Scale(4))
        let eth = try table.add(venue: .kraken, symbol: "ETH/USD", priceScale: Scale(2), quantityScale: Scale(4))
        let books = try BookTable(capacity: 4, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 10))
        try books.activate(btc, levelsPerSide: 10)
        try books.activate(eth, levelsPerSide: 10)
        var keeper = BookKeeper(books: books, instruments: table, observer: QuietObserver())
        var adapter = try KrakenAdapter(symbols: [
            VenueSymbol(name: "BTC/USD", instrument: btc, priceScale: Scale(2), quantityScale: Scale(4)),
            VenueSymbol(name: "ETH/USD", instrument: eth, priceScale: Scale(2), quantityScale: Scale(4)),
        ], depth: 10)
        let client = try WebSocketClient(url: url)
        try client.connect()
        var requests: [VenueRequest] = []
        adapter.connected(receiveTime: now(), sink: &keeper, requests: &requests)
        for case .sendText(let text) in requests {
            var bytes = Array(text.utf8)
            try bytes.withUnsafeMutableBytes { try client.sendText(UnsafeRawBufferPointer($0)) }
        }
        var closeCode: UInt16?
        var frames = 0, errors = 0
        let deadline = ContinuousClock.now + .seconds(20)
        while closeCode == nil && ContinuousClock.now < deadline {
            var received: [[UInt8]] = []
            let delivered = try client.poll { event in
                switch event {
                case .text(let payload, _): received.append(Array(payload))
                case .closed(let code, _): closeCode = code
                default: break
                }
            }
            for var frame in received {
                frames += 1
                frame.withUnsafeMutableBufferPointer { buffer in
                    do throws(VenueError) {
                        try adapter.handle(message: ByteView(start: UnsafePointer(buffer.baseAddress!), count: buffer.count),
                                           receiveTime: now(), sink: &keeper, requests: &requests)
                    } catch {
                        errors += 1
                    }
                }
            }
            if delivered == 0 { usleep(50) }
        }
        process.waitUntilExit()
        let log = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(closeCode == 1000)
        #expect(process.terminationStatus == 0, "\(log)")
        #expect(log.contains("tickwire simulate: 400 book events"), "\(log)")
        #expect(errors == 0)
        #expect(frames > 300)
        #expect(keeper.state(of: btc) == .valid && keeper.state(of: eth) == .valid)
        #expect(keeper.counters[btc.index].checksumFailures == 0 && keeper.counters[eth.index].checksumFailures == 0)
        #expect(keeper.counters[btc.index].updatesPublished + keeper.counters[eth.index].updatesPublished > 250)
    }

    /// Send rate: the simulator generates and sends small Binance spot deltas as fast as it can
    /// while a real client on another thread receives them. Prints msgs/s (debug builds are
    /// several times slower than release; see the report for the release figure).
    @Test func sendRateOfSmallDeltasToOneClient() throws {
        let count = Int(ProcessInfo.processInfo.environment["TICKWIRE_SIM_RATE_MESSAGES"] ?? "") ?? 100_000
        var configuration = SimulatedVenue.binanceSpot.configuration(symbols: ["BTCUSDT"])
        configuration.heartbeatInterval = .max / 2
        let simulator = try ExchangeSimulator(configuration: configuration)
        let thread = SimulatorThread(simulator)
        defer { thread.stop() }
        let client = try WebSocketClient(url: simulator.url + "/stream")
        try client.connect()
        var subscribe = Array(#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}"#.utf8)
        try subscribe.withUnsafeMutableBytes { try client.sendText(UnsafeRawBufferPointer($0)) }
        while thread.perform({ !$0.hasSubscribers }) { usleep(100) }
        final class Counter: @unchecked Sendable {
            let client: WebSocketClient
            init(_ client: WebSocketClient) { self.client = client }
            var frames = 0
            var bytes = 0
            var done = false
        }
        let counter = Counter(client)
        let receiver = Thread {
            while true {
                let delivered = (try? counter.client.poll { event in
                    if case .text(let payload, _) = event {
                        counter.frames += 1
                        counter.bytes += payload.count
                    }
                }) ?? 0
                if counter.frames >= count + 1 { break }
                if delivered == 0 { sched_yield() }
            }
            counter.done = true
        }
        let start = ContinuousClock.now
        receiver.start()
        var sent = 0
        while sent < count {
            let batch = min(2000, count - sent)
            thread.perform { $0.generate(batch) }
            sent += batch
        }
        let generated = ContinuousClock.now - start
        while !counter.done && ContinuousClock.now - start < .seconds(60) { usleep(1000) }
        let elapsed = ContinuousClock.now - start
        #expect(counter.done)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let generateSeconds = Double(generated.components.seconds) + Double(generated.components.attoseconds) / 1e18
        print("RESULT simulator_send_rate \(Int(Double(count) / seconds)) msgs/s (\(count) Binance spot depth deltas, \(counter.bytes / max(counter.frames, 1)) B avg, end to end to one ws client; generate+send alone \(Int(Double(count) / generateSeconds)) msgs/s)")
    }
}
