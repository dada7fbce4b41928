import ArgumentParser
import TickwireCore
import TickwireSimulator

#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM: the run loop closes every client cleanly and returns.

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve venue wire formats from a built-in exchange simulator.",
        discussion: """
        One venue per process. Prints `listening ws://HOST:PORT` (or wss://) as its first line on
        stdout; Binance venues also answer the REST depth endpoint on the same port. The market
        opens when the first client subscribes. Faults count each connection's book messages
        (depth updates/deltas; not snapshots, trades or control messages), 1-based, and are
        logged to stderr.
        """
    )

    @Option(help: "binance-spot | binance-usdm | bybit-linear | bybit-spot | okx | coinbase | kraken")
    var venue: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "TCP port (0 = any free port; the bound one is printed).")
    var port: Int = 0

    @Flag(help: "Serve wss:// and https:// with a certificate generated at start (needs --ca-out).")
    var tls = false

    @Option(name: .customLong("ca-out"), help: "Where to write the generated CA certificate (PEM) clients should trust.")
    var caOut: String?

    @Option(help: "Comma-separated venue symbols (default: one typical symbol of the venue; replay: the file's).")
    var symbols: String?

    @Option(help: "Decimal places of prices (0-12).")
    var priceScale: Int = 2

    @Option(help: "Decimal places of quantities (0-12).")
    var quantityScale: Int = 4

    @Option(help: "Generator seed.")
    var seed: UInt64 = 1

    @Option(help: "Book events per second (0 = as fast as possible).")
    var rate: Double = 1000

    @Option(help: "Stop after this many book events: close every client cleanly and exit 0.")
    var messages: Int?

    @Option(name: .customLong("linger-ms"),
            help: "After --messages: serve on this long (no events, no faults; a reconnecting client gets the final book), then close.")
    var lingerMs: Int = 0

    @Option(help: "Most levels a side the generator keeps (the truth book's depth).")
    var levels: Int = 100

    @Option(help: "Replay a recorded `<recv_ns> <frame>` file (gzip or plain) instead of generating (Binance venues).")
    var replay: String?

    @Option(help: "Replay pacing: 1 = recorded timing, 10 = ten times faster, 0 = as fast as possible.")
    var replaySpeed: Double = 1

    @Option(help: "Replay pacing instead: this many recorded frames a second, evenly spaced (every frame of the file counts).")
    var replayRate: Double?

    @Option(help: "Write a `<client> <update_id> <send_ns>` line (CLOCK_REALTIME) per book message sent, for latency joins.")
    var sendLog: String?

    @Flag(help: "OKX: send checksum 0, as OKX does today (default: the CRC32 of the top 25).")
    var okxZeroChecksum = false

    @Option(name: .customLong("truth-out"),
            help: "At exit, write each symbol's true book (every level the generator keeps) to this file, one watch-style jsonl line per symbol.")
    var truthOut: String?

    @Option(help: "Drop the Nth book message of each connection.") var dropNth: Int?
    @Option(help: "Send the Nth book message twice.") var duplicateNth: Int?
    @Option(help: "Hold back the Nth book message until after the next one of its symbol.") var reorderNth: Int?
    @Option(help: "Corrupt the Nth book message (see --corrupt-kind).") var corruptNth: Int?
    @Option(help: "json: invalid JSON in the text frame; frame: a protocol-invalid WebSocket frame instead.") var corruptKind = "json"
    @Option(help: "Drop the TCP connection (no close frame) after every N book messages.") var disconnectEvery: Int?
    @Option(help: "Stall the whole simulator before the Nth book message.") var stallNth: Int?
    @Option(help: "How long a stall lasts, in ms.") var stallMs: Int = 1000
    @Option(help: "Drop each book message with this probability (0-1).") var dropProbability: Double?
    @Option(help: "Duplicate each book message with this probability.") var duplicateProbability: Double?
    @Option(help: "Reorder each book message with this probability.") var reorderProbability: Double?
    @Option(help: "Corrupt each book message with this probability.") var corruptProbability: Double?
    @Option(help: "Stall before each book message with this probability.") var stallProbability: Double?
    @Option(help: "Seed of the fault probabilities (default: --seed).") var faultSeed: UInt64?

    func validate() throws {
        guard let venue = Venue(name: self.venue) else {
            throw ValidationError("--venue '\(self.venue)' is not one of \(Venue.allCases.map(\.name).joined(separator: ", "))")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port): expected 0...65535") }
        if tls && caOut == nil { throw ValidationError("--tls needs --ca-out PATH (where clients find the generated CA)") }
        if caOut != nil && !tls { throw ValidationError("--ca-out is only used with --tls") }
        guard (0...12).contains(priceScale) else { throw ValidationError("--price-scale \(priceScale): expected 0...12") }
        guard (0...12).contains(quantityScale) else { throw ValidationError("--quantity-scale \(quantityScale): expected 0...12") }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate \(rate): expected a number >= 0 (0 = as fast as possible)") }
        if let messages, messages < 1 { throw ValidationError("--messages \(messages): expected at least 1") }
        guard (0...600_000).contains(lingerMs) else { throw ValidationError("--linger-ms \(lingerMs): expected 0...600000") }
        if lingerMs > 0 && messages == nil { throw ValidationError("--linger-ms needs --messages (it is the wait after the last one)") }
        guard (3...5000).contains(levels) else { throw ValidationError("--levels \(levels): expected 3...5000") }
        guard replaySpeed >= 0, replaySpeed.isFinite else { throw ValidationError("--replay-speed \(replaySpeed): expected a number >= 0") }
        if let replayRate {
            guard replayRate > 0, replayRate.isFinite else { throw ValidationError("--replay-rate \(replayRate): expected frames per second > 0") }
            guard replay != nil else { throw ValidationError("--replay-rate paces a --replay FILE") }
        }
        if replay != nil && venue != .binanceSpot && venue != .binanceUSDM {
            throw ValidationError("--replay serves Binance captures: use --venue binance-spot or binance-usdm")
        }
        if truthOut != nil && replay != nil { throw ValidationError("--truth-out writes the generator's books: not with --replay") }
        if let symbols, parsedSymbols(symbols).isEmpty { throw ValidationError("--symbols '\(symbols)': expected one or more comma-separated names") }
        for (name, value) in [("--drop-nth", dropNth), ("--duplicate-nth", duplicateNth), ("--reorder-nth", reorderNth),
                              ("--corrupt-nth", corruptNth), ("--disconnect-every", disconnectEvery), ("--stall-nth", stallNth)] {
            if let value, value < 1 { throw ValidationError("\(name) \(value): expected a message number >= 1") }
        }
        for (name, value) in [("--drop-probability", dropProbability), ("--duplicate-probability", duplicateProbability),
                              ("--reorder-probability", reorderProbability), ("--corrupt-probability", corruptProbability),
                              ("--stall-probability", stallProbability)] {
            if let value, !(0...1).contains(value) { throw ValidationError("\(name) \(value): expected a probability 0...1") }
        }
        for (nth, probability, name) in [(dropNth, dropProbability, "drop"), (duplicateNth, duplicateProbability, "duplicate"),
                                         (reorderNth, reorderProbability, "reorder"), (corruptNth, corruptProbability, "corrupt"),
                                         (stallNth, stallProbability, "stall")] where nth != nil && probability != nil {
            throw ValidationError("--\(name)-nth and --\(name)-probability: choose one")
        }
        guard FaultConfiguration.CorruptKind(rawValue: corruptKind) != nil else {
            throw ValidationError("--corrupt-kind '\(corruptKind)': expected json or frame")
        }
        guard stallMs >= 0 && stallMs <= 600_000 else { throw ValidationError("--stall-ms \(stallMs): expected 0...600000") }
    }

    private func parsedSymbols(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
    }

    static func defaultSymbols(_ venue: Venue) -> [String] {
        switch venue {
        case .binanceSpot, .binanceUSDM, .bybitLinear, .bybitSpot: ["BTCUSDT"]
        case .okx: ["BTC-USDT"]
        case .coinbase: ["BTC-USD"]
        case .kraken: ["BTC/USD"]
        }
    }

    private func trigger(_ nth: Int?, _ probability: Double?) -> FaultTrigger? {
        if let nth { return .nth(nth) }
        if let probability { return .probability(probability) }
        return nil
    }

    func run() throws {
        let venue = Venue(name: self.venue)!
        let names = symbols.map(parsedSymbols) ?? (replay == nil ? Self.defaultSymbols(venue) : [])
        var configuration = SimulatorConfiguration(
            venue: venue,
            instruments: names.map { SimulatedInstrument.standard($0, priceScale: Scale(UInt8(priceScale)), quantityScale: Scale(UInt8(quantityScale))) })
        configuration.seed = seed
        configuration.host = host
        configuration.port = UInt16(port)
        configuration.caCertificateOutput = tls ? caOut : nil
        configuration.maximumLevels = levels
        configuration.minimumLevels = max(1, min(20, levels / 5))
        configuration.okxChecksum = !okxZeroChecksum
        if let replay { configuration.replay = ReplayConfiguration(path: replay, speed: replaySpeed, framesPerSecond: replayRate) }
        configuration.sendLogPath = sendLog
        var faults = FaultConfiguration()
        faults.drop = trigger(dropNth, dropProbability)
        faults.duplicate = trigger(duplicateNth, duplicateProbability)
        faults.reorder = trigger(reorderNth, reorderProbability)
        faults.corrupt = trigger(corruptNth, corruptProbability)
        faults.corruptKind = FaultConfiguration.CorruptKind(rawValue: corruptKind)!
        faults.disconnectEvery = disconnectEvery
        faults.stall = trigger(stallNth, stallProbability)
        faults.stallMilliseconds = stallMs
        faults.seed = faultSeed ?? seed
        configuration.faults = faults

        let simulator: ExchangeSimulator
        do {
            simulator = try ExchangeSimulator(configuration: configuration)
        } catch {
            printError("tickwire simulate: \(error)")
            throw ExitCode(2)
        }
        installStopSignals()
        var banner = "listening \(simulator.url)\n"
        if venue == .binanceSpot || venue == .binanceUSDM { banner += "rest \(simulator.restURL)\n" }
        banner += "venue \(venue.name) symbols \(simulator.configuration.instruments.map(\.name).joined(separator: ","))\n"
        banner.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }

        let started = monotonicNanoseconds()
        do {
            try simulator.run(messages: messages, rate: rate, linger: .milliseconds(lingerMs), stop: { stopRequested != 0 })
        } catch {
            printError("tickwire simulate: \(error)")
            throw ExitCode(1)
        }
        if let truthOut { writeTruth(of: simulator, to: truthOut) }
        let statistics = simulator.statistics
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        printError("tickwire simulate: \(statistics.updatesGenerated) book events, \(statistics.bookMessagesSent) book messages, "
                   + "\(statistics.framesSent) frames, \(statistics.bytesSent) bytes, \(statistics.restSnapshotsServed) REST snapshots in "
                   + "\(Int(seconds * 1000)) ms; \(Int(statistics.eventsPerSecond)) events/s from the first subscription to the last event")
    }
}

