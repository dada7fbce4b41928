import ArgumentParser
import CTickwire
import Logging
import TickwireCore
import TickwireRuntime
import TickwireSystem
import TickwireTransport
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// `tickwire run`: the daemon. Venue connections in, one channel out, in the staged or fused
/// topology. Either everything from `--config main.toml`, or a quick start from `--venue`
/// files and `--channel` with defaults for the rest. Options are parsed by `run` itself, as
/// in `watch`, so every bad argument exits 2 with a specific message.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the feeder: venues' books published on a UDP multicast channel.",
        discussion: """
            With --config, main.toml names the venue files, the channel, the threads and cores, \
            host tuning, metrics and logs (see config/main.toml); --sender, --iface, --topology, \
            --idle and --once override it. Without it, --venue (repeatable) and --channel are \
            required and the rest takes defaults. Publishes the venues on --channel (and \
            --channel-b for A/B lines), loops full-book snapshots on --snapshot, answers \
            retransmission requests on --retransmit. Exit status: 0 on SIGINT/SIGTERM or, with \
            --once, when every venue closed its connection (end of session is sent first); 1 \
            when the sockets, the sender or a required host setting cannot be set up; 2 for bad \
            arguments or configuration.
            """
    )

    @Option(help: ArgumentHelp("Daemon configuration (main.toml).", valueName: "file"))
    var config: String?
    @Option(help: ArgumentHelp("Venue configuration file (TOML); repeat for several venues on the channel.", valueName: "file"))
    var venue: [String] = []
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
    @Option(help: ArgumentHelp("staged (a thread per stage) or fused (one thread). Default: staged when the host has a CPU for every stage, else fused.", valueName: "topology"))
    var topology: String?
    @Option(help: ArgumentHelp("What idle threads do: busy-spin (default), spin-yield[:SPINS], spin-park[:SPINS[:MICROSECONDS]].", valueName: "strategy"))
    var idle: String?
    @Option(help: ArgumentHelp("Serve Prometheus metrics on HOST:PORT (main.toml default 127.0.0.1:9464; none in a quick start).", valueName: "host:port"))
    var metrics: String?
    @Flag(help: "Stop (end of session on the channel, exit 0) when every venue has closed its connection.")
    var once = false
    @Option(name: .customLong("idle-sleep-us"),
            help: ArgumentHelp("Same as --idle spin-park:0:US (kept for scripts).", valueName: "us"))
    var idleSleep: String?
    @Option(name: .customLong("latency-histogram"),
            help: ArgumentHelp("At exit, write the receive->send latency histograms here (rows per bucket; docs/BENCHMARKS.md).", valueName: "file"))
    var latencyHistogram: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    func run() throws {
        let settings = settings()
        let logWriter: LogWriter
        do throws(SystemError) {
            logWriter = try LogSetup.bootstrap(settings.log)
        } catch {
            printError("error: tickwire run: cannot open the log \(settings.log.destination): \(error)")
            throw ExitCode(1)
        }
        let logger = Logger(label: "run")
        // Logs are written by the log writer's thread: close it (drains the queue) on every way out.
        func exit(_ status: Int32, _ message: String? = nil) -> ExitCode {
            if let message { logger.error("\(message)") }
            logWriter.close()
            return ExitCode(status)
        }
        let configured: (sender: ConfiguredSender, fallbackReason: String?)
        do throws(SenderStartError) {
            configured = try settings.sender.makeSender()
        } catch {
            throw exit(1, "error: tickwire run: \(error)")
        }
        if let reason = configured.fallbackReason { logger.warning("WARNING: \(reason)") }
        logger.info("sender \(configured.sender.modeDescription)")
        do throws(HostTuningError) {
            let locked = try settings.memoryLocking.apply()
            if locked.hasPrefix("WARNING") { logger.warning("\(locked)") } else { logger.info("\(locked)") }
        } catch {
            throw exit(1, "error: tickwire run: \(error)")
        }
        installStopSignals()
        HangupSignal.install()
        var services = PipelineServices()
        services.metrics = settings.metrics
        services.logger = Logger(label: "run.health")
        services.reopenLogs = { logWriter.reopen() }
        do throws(SystemError) {
            services.notifier = try SystemdNotifier()
        } catch {
            logger.warning("WARNING: NOTIFY_SOCKET is set but unusable: \(error)")
        }
        SystemdNotifier.unsetEnvironment()  // children (none today) must not notify for us
        settings.announce(logger)
        let summary: PipelineSummary
        do {
            let log: @Sendable (String) -> Void = { line in
                if line.hasPrefix("WARNING") { logger.warning("\(line)") } else { logger.info("\(line)") }
            }
            let stop: @Sendable () -> Bool = { stopRequested != 0 }
            summary = try runPipeline(channel: settings.channel, plan: settings.pipeline, sender: configured.sender,
                                      services: services, shouldStop: stop, log: log)
        } catch {
            throw exit(1, "error: tickwire run: \(error)")
        }
        report(summary, logger)
        if let latencyHistogram, !LatencyHistogramFile.write(latencyHistogram, [
            ("frame_received_to_packet_sent", summary.latency.fromReceiveStamp), ("read_returned_to_packet_sent", summary.latency.fromRead),
        ]) {
            throw exit(summary.exitStatus != 0 ? summary.exitStatus : 1, "error: tickwire run: cannot write --latency-histogram \(latencyHistogram)")
        }
        if summary.exitStatus != 0 { throw exit(summary.exitStatus) }
        logWriter.close()
    }

    /// The run's settings: main.toml with the command line's overrides, or the quick start's defaults.
    private func settings() -> RunSettings {
        rejectUnrecognized(unrecognized, fail: usageError)
        var settings: RunSettings
        if let config {
            let quickStartOnly = [("--venue", !venue.isEmpty), ("--channel", channel != nil), ("--channel-b", channelB != nil),
                                  ("--snapshot", snapshot != nil), ("--snapshot-rate", snapshotRate != nil),
                                  ("--retransmit", retransmit != nil), ("--channel-id", channelId != nil)]
            if let (option, _) = quickStartOnly.first(where: { $0.1 }) {
                usageError("\(option) goes in \(config)'s [channel] / venues, not beside --config")
            }
            do throws(ConfigError) {
                let main = try MainConfig.load(path: config)
                settings = RunSettings(channel: main.channel, pipeline: main.pipeline, sender: main.sender, memoryLocking: main.memoryLocking,
                                       metrics: main.metrics, log: main.log)
            } catch {
                printError("error: \(error)")
                Glibc.exit(2)
            }
        } else {
            guard !venue.isEmpty else { usageError("--config FILE or --venue FILE is required (e.g. --venue config/binance-spot.toml)") }
            guard let channel else { usageError("--channel GROUP:PORT is required (e.g. --channel 239.1.1.1:30001)") }
            let groups = channelGroups(channel, channelB, snapshot, fail: usageError)
            let id = integerOption(channelId, "--channel-id", in: UInt16(1)...UInt16.max - 1, default: 1, fail: usageError)
            let rate = integerOption(snapshotRate, "--snapshot-rate", in: 1...1_000_000, default: 1000, fail: usageError)
            let retransmitEndpoint = endpointOption(retransmit, "--retransmit", multicast: false, fail: usageError)
            var plan = ChannelPlan(id: id, venues: [], lineA: groups.lineA)
            plan.lineB = groups.lineB
            plan.snapshot = groups.snapshot
            plan.snapshotRate = rate
            plan.retransmit = retransmitEndpoint
            var pipeline = PipelinePlan()
            // A busy-polling thread per stage needs a CPU each (ingest per venue, book, send).
            pipeline.topology = availableCPUs() >= venue.count + 2 ? .staged : .fused
            settings = RunSettings(channel: plan, pipeline: pipeline, sender: SenderConfiguration(), memoryLocking: .bestEffort)
            settings.topologyIsDefault = true
        }
        // Command-line overrides.
        if sender != nil || iface != nil || xdpQueue != nil || noFallback {
            do {
                var parsed = try SenderConfiguration.parse(sender: sender ?? settings.sender.kind.rawValue, interface: iface ?? settings.sender.interface,
                                                           xdpQueue: xdpQueue, noFallback: noFallback)
                if xdpQueue == nil { parsed.xdpQueue = settings.sender.xdpQueue }
                parsed.sendBufferBytes = settings.sender.sendBufferBytes
                parsed.multicastLoopback = settings.sender.multicastLoopback
                settings.sender = parsed
            } catch {
                usageError("\(error)")
            }
        }
        if multicastLoop { settings.sender.multicastLoopback = true }
        if let metrics {
            do throws(MetricsEndpointError) {
                settings.metrics = try MetricsEndpoint(parsing: metrics)
            } catch {
                usageError("\(error)")
            }
        }
        if let problem = settings.sender.problem { usageError(problem) }
        if let topology {
            guard let value = Topology(rawValue: topology) else { usageError("--topology: expected staged or fused (got '\(topology)')") }
            settings.pipeline.topology = value
            settings.topologyIsDefault = false
        }
        if let idle {
            guard let value = IdleStrategy(idle) else {
                usageError("--idle: expected busy-spin, spin-yield[:SPINS] or spin-park[:SPINS[:MICROSECONDS]] (got '\(idle)')")
            }
            settings.pipeline.idle = value
        }
        if idleSleep != nil {
            if idle != nil { usageError("--idle-sleep-us and --idle both set the idle strategy: give one") }
            let micros = integerOption(idleSleep, "--idle-sleep-us", in: UInt32(0)...1_000_000, default: 0, fail: usageError)
            settings.pipeline.idle = micros == 0 ? .busySpin : .spinThenPark(spins: 0, microseconds: micros)
        }
        settings.pipeline.runOnce = once || settings.pipeline.runOnce
        if let latencyHistogram { LatencyHistogramFile.prepare(latencyHistogram, fail: usageError) }
        // Rings, books and history on the NIC's node when it has one (several nodes only).
        if let interface = settings.sender.interface, ctw_numa_available() >= 0, ctw_numa_max_node() > 0,
           let node = InterfaceChecks.deviceNumaNode(interface: interface), node >= 0 {
            settings.pipeline.memory.numaNode = node
        }
        // Venue files last, so every usage error is reported before any file is read.
        for file in venue {
            do throws(ConfigError) {
                settings.channel.venues.append(try VenueConfig.load(path: file))
            } catch {
                printError("error: \(error)")
                Glibc.exit(2)
            }
        }
        return settings
    }

    private func usageError(_ message: String) -> Never {
        printError("error: tickwire run: \(message)\nUsage: tickwire run --config main.toml [--sender standard|xdp] [--iface NAME] [--topology staged|fused] [--once] [--latency-histogram FILE]\n       tickwire run --venue FILE [--venue FILE…] --channel GROUP:PORT [--channel-b GROUP:PORT] [--snapshot GROUP:PORT] [--retransmit HOST:PORT] [--sender standard|xdp] [--iface NAME] [--once]\n  See 'tickwire run --help'.")
        Glibc.exit(2)
    }

    private func report(_ summary: PipelineSummary, _ logger: Logger) {
        for connection in summary.connections {
            var line = "\(connection.venue): \(counterLine(connection.counters)); receive timestamps \(connection.receiveTimestamps ?? "none")"
            if let ingest = connection.ingest {
                line += "; event ring high-water \(ingest.highWater), dropped \(ingest.droppedEvents), books invalidated by overflow \(ingest.overflowedBooks)"
            }
            if case .connectionEnded(_, let reason) = connection.stop { line += "; ended: \(reason)" }
            logger.info("\(line)")
        }
        let channel = summary.channel
        var line = "published \(channel.packets) packets, \(channel.messages) messages, session \(summary.session)"
        if let send = summary.send {
            line += "; send stage sent \(send.packets) packets, errors \(send.errors), would block \(send.wouldBlock), refused by the full ring \(summary.packetsRefusedByRing)"
        }
        logger.info("\(line)")
        let latency = summary.latency
        if latency.fromReceiveStamp.totalCount > 0 {
            // The first leg starts at the kernel's receive stamp; the second when the read returned.
            logger.info("latency: venue frame received->packet sent \(latencyPercentiles(latency.fromReceiveStamp)); read returned->packet sent \(latencyPercentiles(latency.fromRead))")
        }
        if let served = summary.retransmission {
            logger.info("retransmission: requests \(served.requests), packets resent \(served.packetsResent), not available \(served.notAvailable), rate limited \(served.rateLimited), malformed \(served.malformed), send errors \(served.sendErrors)")
        }
    }
}

