import ArgumentParser
import CTickwire
import TickwireCore
import TickwireRuntime
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// `tickwire watch`: one venue connection, its books kept by the venue's own sync rules,
/// printed as JSON lines or a live table.
///
/// Every option is parsed by `run` itself (typed as text, unknown ones collected) so that any
/// bad argument exits with status 2 and a specific message, the same status as a bad
/// configuration file (swift-argument-parser's own usage errors would exit 64).
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to a venue and print its books.",
        discussion: """
            --format jsonl (default) prints, after each venue message has been applied to a \
            symbol's book, one line: {"venue","symbol","update_id","valid":true,"bids":[["price","qty"],…],\
            "asks":[…],"recv_ns","emit_ns"} — top N levels, best first, exact decimals with trailing \
            zeros trimmed; update_id is the venue's own id of that message; recv_ns the receive time \
            of the frame that completed the update, emit_ns when the line was written. A book that \
            turns invalid prints one line with "valid":false, a "reason" and empty bids/asks.
            --format table redraws a terminal view of the top of each book a few times a second.
            Exit status: 0 with --once when the server closes the connection (or on a normal end); \
            1 when the feed cannot be set up or (with --once) cannot connect; 2 for bad arguments \
            or a bad configuration file (the message names FILE:KEY).
            """
    )

    @Option(help: ArgumentHelp("Venue configuration file (TOML), e.g. config/bybit-linear.toml.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Levels printed per side (1...1000; default 10 for jsonl, 5 for table).", valueName: "n"))
    var depth: String?

    @Option(help: ArgumentHelp("Output format: jsonl or table (default jsonl).", valueName: "format"))
    var format: String?

    @Flag(help: "Exit (status 0) when the server closes the connection instead of reconnecting.")
    var once = false

    @Option(name: .customLong("idle-sleep-us"),
            help: ArgumentHelp("Microseconds to sleep after an empty poll (default 0: busy-poll, lowest latency).", valueName: "us"))
    var idleSleep: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    enum Format: String { case jsonl, table }

    func run() throws {
        rejectUnrecognized(unrecognized, fail: usageError)
        guard let path = config else { usageError("--config FILE is required (e.g. --config config/binance-spot.toml)") }
        guard let format = Format(rawValue: format ?? "jsonl") else {
            usageError("--format: expected jsonl or table (got '\(format ?? "")')")
        }
        let levels = integerOption(depth, "--depth", in: 1...1000, default: format == .table ? 5 : 10, fail: usageError)
        let sleepMicroseconds = integerOption(idleSleep, "--idle-sleep-us", in: UInt32(0)...1_000_000, default: 0, fail: usageError)
        let venueConfig: VenueConfig
        do throws(ConfigError) {
            venueConfig = try VenueConfig.load(path: path)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let runner = WatchRunner(config: venueConfig, levels: levels, format: format,
                                 options: FeedOptions(runOnce: once, idleSleepMicroseconds: sleepMicroseconds,
                                                      log: { printError("watch: \($0)") }))
        let status: Int32
        do {
            status = try venueConfig.withAdapter(runner)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func usageError(_ message: String) -> Never {
        printError("error: tickwire watch: \(message)\nUsage: tickwire watch --config FILE [--depth N] [--format jsonl|table] [--once]\n  See 'tickwire watch --help'.")
        Glibc.exit(2)
    }
}

/// Builds the feed for the adapter the file names and runs it until it ends.
private struct WatchRunner: VenueAdapterConsumer {
    let config: VenueConfig
    let levels: Int
    let format: Watch.Format
    let options: FeedOptions

    func consume<Adapter: VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> Int32 {
        switch format {
        case .jsonl:
            let observer = JSONLinesObserver(venue: config.venue, instruments: books.instruments, levels: levels,
                                             sink: FileDescriptorSink(descriptor: 1))
            var feed = try VenueFeed(config: config, adapter: adapter, books: books, observer: observer, options: options)
            let stop = feed.run()
            feed.shutDown()
            return finish(stop, counters: feed.counters, timestamps: feed.receiveTimestampSource)
        case .table:
            let observer = TableObserver(venue: config.venue, instruments: books.instruments, levels: levels)
            var feed = try VenueFeed(config: config, adapter: adapter, books: books, observer: observer, options: options)
            var nextDraw: UInt64 = 0
            let stop = feed.run(idle: { feed in
                let now = ctw_monotonic_ns()
                guard now >= nextDraw else { return }
                nextDraw = now + 200_000_000
                let status = "\(feed.isConnected ? "connected" : "reconnecting")  \(counterLine(feed.counters))"
                printToStdout(feed.sink.observer.render(status: status), newline: false)
            })
            printToStdout(feed.sink.observer.render(status: "\(feed.isConnected ? "connected" : "disconnected")  \(counterLine(feed.counters))"), newline: false)
            feed.shutDown()
            return finish(stop, counters: feed.counters, timestamps: feed.receiveTimestampSource)
        }
    }

    private func finish(_ stop: FeedStop, counters: FeedCounters, timestamps: String?) -> Int32 {
        switch stop {
        case .requested:
            return 0
        case .connectionEnded(let code, let reason):
            printError("watch: \(config.venue.name): \(reason); \(counterLine(counters)); receive timestamps \(timestamps ?? "none")")
            // A server close (with or without a close frame) is the normal end of --once;
            // never having connected is a failure.
            return counters.connects > 0 || code != nil ? 0 : 1
        }
    }
}

func counterLine(_ counters: FeedCounters) -> String {
    "messages \(counters.messages), parse errors \(counters.parseErrors) (malformed \(counters.malformed), unknown symbol \(counters.unknownSymbol), unexpected \(counters.unexpected), rejected \(counters.rejected)), reconnects \(counters.reconnects), resyncs \(counters.resyncs), oversize \(counters.oversize), snapshots \(counters.snapshotsDelivered)/\(counters.snapshotsRequested) (rate limited \(counters.snapshotRateLimits))"
}

/// Writes text to standard output with one write(2) (no stdio buffering).
func printToStdout(_ text: String, newline: Bool = true) {
    var text = text
    if newline { text.append("\n") }
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { if errno == EINTR { continue } else { return } }
            offset += written
        }
    }
}