extension Simulate {
    /// The generator's books as `{"venue":…,"symbol":…,"generator_update_id":…,"bids":[["price","quantity"],…],"asks":[…]}`
    /// lines, numbers formatted as `watch` prints them, so a test compares a consumer's last
    /// book with the truth. The generator's update counter is not the venue's wire id (Bybit's
    /// `u`, OKX's `seqId`, Coinbase's `sequence_num` and Kraken's time are each encoded apart).
    func writeTruth(of simulator: ExchangeSimulator, to path: String) {
        var text = ""
        for instrument in simulator.configuration.instruments {
            guard let truth = simulator.truthBook(instrument.name) else { continue }
            func levels(_ side: [BookLevel]) -> String {
                side.map { level in
                    "[\"\(DecimalText.format(level.price.mantissa, scale: instrument.priceScale, trimTrailingZeros: true))\","
                        + "\"\(DecimalText.format(level.quantity.mantissa, scale: instrument.quantityScale, trimTrailingZeros: true))\"]"
                }.joined(separator: ",")
            }
            text += #"{"venue":"\#(simulator.venue.name)","symbol":"\#(instrument.name)","generator_update_id":\#(truth.updateId),"#
                + #""bids":[\#(levels(truth.bids))],"asks":[\#(levels(truth.asks))]}"# + "\n"
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            printError("tickwire simulate: --truth-out \(path): \(String(cString: strerror(errno)))")
            return
        }
        defer { close(fd) }
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                guard written > 0 else {
                    printError("tickwire simulate: --truth-out \(path): \(String(cString: strerror(errno)))")
                    return
                }
                offset += written
            }
        }
    }
}

private extension String {
    var trimmingSpaces: String {
        var view = Substring(self)
        while view.first == " " { view = view.dropFirst() }
        while view.last == " " { view = view.dropLast() }
        return String(view)
    }
}
