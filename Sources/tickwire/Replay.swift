import ArgumentParser
import CTickwire
import TickwireCore
import TickwireRuntime
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// `tickwire replay`: a recording fed through the real pipeline, deterministically.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay recorded frames through the pipeline.",
        discussion: """
            Feeds a recording (`tickwire record` output or a sample capture: `<recv_ns> <frame>` \
            lines, plain, gzip or zstd; several --input files are parts of one connection's \
            recording, in order) through the code `run` uses in the fused topology: the venue \
            adapter, the book keeper and the channel encoder, with no socket on the ingest side. \
            REST snapshot requests are answered by the recording's snapshot line at its recorded \
            position. Every time comes from the recording (the session id is the first frame's \
            receive time), so the packets are byte-identical run after run: --out FILE writes them \
            (each as a 4-byte little-endian length, then the packet), --channel sends them to a \
            multicast group for `tickwire listen`. Pacing: the recording's own times (default, \
            --speed to scale), --rate frames per second, or --max. The venue comes from --config, \
            or --venue with --symbols and the scales. Exit status: 0; 1 when an input cannot be \
            read or the output written; 2 for bad arguments or configuration.
            """
    )

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Recording file(s) of one venue connection, in order.", valueName: "path"))
    var input: [String] = []
    @Option(help: ArgumentHelp("Venue file (TOML) the recording was made with.", valueName: "file"))
    var config: String?
    @Option(help: ArgumentHelp("Instead of --config: the venue (binance-spot, binance-usdm, bybit-linear, …).", valueName: "name"))
    var venue: String?
    @Option(help: ArgumentHelp("With --venue: comma-separated symbols.", valueName: "list"))
    var symbols: String?
    @Option(name: .customLong("price-scale"), help: ArgumentHelp("With --venue: price decimals (default 8).", valueName: "n"))
    var priceScale: String?
    @Option(name: .customLong("quantity-scale"), help: ArgumentHelp("With --venue: quantity decimals (default 8).", valueName: "n"))
    var quantityScale: String?
    @Option(help: ArgumentHelp("With --venue: levels kept a side (default: the venue's largest).", valueName: "n"))
    var depth: String?
    @Option(help: ArgumentHelp("With --venue: comma-separated streams (Binance, e.g. depth@0ms,trade,bookTicker).", valueName: "list"))
    var streams: String?
    @Option(help: ArgumentHelp("Frames per second.", valueName: "r"))
    var rate: String?
    @Option(help: ArgumentHelp("The recording's own pacing, this many times faster (default 1).", valueName: "x"))
    var speed: String?
    @Flag(help: "As fast as possible.")
    var max = false
    @Option(help: ArgumentHelp("Write the packets to this file (length-prefixed).", valueName: "file"))
    var out: String?
    @Option(help: ArgumentHelp("Send the packets to this multicast group.", valueName: "group:port"))
    var channel: String?
    @Option(help: ArgumentHelp("With --channel: the outgoing interface.", valueName: "name"))
    var iface: String?
    @Flag(name: .customLong("multicast-loop"), help: "With --channel: deliver to listeners on this host too.")
    var multicastLoop = false
    @Option(help: ArgumentHelp("Print the final books as watch lines, this many levels a side.", valueName: "n"))
    var books: String?
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    func run() throws {
        rejectUnrecognized(unrecognized, fail: usageError)
        guard !input.isEmpty else { usageError("--input PATH is required") }
        let pacing = pacingOption()
        if out != nil && channel != nil { usageError("--out and --channel: choose one") }
        let group = endpointOption(channel, "--channel", multicast: true, fail: usageError)
        let levels = integerOption(books, "--books", in: 0...1000, default: 0, fail: usageError)
        let venueConfig = loadVenue()
        let frames: RecordedFrames
        do throws(ReplayError) { frames = try RecordedFrames(paths: input) } catch {
            printError("error: tickwire replay: \(error)")
            throw ExitCode(1)
        }
        if let garbled = frames.firstGarbled { printError("replay: \(frames.garbledLines) garbled line(s) skipped; first: \(garbled)") }
        if frames.cutOffLines > 0 { printError("replay: \(frames.cutOffLines) last line(s) cut off (no newline) skipped") }
        for file in frames.truncatedFiles { printError("replay: \(file): compressed stream cut off; its complete part is replayed") }
        let output: ReplayOutput
        if let out {
            let descriptor = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                printError("error: tickwire replay: cannot create \(out): \(String(cString: strerror(errno)))")
                throw ExitCode(1)
            }
            output = .file(descriptor: descriptor)
        } else if let group {
            var sender = SenderConfiguration(kind: .standard, interface: iface)
            sender.multicastLoopback = multicastLoop
            do throws(SenderStartError) { output = .channel(try sender.makeSender().sender, group) } catch {
                printError("error: tickwire replay: \(error)")
                throw ExitCode(1)
            }
        } else {
            output = .discard
        }
        installStopSignals()
        let summary: ReplaySummary
        do {
            summary = try replayRecording(frames, config: venueConfig, output: output, pacing: pacing, finalBookLevels: levels,
                                          shouldStop: { stopRequested != 0 })
        } catch {
            printError("error: tickwire replay: \(error)")
            throw ExitCode(1)
        }
        for line in summary.finalBooks { printToStdout(line) }
        let seconds = Double(summary.elapsed) / 1e9
        printError("replay: \(venueConfig.venue.name): messages \(summary.messages), snapshots \(summary.snapshots), books \(venueConfig.symbols.count), "
                   + "book updates \(summary.bookUpdates), packets \(summary.channel.packets), bytes \(summary.channel.bytes), session \(summary.session)")
        printError("replay: \(String(format3(seconds))) s, \(Int(summary.framesPerSecond)) messages/s, \(Int(summary.bookUpdatesPerSecond)) book updates/s")
        printError("replay: parse errors \(summary.parseErrors)\(summary.firstParseError.map { " (first: \($0))" } ?? ""), garbled lines \(frames.garbledLines), "
                   + "unrequested snapshots \(summary.unrequestedSnapshots), resyncs \(summary.resyncs), reconnects \(summary.reconnects)")
    }

    private func pacingOption() -> ReplayPacing {
        if [max, rate != nil, speed != nil].filter({ $0 }).count > 1 { usageError("--max, --rate and --speed: choose one") }
        if max { return .maximum }
        if let rate {
            guard let value = Double(rate), value > 0, value.isFinite else { usageError("--rate: expected a positive number (got '\(rate)')") }
            return .rate(value)
        }
        guard let speed else { return .recorded(speed: 1) }
        guard let value = Double(speed), value > 0, value.isFinite else { usageError("--speed: expected a positive number (got '\(speed)')") }
        return .recorded(speed: value)
    }

    /// The venue file, or one made from --venue and its options.
    private func loadVenue() -> VenueConfig {
        do throws(ConfigError) {
            if let config {
                if venue != nil { usageError("--config and --venue: choose one") }
                return try VenueConfig.load(path: config)
            }
            guard let venue else { usageError("--config FILE or --venue NAME is required") }
            guard let symbols, !symbols.isEmpty else { usageError("--venue needs --symbols (e.g. --symbols ETHUSDT)") }
            let price = integerOption(priceScale, "--price-scale", in: 0...18, default: 8, fail: usageError)
            let quantity = integerOption(quantityScale, "--quantity-scale", in: 0...18, default: 8, fail: usageError)
            guard let known = Venue(name: venue) else {
                usageError("--venue: expected one of \(Venue.allCases.map(\.name).joined(separator: ", ")) (got '\(venue)')")
            }
            let names = symbols.split(separator: ",").map { $0.trimmingCharacters(in: " ") }
            let levels = depth.map { _ in integerOption(depth, "--depth", in: 1...100_000, default: 0, fail: usageError) }
                ?? VenueConfig.allowedDepths(known).max() ?? 100
            let isBinance = known == .binanceSpot || known == .binanceUSDM
            var text = """
                adapter = "\(venue)"
                ws_url = "ws://replay.invalid"
                symbols = [\(names.map { "\"\($0)\"" }.joined(separator: ", "))]
                depth = \(levels)

                """
            if isBinance { text += "rest_url = \"http://replay.invalid\"\n" }
            if let streams { text += "streams = [\(streams.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ", "))]\n" }
            text += "[scales]\n" + names.map { "\"\($0)\" = { price = \(price), quantity = \(quantity) }\n" }.joined()
            return try VenueConfig.parse(text, file: "--venue \(venue)")
        } catch {
            printError("error: \(error)")
            Glibc.exit(2)
        }
    }

    private func usageError(_ message: String) -> Never {
        printError("error: tickwire replay: \(message)\nUsage: tickwire replay --input PATH... (--config FILE | --venue NAME --symbols LIST [--price-scale N] [--quantity-scale N] [--depth N] [--streams LIST]) [--rate R | --speed X | --max] [--out FILE | --channel GROUP:PORT [--iface NAME]] [--books N]\n  See 'tickwire replay --help'.")
        Glibc.exit(2)
    }
}

private func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}

private extension Substring {
    func trimmingCharacters(in characters: String) -> String {
        String(drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
