import CTickwire
import Logging
import Synchronization
import TickwireCore
import TickwireSystem
import TickwireTransport
import TickwireVenues

/// How the stages map onto threads.
public enum Topology: String, Sendable, CaseIterable {
    /// A thread per stage: ingest (one per venue connection) → ring → book → ring → send.
    case staged
    /// Ingest, book and send run to completion on one thread (few cores; often the lowest latency).
    case fused
}

/// One channel: the venue connections whose books it publishes, and where.
public struct ChannelPlan: Sendable {
    public var id: UInt16
    public var venues: [VenueConfig]
    public var lineA: UdpEndpoint
    public var lineB: UdpEndpoint?
    /// The snapshot loop's group (channel `id + 1`) and its packets per second.
    public var snapshot: UdpEndpoint?
    public var snapshotRate = 1000
    public var retransmit: UdpEndpoint?
    /// UDP payload limit of the channel's packets.
    public var maxPacketSize = WireProtocol.defaultMaxPacketSize

    public init(id: UInt16, venues: [VenueConfig], lineA: UdpEndpoint) {
        self.id = id
        self.venues = venues
        self.lineA = lineA
    }
}

/// Threads, rings and idling of the pipeline.
public struct PipelinePlan: Sendable {
    public var topology: Topology = .staged
    public var idle: IdleStrategy = .busySpin
    /// CPU per ingest thread (venue order; fewer entries leave the rest unpinned).
    public var ingestCPUs: [Int] = []
    public var bookCPU: Int?
    public var sendCPU: Int?
    /// The fused thread's CPU.
    public var fusedCPU: Int?
    public var realtimePriority: Int32?
    public var tuning = BookStageTuning()
    public var eventRingCapacity = 65_536
    public var packetRingCapacity = 8192
    public var memory: HotMemoryPolicy = .standard
    public var runOnce = false
    /// The feed's idle sleep (0 in the daemon: the idle strategy decides).
    public var feedIdleSleepMicroseconds: UInt32 = 0
    public init() {}
}

extension PipelinePlan {
    /// The stages this plan pins, by thread name.
    public func pinnedStages(venues: Int) -> [(stage: String, cpu: Int)] {
        switch topology {
        case .fused:
            return fusedCPU.map { [("tw-fused", $0)] } ?? []
        case .staged:
            var stages = ingestCPUs.prefix(venues).enumerated().map { ("tw-ingest-\($0.offset)", $0.element) }
            if let bookCPU { stages.append(("tw-book", bookCPU)) }
            if let sendCPU { stages.append(("tw-send", sendCPU)) }
            return stages
        }
    }

    /// What is wrong with the placement on this host, with remedies: a CPU the process may
    /// not use, two busy-polling stages sharing a CPU, a CPU the kernel does not keep free.
    public func placementWarnings(venues: Int, available: Set<Int>, isolated: Set<Int>) -> [String] {
        var warnings: [String] = []
        var seen: [Int: String] = [:]
        for (stage, cpu) in pinnedStages(venues: venues) {
            if !available.contains(cpu) {
                warnings.append("\(stage): CPU \(cpu) is not in this process's affinity (\(available.sorted().map(String.init).joined(separator: ","))); remedy: choose one of those, or widen CPUAffinity= / taskset")
            }
            if let other = seen[cpu] {
                warnings.append("\(stage) and \(other) share CPU \(cpu): busy-polling stages then take turns (remedy: a CPU each, or the fused topology)")
            }
            seen[cpu] = stage
            if !isolated.contains(cpu) {
                warnings.append("\(stage): CPU \(cpu) is not isolated, so other tasks and interrupts may run on it (remedy: isolcpus=\(cpu) nohz_full=\(cpu) on the kernel command line)")
            }
        }
        return warnings
    }
}

/// What a finished run did, for the closing log lines and the exit status.
public struct PipelineSummary: Sendable {
    public struct Connection: Sendable {
        public var venue: String
        public var counters: FeedCounters
        public var ingest: IngestLinkCounters?
        public var stop: FeedStop
        public var receiveTimestamps: String?
    }

    public var connections: [Connection] = []
    public var channel = ChannelCounters()
    public var send: SendStageCounters?
    public var packetsRefusedByRing: UInt64 = 0
    public var retransmission: RetransmissionCounters?
    public var session: UInt64 = 0
    /// Every published update's latency to its packet's send time (the channel's stage thread
    /// has stopped: read freely).
    public var latency = PublishLatencyRecorder()

