import CTickwire
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

    /// 1 when some connection never came up and was not stopped by request.
    public var exitStatus: Int32 {
        for connection in connections {
            if case .connectionEnded(let code, _) = connection.stop, connection.counters.connects == 0, code == nil { return 1 }
        }
        return 0
    }
}

/// Builds and runs one channel's pipeline in the chosen topology until `shouldStop` says so
/// or (with `runOnce`) every venue connection has ended; then drains the rings, flushes,
/// sends end of session, and returns. `log` gets start-up and shutdown lines (never per message).
public func runPipeline<Sender: UdpSender>(
    channel: ChannelPlan, plan: PipelinePlan, sender: Sender,
    shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> PipelineSummary {
    let books = try FeedBooks(configs: channel.venues)
    let clock = WallClock()
    let session = clock.now()
    var configuration = ChannelConfiguration(channel: channel.id, session: session)
    configuration.historyMemory = plan.memory
    configuration.maxPacketSize = channel.maxPacketSize
    var summary: PipelineSummary
    switch plan.topology {
    case .fused:
        summary = try runFused(channel: channel, plan: plan, books: books, configuration: configuration, sender: sender,
                               clock: clock, shouldStop: shouldStop, log: log)
    case .staged:
        let ring = try PacketRing(capacity: plan.packetRingCapacity, slotSize: configuration.maxPacketSize, policy: plan.memory)
        summary = try runStaged(channel: channel, plan: plan, books: books, configuration: configuration,
                                ringSender: ring.sender(describing: sender.modeDescription),
                                send: SendStage(ring: ring, sender: sender, packetsPerSend: configuration.packetsPerSend),
                                clock: clock, shouldStop: shouldStop, log: log)
        summary.packetsRefusedByRing = ring.packetsRefused
    }
    summary.session = session
    return summary
}

/// A channel's publisher, snapshot loop and retransmission service over `sender`.
private struct ChannelOutput<Sender: UdpSender> {
    let publisher: ChannelPublisher<Sender, WallClock>
    let snapshots: SnapshotCycler<Sender, WallClock>?
    let retransmission: RetransmissionService<WallClock>?

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

    func observer(books: FeedBooks) -> PublishingObserver<Sender, WallClock> {
        PublishingObserver(publisher: publisher, snapshots: snapshots, retransmission: retransmission,
                           books: books.books, instrumentCapacity: max(1, books.instruments.count))
    }
}

/// Moves a value that is not Sendable to the one thread that will use it.
private final class Handoff<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A venue feed as its thread drives it (type-erased over the adapter: one dynamic call per poll).
private protocol PolledFeed: AnyObject {
    func poll() -> Int
    var finished: FeedStop? { get }
    func shutDown()
    func summary(stop: FeedStop) -> PipelineSummary.Connection
}

private final class FeedBox<Adapter: VenueAdapter, Sink: FeedSink>: PolledFeed {
    var feed: VenueFeed<Adapter, Sink>
    init(_ feed: VenueFeed<Adapter, Sink>) { self.feed = feed }
    func poll() -> Int { feed.poll() }
    var finished: FeedStop? { feed.finished }
    func shutDown() { feed.shutDown() }
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
    func build<Adapter: VenueAdapter>(_ adapter: Adapter) throws -> any PolledFeed {
        FeedBox(try VenueFeed(config: config, adapter: adapter, symbols: symbols, sink: sink, options: options))
    }
}

private func feedOptions(_ plan: PipelinePlan, log: @escaping @Sendable (String) -> Void) -> FeedOptions {
    FeedOptions(runOnce: plan.runOnce, idleSleepMicroseconds: plan.feedIdleSleepMicroseconds, log: log)
}

// MARK: fused

private func runFused<Sender: UdpSender>(
    channel: ChannelPlan, plan: PipelinePlan, books: FeedBooks, configuration: ChannelConfiguration, sender: Sender,
    clock: WallClock, shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> PipelineSummary {
    let output = try ChannelOutput(channel: channel, configuration: configuration, books: books, sender: sender, clock: clock)
    var feeds: [any PolledFeed] = []
    for (config, symbols) in zip(channel.venues, books.symbolsByConfig) {
        let keeper = BookKeeper(books: books.books, instruments: books.instruments, observer: output.observer(books: books))
        feeds.append(try config.withAdapter(symbols: symbols, FeedBuilder(config: config, symbols: symbols, sink: keeper,
                                                                           options: feedOptions(plan, log: log))))
    }
    let handoff = Handoff((feeds: feeds, stops: [FeedStop?](repeating: nil, count: feeds.count), observer: output.observer(books: books)))
    let thread = StageThread(StagePlacement(name: "tw-fused", cpu: plan.fusedCPU, realtimePriority: plan.realtimePriority),
                             report: log) {
        var idler = Idler(plan.idle)
        let feeds = handoff.value.feeds
        let observer = handoff.value.observer
        var stops = handoff.value.stops
        while true {
            if shouldStop() { break }
            var work = 0
            var running = 0
            for index in feeds.indices where stops[index] == nil {
                work &+= feeds[index].poll()
                if let finished = feeds[index].finished { stops[index] = finished } else { running &+= 1 }
            }
            if running == 0 { break }
            if work == 0 { observer.idle() }
            idler.idle(afterWork: work)
        }
        observer.endSession()
        for feed in feeds { feed.shutDown() }
        handoff.value.stops = stops
    }
    thread.join()
    output.retransmission?.serveUntilQuiet(quietMilliseconds: 1000, shouldStop: shouldStop)
    var summary = PipelineSummary()
    for (feed, stop) in zip(handoff.value.feeds, handoff.value.stops) { summary.connections.append(feed.summary(stop: stop ?? .requested)) }
    summary.channel = output.publisher.counters
    summary.retransmission = output.retransmission?.counters
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
    clock: WallClock, shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void
) throws -> PipelineSummary {
    let output = try ChannelOutput(channel: channel, configuration: configuration, books: books, sender: ringSender, clock: clock)
    let capacity = max(1, books.instruments.count)
    var links: [(link: IngestLink, instruments: [InstrumentId])] = []
    var feeds: [any PolledFeed] = []
    for (config, symbols) in zip(channel.venues, books.symbolsByConfig) {
        let link = try IngestLink(eventCapacity: plan.eventRingCapacity, instrumentCapacity: capacity, policy: plan.memory)
        links.append((link, symbols.map(\.instrument)))
        feeds.append(try config.withAdapter(symbols: symbols, FeedBuilder(config: config, symbols: symbols,
                                                                           sink: EventRingSink(link: link, instrumentCapacity: capacity),
                                                                           options: feedOptions(plan, log: log))))
    }
    let keeper = BookKeeper(books: books.books, instruments: books.instruments, observer: output.observer(books: books))
    let bookStage = Handoff(BookStage(keeper: keeper, links: links, instrumentCapacity: capacity, tuning: plan.tuning))
    let sendStage = Handoff(send)
    let progress = StageProgress(ingests: feeds.count)
    let placement = { (name: String, cpu: Int?) in StagePlacement(name: name, cpu: cpu, realtimePriority: plan.realtimePriority) }

    let sendThread = StageThread(placement("tw-send", plan.sendCPU), report: log) {
        var idler = Idler(plan.idle)
        while true {
            let sent = sendStage.value.poll()
            if sent == 0, progress.bookFinished.load(ordering: .acquiring), !sendStage.value.hasPackets { break }
            idler.idle(afterWork: sent)
        }
    }
    let bookThread = StageThread(placement("tw-book", plan.bookCPU), report: log) {
        var idler = Idler(plan.idle)
        while true {
            let applied = bookStage.value.poll()
            if applied == 0, progress.ingestsRunning.load(ordering: .acquiring) == 0, !bookStage.value.hasEvents { break }
            idler.idle(afterWork: applied)
        }
        bookStage.value.endSession()
        progress.bookFinished.store(true, ordering: .releasing)
    }
    let stops = feeds.map { _ in Handoff(FeedStop.requested) }
    var ingestThreads: [StageThread] = []
    for (index, feed) in feeds.enumerated() {
        let cpu = index < plan.ingestCPUs.count ? plan.ingestCPUs[index] : nil
        let box = Handoff(feed)
        let stop = stops[index]
        ingestThreads.append(StageThread(placement("tw-ingest-\(index)", cpu), report: log) {
            var idler = Idler(plan.idle)
            let feed = box.value
            while !shouldStop() {
                let work = feed.poll()
                if let finished = feed.finished {
                    stop.value = finished
                    break
                }
                idler.idle(afterWork: work)
            }
            feed.shutDown()
            progress.ingestsRunning.subtract(1, ordering: .releasing)
        })
    }
    for thread in ingestThreads { thread.join() }
    bookThread.join()
    sendThread.join()
    sendStage.value.release()
    output.retransmission?.serveUntilQuiet(quietMilliseconds: 1000, shouldStop: shouldStop)
    var summary = PipelineSummary()
    for (index, feed) in feeds.enumerated() { summary.connections.append(feed.summary(stop: stops[index].value)) }
    summary.channel = output.publisher.counters
    summary.send = sendStage.value.counters
    summary.retransmission = output.retransmission?.counters
    return summary
}