/// What `run` was asked to do, whichever way it was asked.
struct RunSettings {
    var channel: ChannelPlan
    var pipeline: PipelinePlan
    var sender: SenderConfiguration
    var memoryLocking: MainConfig.MemoryLocking
    var metrics: MetricsEndpoint?
    var log = LogSettings()
    var topologyIsDefault = false

    func announce(_ logger: Logger) {
        var line = "\(channel.venues.map(\.venue.name).joined(separator: ", ")) on channel \(channel.id) \(channel.lineA)"
        if let lineB = channel.lineB { line += " + B \(lineB)" }
        if let group = channel.snapshot { line += ", snapshots on channel \(channel.id + 1) \(group)" }
        if let retransmit = channel.retransmit { line += ", retransmission on \(retransmit)" }
        line += "; topology \(pipeline.topology.rawValue)"
        if topologyIsDefault { line += " (default for \(availableCPUs()) CPUs; --topology to choose)" }
        line += ", idle \(pipeline.idle)"
        logger.info("\(line)")
        let available = (try? CPUSet.currentThread().cpus) ?? []
        let isolated = readSmallFile("/sys/devices/system/cpu/isolated").flatMap(parseCPUList) ?? []
        for warning in pipeline.placementWarnings(venues: channel.venues.count, available: available, isolated: isolated) {
            logger.warning("WARNING: \(warning)")
        }
    }
}

/// CPUs this process may run on.
func availableCPUs() -> Int {
    (try? CPUSet.currentThread().cpus.count) ?? 1
}