    /// 1 when some connection never came up and was not stopped by request.
    public var exitStatus: Int32 {
        for connection in connections {
            if case .connectionEnded(let code, _) = connection.stop, connection.counters.connects == 0, code == nil { return 1 }
        }
        return 0
    }
}

/// What the daemon adds around the pipeline: the service manager, the metrics endpoint,
/// log reopening. All optional; none of it runs on a stage thread.
public struct PipelineServices: Sendable {
    /// READY=1 once every venue has a valid book, WATCHDOG=1 while every stage moves, STOPPING=1.
    public var notifier: SystemdNotifier?
    /// Where Prometheus scrapes the counters; nil: no endpoint.
    public var metrics: MetricsEndpoint?
    /// Called on the control thread after SIGHUP (reopen the log file).
    public var reopenLogs: (@Sendable () -> Void)?
    public var logger = Logger(label: "tickwire.pipeline")
    public init() {}
}

/// Builds and runs one channel's pipeline in the chosen topology until `shouldStop` says so
/// or (with `runOnce`) every venue connection has ended; then drains the rings, flushes,
/// sends end of session, and returns. The calling thread supervises: readiness, SIGHUP,
/// the watchdog, the metrics endpoint. `log` gets start-up and shutdown lines (never per message).
public func runPipeline<Sender: UdpSender>(
    channel: ChannelPlan, plan: PipelinePlan, sender: Sender, services: PipelineServices = PipelineServices(),
    shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> PipelineSummary {
    let books = try FeedBooks(configs: channel.venues)
    log("hot memory: books \(books.books.memoryDescription)")
    let clock = WallClock()
    let session = clock.now()
    var configuration = ChannelConfiguration(channel: channel.id, session: session)
    configuration.historyMemory = plan.memory
    configuration.maxPacketSize = channel.maxPacketSize
    var summary: PipelineSummary
    switch plan.topology {
    case .fused:
        summary = try runFused(channel: channel, plan: plan, books: books, configuration: configuration, sender: sender,
                               clock: clock, services: services, shouldStop: shouldStop, log: log)
    case .staged:
        let ring = try PacketRing(capacity: plan.packetRingCapacity, slotSize: configuration.maxPacketSize, policy: plan.memory)
        log("hot memory: packet ring \(ring.arena)")
        summary = try runStaged(channel: channel, plan: plan, books: books, configuration: configuration,
                                ringSender: ring.sender(describing: sender.modeDescription),
                                send: SendStage(ring: ring, sender: sender, packetsPerSend: configuration.packetsPerSend),
                                clock: clock, services: services, shouldStop: shouldStop, log: log)
        summary.packetsRefusedByRing = ring.packetsRefused
    }
    summary.session = session
    return summary
}

/// `runPipeline` over the sender a configuration produced. The switch is made here, inside
/// this module, so each case runs the pipeline specialized for its concrete sender (a generic
/// call from another module runs the unspecialized code, looking up type metadata per call).
public func runPipeline(
    channel: ChannelPlan, plan: PipelinePlan, sender: ConfiguredSender, services: PipelineServices = PipelineServices(),
    shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> PipelineSummary {
    switch sender {
    case .standard(let sender):
        try runPipeline(channel: channel, plan: plan, sender: sender, services: services, shouldStop: shouldStop, log: log)
    case .xdp(let sender):
        try runPipeline(channel: channel, plan: plan, sender: sender, services: services, shouldStop: shouldStop, log: log)
    }
}

/// A channel's publisher, snapshot loop and retransmission service over `sender`.
private struct ChannelOutput<Sender: UdpSender> {
    let publisher: ChannelPublisher<Sender, WallClock>
    let snapshots: SnapshotCycler<Sender, WallClock>?
    let retransmission: RetransmissionService<WallClock>?
    /// Shared by the channel's observers, which all run on one thread (the fused thread or
    /// the book stage).
    let latency = PublishLatencyRecorder()

    init(channel: ChannelPlan, configuration: ChannelConfiguration, books: FeedBooks, sender: Sender, clock: WallClock) throws {
        let lines = [channel.lineA, channel.lineB].compactMap { $0 }.map { PublishLine(sender: sender, destination: $0) }
        publisher = try ChannelPublisher(configuration: configuration, lines: lines, clock: clock,
                                         instruments: books.instruments.definitions, instrumentCapacity: max(1, books.instruments.count))
        var snapshotConfiguration = configuration
        snapshotConfiguration.channel = channel.id + 1
        snapshots = try channel.snapshot.map { group in
            try SnapshotCycler(configuration: snapshotConfiguration, packetsPerSecond: channel.snapshotRate,
                               lines: [PublishLine(sender: sender, destination: group)], clock: clock)
        }
        retransmission = try channel.retransmit.map {
            try RetransmissionService(configuration: RetransmissionConfiguration(endpoint: $0), clock: clock)
        }
        retransmission?.serve(publisher)
    }

    func observer(books: FeedBooks, metrics: PipelineMetrics) -> PublishingObserver<Sender, WallClock> {
        var observer = PublishingObserver(publisher: publisher, snapshots: snapshots, retransmission: retransmission,
                                          books: books.books, instrumentCapacity: max(1, books.instruments.count))
        observer.measureLatency(PublishLatency(histograms: metrics.latencyOfInstrument, writer: metrics.writer, recorder: latency))
        return observer
    }
}

/// Moves a value that is not Sendable to the one thread that will use it.
private final class Handoff<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

// MARK: services shared by the stage threads

/// The metric groups of one channel's pipeline; each group is written by one stage thread.
private struct PipelineMetrics: Sendable {
    let feeds: [FeedMetrics]
    let books: [BookMetrics]
    let ingestLinks: [IngestLinkMetrics]
    let channel: ChannelMetrics
    let retransmission: RetransmissionMetrics?
    let send: SendStageMetrics?
    let xdp: XdpSenderMetrics?
    /// Receive → packet handed to the sender, per instrument (each its venue's histogram).
    let latencyOfInstrument: [LatencyHistogramSlots]
    let block: CounterBlock
    var writer: CounterWriter { block.writer }

    init(channel plan: ChannelPlan, books: FeedBooks, topology: Topology, sender: String, xdp: Bool) {
        var layout = CounterLayout()
        feeds = zip(plan.venues, books.symbolsByConfig).map { FeedMetrics(venue: $0.venue.name, symbols: $1, layout: &layout) }
        self.books = zip(plan.venues, books.symbolsByConfig).map { BookMetrics(venue: $0.venue.name, symbols: $1, layout: &layout) }
        ingestLinks = topology == .staged ? plan.venues.map { IngestLinkMetrics(venue: $0.venue.name, layout: &layout) } : []
        channel = ChannelMetrics(channel: plan.id, layout: &layout)
        retransmission = plan.retransmit != nil ? RetransmissionMetrics(layout: &layout) : nil
        send = topology == .staged ? SendStageMetrics(sender: sender, layout: &layout) : nil
        self.xdp = xdp ? XdpSenderMetrics(sender: sender, layout: &layout) : nil
        var latency = Array(repeating: LatencyHistogramSlots?.none, count: max(1, books.instruments.count))
        for (venue, symbols) in zip(plan.venues, books.symbolsByConfig) {
            let histogram = layout.registerHistogram(
                "tickwire_receive_to_send_seconds",
                help: "Venue message received to its packet handed to the sender (fused) or to the send stage's ring (staged).",
                labels: [MetricLabel("venue", venue.venue.name)])
            for symbol in symbols { latency[symbol.instrument.index] = histogram }
        }
        latencyOfInstrument = latency.compactMap { $0 }  // every instrument belongs to a venue
        block = CounterBlock(layout: layout)
    }
}

/// What the stage threads share with the supervising thread.
private final class StageServices: Sendable {
    let heartbeats: StageHeartbeats
    let metrics: PipelineMetrics
    /// Set by the book (or fused) thread once every venue has had a valid book.
    let booksReady = Atomic<Bool>(false)
    let threadsFinished = Atomic<Int>(0)

    init(stages: [String], metrics: PipelineMetrics) {
        heartbeats = StageHeartbeats(stageNames: stages)
        self.metrics = metrics
    }
}

/// A stage thread's every-250-ms turn (counters to the metrics block), cheap to ask about on
/// every loop: the clock is read on idle polls and every 1024th busy one.
private struct Housekeeping {
    private var next: UInt64 = 0
    private var polls = 0

    @inline(__always)
    mutating func isDue(afterWork work: Int) -> Bool {
        polls &+= 1
        guard work == 0 || polls & 1023 == 0 else { return false }
        let now = ctw_monotonic_ns()
        guard now >= next else { return false }
        next = now &+ 250_000_000
        return true
    }
}

/// Whether every venue (its instruments in `instrumentsByVenue`) has had a valid book update.
private func everyVenueHasABook<Observer>(_ counters: [BookKeeper<Observer>.Counters], _ instrumentsByVenue: [[Int]]) -> Bool {
    instrumentsByVenue.allSatisfy { instruments in instruments.contains { counters[$0].updatesPublished > 0 } }
}

/// The calling thread until every stage thread has finished: READY=1 when the books are
/// valid (then the watchdog), STOPPING=1 when a stop is asked, log reopening on SIGHUP.
private func supervise(_ threads: [StageThread], services: StageServices, external: PipelineServices,
                       shouldStop: @Sendable () -> Bool, log: @Sendable (String) -> Void) {
    var server: MetricsServer?
    if let endpoint = external.metrics {
        do throws(SystemError) {
            server = try MetricsServer(endpoint: endpoint, exporter: MetricsExporter(block: services.metrics.block))
            server?.start()
            log("metrics on http://\(server!.endpoint)/metrics")
        } catch {
            log("WARNING: no metrics endpoint on \(endpoint): \(error) (remedy: another port with --metrics or [metrics] listen)")
        }
    }
    var monitor: HealthMonitor?
    var readySent = false, stoppingSent = false
    while services.threadsFinished.load(ordering: .acquiring) < threads.count {
        if !readySent, services.booksReady.load(ordering: .acquiring) {
            readySent = true
            log("every venue has a valid book: ready")
            if let notifier = external.notifier, notifier.isEnabled {
                do throws(SystemError) { try notifier.ready(status: "publishing") } catch { log("WARNING: sd_notify READY=1: \(error)") }
                if notifier.watchdogInterval != nil {
                    monitor = HealthMonitor(heartbeats: services.heartbeats, notifier: notifier, logger: external.logger)
                    monitor?.start()
                }
            }
        }
        if !stoppingSent, shouldStop() {
            stoppingSent = true
            try? external.notifier?.stopping()
        }
        if HangupSignal.takeRequest() {
            try? external.notifier?.reloading()
            external.reopenLogs?()
            log("SIGHUP: logs reopened")
            try? external.notifier?.ready()
        }
        usleep(20_000)
    }
    // The stages may have ended between two looks (a fast stop, or every venue gone with --once).
    if !stoppingSent { try? external.notifier?.stopping() }
    for thread in threads { thread.join() }
    monitor?.stop()
    server?.stop()
}

/// What a stage thread does each turn of the loop every stage shares.
private struct StageWork: @unchecked Sendable {
    // @unchecked: the closures run on the stage's own thread only; what they capture was
    // handed to it (Handoff) or is Sendable.
    /// One poll; nil when the stage is done.
    var poll: () -> Int?
    /// The 250-ms turn: counters to the metrics block.
    var housekeeping: (CounterWriter) -> Void
    /// After the loop (end of session, last counters).
    var finish: (CounterWriter) -> Void = { _ in }
}

/// Starts a stage thread running the loop every stage shares: beat the heartbeat, poll,
/// housekeeping when due, idle per the strategy; then `finish`, and count itself finished
/// for the supervisor.
private func startStage(_ placement: StagePlacement, heartbeat stage: Int, idle: IdleStrategy, services: StageServices,
                        log: @escaping @Sendable (String) -> Void, _ work: StageWork) -> StageThread {
    StageThread(placement, report: log) {
        var idler = Idler(idle)
        var housekeeping = Housekeeping()
        let heartbeat = services.heartbeats.heartbeat(forStage: stage)
        let writer = services.metrics.writer
        while true {
            heartbeat.beat()
            guard let done = work.poll() else { break }
            if housekeeping.isDue(afterWork: done) { work.housekeeping(writer) }
            idler.idle(afterWork: done)
        }
        work.finish(writer)
        services.threadsFinished.add(1, ordering: .releasing)
    }
}

/// A venue feed as its thread drives it, type-erased over the adapter and sink by closures
/// made in `FeedBuilder.build`, where both types are concrete: the closures run code
/// specialized for them. (A protocol existential over the generic box would run the box's
/// unspecialized generic code, which looks up type metadata on every poll: 13 % of the
/// fused thread's time, measured with perf.)
private final class PolledFeed {
    let poll: () -> Int
    let finished: () -> FeedStop?
    let shutDown: () -> Void
    private let publishing: (FeedMetrics, CounterWriter) -> Bool
    private let summarizing: (FeedStop) -> PipelineSummary.Connection

    @inline(__always)
    init<Adapter: VenueAdapter, Sink: FeedSink>(_ box: FeedBox<Adapter, Sink>) {
        poll = { box.feed.poll() }
        finished = { box.feed.finished }
        shutDown = { box.feed.shutDown() }
        publishing = { metrics, writer in box.publishCounters(feed: metrics, to: writer) }
        summarizing = { stop in box.summary(stop: stop) }
    }

    /// Copies the feed's counters (and its sink's) into the metrics block; true when the
    /// sink is a book keeper with a valid book of this venue.
    func publishCounters(feed: FeedMetrics, to writer: CounterWriter) -> Bool { publishing(feed, writer) }
    func summary(stop: FeedStop) -> PipelineSummary.Connection { summarizing(stop) }
}

/// Owns a venue feed (mutable, shared by the closures of its `PolledFeed`).
private final class FeedBox<Adapter: VenueAdapter, Sink: FeedSink> {
    var feed: VenueFeed<Adapter, Sink, NoFrameTap>
    /// Publishes the sink's own counters (the keeper's in fused, the ring's in staged).
    let publishSink: (Sink, CounterWriter) -> Bool
    init(_ feed: VenueFeed<Adapter, Sink, NoFrameTap>, publishSink: @escaping (Sink, CounterWriter) -> Bool) {
        self.feed = feed
        self.publishSink = publishSink
    }
    func publishCounters(feed metrics: FeedMetrics, to writer: CounterWriter) -> Bool {
        metrics.publish(feed.counters, adapter: feed.adapter.counters, to: writer)
        return publishSink(feed.sink, writer)
    }
    func summary(stop: FeedStop) -> PipelineSummary.Connection {
        PipelineSummary.Connection(venue: feed.config.venue.name, counters: feed.counters,
                                   ingest: (feed.sink as? EventRingSink)?.counters, stop: stop,
                                   receiveTimestamps: feed.receiveTimestampSource)
    }
}

/// Builds a feed for whatever adapter the file names.
private struct FeedBuilder<Sink: FeedSink>: VenueAdapterBuilder {
    let config: VenueConfig
    let symbols: [VenueSymbol]
    let sink: Sink
    let options: FeedOptions
    let publishSink: (Sink, CounterWriter) -> Bool
    func build<Adapter: VenueAdapter>(_ adapter: Adapter) throws -> PolledFeed {
        PolledFeed(FeedBox(try VenueFeed(config: config, adapter: adapter, symbols: symbols, sink: sink, options: options), publishSink: publishSink))
    }
}

private func feedOptions(_ plan: PipelinePlan, log: @escaping @Sendable (String) -> Void) -> FeedOptions {
    FeedOptions(runOnce: plan.runOnce, idleSleepMicroseconds: plan.feedIdleSleepMicroseconds, log: log)
}

// MARK: fused

private func runFused<Sender: UdpSender>(
    channel: ChannelPlan, plan: PipelinePlan, books: FeedBooks, configuration: ChannelConfiguration, sender: Sender,
    clock: WallClock, services external: PipelineServices, shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> PipelineSummary {
    let output = try ChannelOutput(channel: channel, configuration: configuration, books: books, sender: sender, clock: clock)
    let metrics = PipelineMetrics(channel: channel, books: books, topology: .fused, sender: sender.modeDescription, xdp: sender is XdpUdpSender)
    let services = StageServices(stages: ["fused"], metrics: metrics)
    var feeds: [PolledFeed] = []
    for (index, (config, symbols)) in zip(channel.venues, books.symbolsByConfig).enumerated() {
        let keeper = BookKeeper(books: books.books, instruments: books.instruments, observer: output.observer(books: books, metrics: metrics))
        let bookMetrics = metrics.books[index], instruments = symbols.map(\.instrument.index)
        feeds.append(try config.withAdapter(symbols: symbols, FeedBuilder(
            config: config, symbols: symbols, sink: keeper, options: feedOptions(plan, log: log),
            publishSink: { keeper, writer in
                bookMetrics.publish(keeper.counters, to: writer)
                return instruments.contains { keeper.counters[$0].updatesPublished > 0 }
            })))
    }
    let handoff = Handoff((feeds: feeds, stops: [FeedStop?](repeating: nil, count: feeds.count), observer: output.observer(books: books, metrics: metrics),
                           output: output, sender: sender))
    let thread = startStage(StagePlacement(name: "tw-fused", cpu: plan.fusedCPU, realtimePriority: plan.realtimePriority),
                            heartbeat: 0, idle: plan.idle, services: services, log: log, StageWork(
        poll: { [feeds, observer = handoff.value.observer] in
            if shouldStop() { return nil }
            var work = 0, running = 0
            for index in feeds.indices where handoff.value.stops[index] == nil {
                work &+= feeds[index].poll()
                if let finished = feeds[index].finished() { handoff.value.stops[index] = finished } else { running &+= 1 }
            }
            if running == 0 { return nil }
            if work == 0 { observer.idle() }
            return work
        },
        housekeeping: { writer in
            var ready = true
            for index in handoff.value.feeds.indices {
                ready = handoff.value.feeds[index].publishCounters(feed: services.metrics.feeds[index], to: writer) && ready
            }
            services.metrics.channel.publish(handoff.value.output.publisher.counters, to: writer)
            if let retransmission = handoff.value.output.retransmission { services.metrics.retransmission?.publish(retransmission.counters, to: writer) }
            if let xdp = handoff.value.sender as? XdpUdpSender { services.metrics.xdp?.publish(xdp, to: writer) }
            if ready { services.booksReady.store(true, ordering: .releasing) }
        },
        finish: { _ in
            handoff.value.observer.endSession()
            for feed in handoff.value.feeds { feed.shutDown() }
        }))
    supervise([thread], services: services, external: external, shouldStop: shouldStop, log: log)
    output.retransmission?.serveUntilQuiet(quietMilliseconds: 1000, shouldStop: shouldStop)
    var summary = PipelineSummary()
    for (feed, stop) in zip(handoff.value.feeds, handoff.value.stops) { summary.connections.append(feed.summary(stop: stop ?? .requested)) }
    summary.channel = output.publisher.counters
    summary.retransmission = output.retransmission?.counters
    summary.latency = output.latency
    return summary
}

// MARK: staged

/// Which stages are still running, for the ones downstream to know when to drain and stop.
private final class StageProgress: Sendable {
    let ingestsRunning: Atomic<Int>
    let bookFinished = Atomic<Bool>(false)
    init(ingests: Int) { ingestsRunning = Atomic(ingests) }
}

private func runStaged<Sender: UdpSender>(
    channel: ChannelPlan, plan: PipelinePlan, books: FeedBooks, configuration: ChannelConfiguration,
    ringSender: PacketRingSender, send: SendStage<Sender>,
    clock: WallClock, services external: PipelineServices, shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> PipelineSummary {
    let output = try ChannelOutput(channel: channel, configuration: configuration, books: books, sender: ringSender, clock: clock)
    let capacity = max(1, books.instruments.count)
    let metrics = PipelineMetrics(channel: channel, books: books, topology: .staged, sender: send.sender.modeDescription,
                                  xdp: send.sender is XdpUdpSender)
    let services = StageServices(stages: channel.venues.map { "ingest-\($0.venue.name)" } + ["book", "send"], metrics: metrics)
    var links: [(link: IngestLink, instruments: [InstrumentId])] = []
    var feeds: [PolledFeed] = []
    for (index, (config, symbols)) in zip(channel.venues, books.symbolsByConfig).enumerated() {
        let link = try IngestLink(eventCapacity: plan.eventRingCapacity, instrumentCapacity: capacity, policy: plan.memory)
        log("hot memory: \(config.venue.name) event ring \(link.events.memory)")
        links.append((link, symbols.map(\.instrument)))
        let linkMetrics = metrics.ingestLinks[index]
        feeds.append(try config.withAdapter(symbols: symbols, FeedBuilder(
            config: config, symbols: symbols, sink: EventRingSink(link: link, instrumentCapacity: capacity), options: feedOptions(plan, log: log),
            publishSink: { sink, writer in
                linkMetrics.publish(sink.counters, to: writer)
                return false
            })))
    }
    let instrumentsByVenue = books.symbolsByConfig.map { $0.map(\.instrument.index) }
    let keeper = BookKeeper(books: books.books, instruments: books.instruments, observer: output.observer(books: books, metrics: metrics))
    let bookStage = Handoff((stage: BookStage(keeper: keeper, links: links, instrumentCapacity: capacity, tuning: plan.tuning), output: output))
    let sendStage = Handoff(send)
    let progress = StageProgress(ingests: feeds.count)
    let placement = { (name: String, cpu: Int?) in StagePlacement(name: name, cpu: cpu, realtimePriority: plan.realtimePriority) }

    let sendThread = startStage(placement("tw-send", plan.sendCPU), heartbeat: feeds.count + 1, idle: plan.idle, services: services, log: log, StageWork(
        poll: {
            let sent = sendStage.value.poll()
            if sent == 0, progress.bookFinished.load(ordering: .acquiring), !sendStage.value.hasPackets { return nil }
            return sent
        },
        housekeeping: { writer in
            services.metrics.send?.publish(sendStage.value.counters, to: writer)
            if let xdp = sendStage.value.sender as? XdpUdpSender { services.metrics.xdp?.publish(xdp, to: writer) }
        },
        finish: { writer in services.metrics.send?.publish(sendStage.value.counters, to: writer) }))
    let bookThread = startStage(placement("tw-book", plan.bookCPU), heartbeat: feeds.count, idle: plan.idle, services: services, log: log, StageWork(
        poll: {
            let applied = bookStage.value.stage.poll()
            if applied == 0, progress.ingestsRunning.load(ordering: .acquiring) == 0, !bookStage.value.stage.hasEvents { return nil }
            return applied
        },
        housekeeping: { writer in
            let counters = bookStage.value.stage.keeper.counters
            for index in services.metrics.books.indices { services.metrics.books[index].publish(counters, to: writer) }
            services.metrics.channel.publish(bookStage.value.output.publisher.counters, to: writer)
            if let retransmission = bookStage.value.output.retransmission { services.metrics.retransmission?.publish(retransmission.counters, to: writer) }
            if everyVenueHasABook(counters, instrumentsByVenue) { services.booksReady.store(true, ordering: .releasing) }
        },
        finish: { _ in
            bookStage.value.stage.endSession()
            progress.bookFinished.store(true, ordering: .releasing)
        }))
    let stops = feeds.map { _ in Handoff(FeedStop.requested) }
    var threads = [sendThread, bookThread]
    for (index, feed) in feeds.enumerated() {
        let cpu = index < plan.ingestCPUs.count ? plan.ingestCPUs[index] : nil
        let box = Handoff(feed)
        let stop = stops[index]
        threads.append(startStage(placement("tw-ingest-\(index)", cpu), heartbeat: index, idle: plan.idle, services: services, log: log, StageWork(
            poll: {
                if shouldStop() { return nil }
                let work = box.value.poll()
                if let finished = box.value.finished() {
                    stop.value = finished
                    return nil
                }
                return work
            },
            housekeeping: { writer in _ = box.value.publishCounters(feed: services.metrics.feeds[index], to: writer) },
            finish: { writer in
                box.value.shutDown()
                _ = box.value.publishCounters(feed: services.metrics.feeds[index], to: writer)
                progress.ingestsRunning.subtract(1, ordering: .releasing)
            })))
    }
    supervise(threads, services: services, external: external, shouldStop: shouldStop, log: log)
    sendStage.value.release()
    output.retransmission?.serveUntilQuiet(quietMilliseconds: 1000, shouldStop: shouldStop)
    var summary = PipelineSummary()
    for (index, feed) in feeds.enumerated() { summary.connections.append(feed.summary(stop: stops[index].value)) }
    summary.channel = output.publisher.counters
    summary.latency = output.latency
    summary.send = sendStage.value.counters
    summary.retransmission = output.retransmission?.counters
    return summary
}
