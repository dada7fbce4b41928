import ArgumentParser
import CTickwire
import TickwireCore
import TickwireRuntime
import TickwireTransport
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// `tickwire run`: one venue connection published on one channel, in the fused topology (the
/// venue feed, the books and the senders on one thread). Options are parsed by `run`
/// itself, as in `watch`, so every bad argument exits 2 with a specific message.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the feeder: a venue's books published on a UDP multicast channel.",
        discussion: """
            Publishes the venue the file describes on --channel (and --channel-b for A/B \
            lines), loops full-book snapshots on --snapshot, and answers retransmission \
            requests on --retransmit. Exit status: 0 on SIGINT/SIGTERM or, with --once, when \
            the venue closed the connection (end of session is sent on every channel first); \
            1 when the sockets or the sender cannot be set up; 2 for bad arguments or configuration.
            """
    )

    @Option(help: ArgumentHelp("Venue configuration file (TOML), e.g. config/binance-spot.toml.", valueName: "file"))
    var venue: String?
    @Option(help: ArgumentHelp("Incremental channel (line A), e.g. 239.1.1.1:30001.", valueName: "group:port"))
    var channel: String?
    @Option(name: .customLong("channel-b"), help: ArgumentHelp("Line B: every packet again to this group.", valueName: "group:port"))
    var channelB: String?
    @Option(help: ArgumentHelp("Snapshot channel: full books looped at --snapshot-rate.", valueName: "group:port"))
    var snapshot: String?
    @Option(name: .customLong("snapshot-rate"), help: ArgumentHelp("Snapshot channel packets per second (default 1000).", valueName: "n"))
    var snapshotRate: String?
    @Option(help: ArgumentHelp("Address and port the retransmission service answers on (unicast).", valueName: "host:port"))
    var retransmit: String?
    @Option(name: .customLong("channel-id"), help: ArgumentHelp("Channel id in every packet (default 1; the snapshot channel is id + 1).", valueName: "n"))
    var channelId: String?
    @Option(help: ArgumentHelp("Sender: standard (default) or xdp.", valueName: "sender"))
    var sender: String?
    @Option(help: ArgumentHelp("Outgoing interface (for xdp: the interface whose queue it binds).", valueName: "name"))
    var iface: String?
    @Option(name: .customLong("xdp-queue"), help: ArgumentHelp("The NIC queue the xdp sender binds (default 0).", valueName: "n"))
    var xdpQueue: String?
    @Flag(name: .customLong("no-fallback"), help: "With --sender xdp: exit 1 instead of falling back to the standard sender.")
    var noFallback = false
    @Flag(name: .customLong("multicast-loop"), help: "Deliver the channels to listeners on this host too (IP_MULTICAST_LOOP).")
    var multicastLoop = false
    @Flag(help: "Stop (end of session on every channel, exit 0) when the venue closes the connection.")
    var once = false
    @Option(name: .customLong("idle-sleep-us"),
            help: ArgumentHelp("Microseconds to sleep after an empty poll (default 0: busy-poll).", valueName: "us"))
    var idleSleep: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    func run() throws {
        let options = parse()
        let venueConfig: VenueConfig
        do throws(ConfigError) {
            venueConfig = try VenueConfig.load(path: options.venueFile)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let configured: (sender: ConfiguredSender, fallbackReason: String?)
        do throws(SenderStartError) {
            configured = try options.sender.makeSender()
        } catch {
            printError("error: tickwire run: \(error)")
            throw ExitCode(1)
        }
        if let reason = configured.fallbackReason { printError("run: WARNING: \(reason)") }
        printError("run: sender \(configured.sender.modeDescription)")
        installStopSignals()
        let status: Int32
        do {
            switch configured.sender {
            case .standard(let sender): status = try venueConfig.withAdapter(RunRunner(options: options, config: venueConfig, sender: sender))
            case .xdp(let sender): status = try venueConfig.withAdapter(RunRunner(options: options, config: venueConfig, sender: sender))
            }
        } catch {
            printError("error: tickwire run: \(error)")
            throw ExitCode(1)
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func parse() -> RunOptions {
        rejectUnrecognized(unrecognized, fail: usageError)
        guard let venue else { usageError("--venue FILE is required (e.g. --venue config/binance-spot.toml)") }
        guard let channel else { usageError("--channel GROUP:PORT is required (e.g. --channel 239.1.1.1:30001)") }
        let groups = channelGroups(channel, channelB, snapshot, fail: usageError)
        var sender: SenderConfiguration
        do {
            sender = try SenderConfiguration.parse(sender: self.sender, interface: iface, xdpQueue: xdpQueue, noFallback: noFallback)
        } catch {
            usageError("\(error)")
        }
        sender.multicastLoopback = multicastLoop
        if let problem = sender.problem { usageError(problem) }
        return RunOptions(
            venueFile: venue, lineA: groups.lineA, lineB: groups.lineB, snapshot: groups.snapshot,
            snapshotRate: integerOption(snapshotRate, "--snapshot-rate", in: 1...1_000_000, default: 1000, fail: usageError),
            retransmit: endpointOption(retransmit, "--retransmit", multicast: false, fail: usageError),
            channelId: integerOption(channelId, "--channel-id", in: UInt16(1)...UInt16.max - 1, default: 1, fail: usageError),
            sender: sender, once: once,
            idleSleepMicroseconds: integerOption(idleSleep, "--idle-sleep-us", in: UInt32(0)...1_000_000, default: 0, fail: usageError))
    }

    private func usageError(_ message: String) -> Never {
        printError("error: tickwire run: \(message)\nUsage: tickwire run --venue FILE --channel GROUP:PORT [--channel-b GROUP:PORT] [--snapshot GROUP:PORT] [--retransmit HOST:PORT] [--sender standard|xdp] [--iface NAME] [--once]\n  See 'tickwire run --help'.")
        Glibc.exit(2)
    }
}

struct RunOptions {
    var venueFile: String
    var lineA: UdpEndpoint
    var lineB: UdpEndpoint?
    var snapshot: UdpEndpoint?
    var snapshotRate: Int
    var retransmit: UdpEndpoint?
    var channelId: UInt16
    var sender: SenderConfiguration
    var once: Bool
    var idleSleepMicroseconds: UInt32
}

/// Builds the channel around the configured sender and runs the venue feed into it.
private struct RunRunner<Sender: UdpSender>: VenueAdapterConsumer {
    let options: RunOptions
    let config: VenueConfig
    let sender: Sender

    func consume<Adapter: VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> Int32 {
        let clock = WallClock()
        let session = clock.now()
        let lines = [options.lineA, options.lineB].compactMap { $0 }.map { PublishLine(sender: sender, destination: $0) }
        let publisher = try ChannelPublisher(
            configuration: ChannelConfiguration(channel: options.channelId, session: session), lines: lines, clock: clock,
            instruments: books.instruments.definitions, instrumentCapacity: max(1, books.instruments.count))
        let snapshots = try options.snapshot.map { group in
            try SnapshotCycler(configuration: ChannelConfiguration(channel: options.channelId + 1, session: session),
                               packetsPerSecond: options.snapshotRate, lines: [PublishLine(sender: sender, destination: group)], clock: clock)
        }
        let retransmission = try options.retransmit.map { try RetransmissionService(configuration: RetransmissionConfiguration(endpoint: $0), clock: clock) }
        let observer = PublishingObserver(publisher: publisher, snapshots: snapshots, retransmission: retransmission,
                                          books: books.books, instrumentCapacity: max(1, books.instruments.count))
        var feed = try VenueFeed(config: config, adapter: adapter, books: books, observer: observer,
                                 options: FeedOptions(runOnce: options.once, idleSleepMicroseconds: options.idleSleepMicroseconds,
                                                      log: { printError("run: \($0)") }))
        var announcement = "run: \(config.venue.name) on channel \(options.channelId) \(options.lineA)"
        if let lineB = options.lineB { announcement += " + B \(lineB)" }
        if let group = options.snapshot { announcement += ", snapshots on channel \(options.channelId + 1) \(group)" }
        if let retransmission { announcement += ", retransmission on \(retransmission.endpoint)" }
        printError(announcement + ", session \(session)")
        let stop = feed.run(shouldStop: { stopRequested != 0 }, idle: { $0.keeper.observer.idle() })
        feed.keeper.observer.endSession()
        feed.shutDown()
        retransmission?.serveUntilQuiet(quietMilliseconds: 1000, shouldStop: { stopRequested != 0 })
        let counters = publisher.counters
        printError("run: \(config.venue.name): \(counterLine(feed.counters)); published \(counters.packets) packets, "
                   + "\(counters.messages) messages; receive timestamps \(feed.receiveTimestampSource ?? "none")")
        if let retransmission {
            let served = retransmission.counters
            printError("run: retransmission: requests \(served.requests), packets resent \(served.packetsResent), not available "
                       + "\(served.notAvailable), rate limited \(served.rateLimited), malformed \(served.malformed), send errors \(served.sendErrors)")
        }
        switch stop {
        case .requested: return 0
        case .connectionEnded(let code, let reason):
            printError("run: \(reason)")
            return feed.counters.connects > 0 || code != nil ? 0 : 1
        }
    }
}
