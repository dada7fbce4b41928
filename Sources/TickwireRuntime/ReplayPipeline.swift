import CTickwire
import TickwireCore
import TickwireTransport
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// Replay's clock: the receive time of the frame being replayed, so every time stamped into a
/// packet (send times, heartbeats, status change times) comes from the recording.
public struct RecordingClock: PublisherClock {
    @usableFromInline let time: UnsafeMutablePointer<UInt64>
    @inlinable public func now() -> UInt64 { time.pointee }
}

/// How fast frames are fed.
public enum ReplayPacing: Sendable, Equatable {
    /// As fast as the pipeline goes.
    case maximum
    /// This many frames per second.
    case rate(Double)
    /// The recording's own spacing, `speed` times faster.
    case recorded(speed: Double)
}

/// Where replayed packets go.
public enum ReplayOutput {
    /// Counted, not kept.
    case discard
    /// Appended to a file, each packet as a 4-byte little-endian length then its bytes.
    case file(descriptor: Int32)
    /// Sent to the channel's group like `run` does.
    case channel(ConfiguredSender, UdpEndpoint)
}

/// What a replay did.
public struct ReplaySummary: Sendable {
    /// WebSocket frames handed to the adapter.
    public var messages: UInt64 = 0
    /// REST snapshot lines handed to the adapter when it had asked for one.
    public var snapshots: UInt64 = 0
    /// REST snapshot lines the adapter had not asked for (skipped).
    public var unrequestedSnapshots: UInt64 = 0
    /// Frames the adapter refused (malformed, unknown symbol, unexpected, venue error).
    public var parseErrors: UInt64 = 0
    public var firstParseError: String?
    public var resyncs: UInt64 = 0
    /// Text frames the adapter asked to send (subscriptions, pings): nothing to send them to.
    public var textRequestsIgnored: UInt64 = 0
    public var reconnects: UInt64 = 0
    public var bookUpdates: UInt64 = 0
    public var channel = ChannelCounters()
    public var session: UInt64 = 0
    /// Monotonic ns spent in the replay loop.
    public var elapsed: UInt64 = 0
    /// The final books as `watch` lines (when asked for).
    public var finalBooks: [String] = []

    public var framesPerSecond: Double { elapsed > 0 ? Double(messages + snapshots) * 1e9 / Double(elapsed) : 0 }
    public var bookUpdatesPerSecond: Double { elapsed > 0 ? Double(bookUpdates) * 1e9 / Double(elapsed) : 0 }
}

/// Replays one venue connection's recording through the pipeline `run` uses in the fused
/// topology — the venue's adapter (parser and sync rules), the `BookKeeper`, the
/// `PublishingObserver` and `ChannelPublisher` encoding packets — with no socket on the
/// ingest side and every time taken from the recording (`RecordingClock`; the session id is
/// the first frame's receive time), so the packets are byte-identical run after run.
///
/// The adapter's requests are answered from the recording: a REST snapshot request is
/// answered by the next snapshot line (a bare REST body, for Binance `{"lastUpdateId"…`)
/// at its recorded position, so the frames recorded before it reach the adapter first, as
/// they did live; text requests are dropped (counted); a reconnect marks every book invalid
/// and starts the adapter's connection again. Each frame is its own venue batch (the packets
/// are flushed after it), as live at moderate rates. `finalBookLevels` > 0 returns the final
/// books as `watch` lines.
public func replayRecording(
    _ frames: RecordedFrames, config: VenueConfig, output: ReplayOutput, pacing: ReplayPacing,
    finalBookLevels: Int = 0, shouldStop: @escaping () -> Bool = { false }
) throws -> ReplaySummary {
    switch output {
    case .discard:
        return try replay(frames, config: config, sender: DiscardingSender(), destination: nil, pacing: pacing,
                          finalBookLevels: finalBookLevels, shouldStop: shouldStop)
    case .file(let descriptor):
        let file = PacketFile(descriptor: descriptor)
        let summary = try replay(frames, config: config, sender: PacketFileSender(file: file), destination: nil, pacing: pacing,
                                 finalBookLevels: finalBookLevels, shouldStop: shouldStop)
        if let failure = file.close() { throw ReplayError("cannot write the packets: \(failure)") }
        return summary
    case .channel(.standard(let sender), let group):
        return try replay(frames, config: config, sender: sender, destination: group, pacing: pacing,
                          finalBookLevels: finalBookLevels, shouldStop: shouldStop)
    case .channel(.xdp(let sender), let group):
        return try replay(frames, config: config, sender: sender, destination: group, pacing: pacing,
                          finalBookLevels: finalBookLevels, shouldStop: shouldStop)
    }
}

private func replay<Sender: UdpSender>(
    _ frames: RecordedFrames, config: VenueConfig, sender: Sender, destination: UdpEndpoint?, pacing: ReplayPacing,
    finalBookLevels: Int, shouldStop: @escaping () -> Bool
) throws -> ReplaySummary {
    let books = try FeedBooks(config: config)
    let time = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    defer { time.deallocate() }
    time.initialize(to: frames.session)
    let clock = RecordingClock(time: time)
    let configuration = ChannelConfiguration(channel: 1, session: frames.session)
    let capacity = max(1, books.instruments.count)
    let line = PublishLine(sender: sender, destination: destination ?? UdpEndpoint("239.0.0.1:30001")!)
    let publisher = try ChannelPublisher(configuration: configuration, lines: [line], clock: clock,
                                         instruments: books.instruments.definitions, instrumentCapacity: capacity)
    let observer = PublishingObserver(publisher: publisher, snapshots: nil, retransmission: nil, books: books.books, instrumentCapacity: capacity)
    let keeper = BookKeeper(books: books.books, instruments: books.instruments, observer: observer)
    var summary = try config.withAdapter(symbols: books.symbols, ReplayLoopBuilder(
        frames: frames, keeper: keeper, time: time, pacing: pacing, snapshotPrefix: restSnapshotPrefix(config.venue), shouldStop: shouldStop))
    publisher.flush()
    publisher.endSession()
    summary.channel = publisher.counters
    summary.session = frames.session
    if finalBookLevels > 0 {
        var formatter = BookLineFormatter(instrumentCapacity: capacity, levels: finalBookLevels)
        for symbol in books.symbols {
            formatter.define(symbol.instrument, venue: config.venue.name, symbol: symbol.name,
                             priceScale: symbol.priceScale, quantityScale: symbol.quantityScale)
            let text = books.books.withBook(symbol.instrument) { book in
                String(decoding: formatter.updateLine(symbol.instrument, book: book, venueUpdateId: book.updateId, receiveTime: time.pointee),
                       as: UTF8.self)
            }
            summary.finalBooks.append(text.hasSuffix("\n") ? String(text.dropLast()) : text)
        }
    }
    return summary
}

/// How a REST snapshot body recorded among the WebSocket frames begins (nil: the venue's
/// books start from WebSocket snapshots and it never fetches one).
func restSnapshotPrefix(_ venue: Venue) -> StaticString? {
    switch venue {
    case .binanceSpot, .binanceUSDM: #"{"lastUpdateId""#
    default: nil
    }
}

private struct ReplayLoopBuilder<Observer: BookObserver>: VenueAdapterBuilder {
    let frames: RecordedFrames
    let keeper: BookKeeper<Observer>
    let time: UnsafeMutablePointer<UInt64>
    let pacing: ReplayPacing
    let snapshotPrefix: StaticString?
    let shouldStop: () -> Bool

    func build<Adapter: VenueAdapter>(_ adapter: Adapter) throws -> ReplaySummary {
        var loop = ReplayLoop(adapter: adapter, keeper: keeper, time: time, snapshotPrefix: snapshotPrefix)
        loop.run(frames, pacing: pacing, shouldStop: shouldStop)
        return loop.summary
    }
}

/// The replay's inner loop: what `VenueFeed` does per message, fed from memory.
private struct ReplayLoop<Adapter: VenueAdapter, Observer: BookObserver> {
    var adapter: Adapter
    var keeper: BookKeeper<Observer>
    let time: UnsafeMutablePointer<UInt64>
    let snapshotPrefix: StaticString?
    var requests: [VenueRequest] = []
    /// Instruments whose REST snapshot was asked for, in order.
    var pendingSnapshots: [InstrumentId] = []
    var summary = ReplaySummary()
    var lastTick: UInt64 = 0

    init(adapter: Adapter, keeper: BookKeeper<Observer>, time: UnsafeMutablePointer<UInt64>, snapshotPrefix: StaticString?) {
        self.adapter = adapter
        self.keeper = keeper
        self.time = time
        self.snapshotPrefix = snapshotPrefix
        requests.reserveCapacity(64)
        pendingSnapshots.reserveCapacity(64)
    }

    mutating func run(_ frames: RecordedFrames, pacing: ReplayPacing, shouldStop: () -> Bool) {
        guard let first = frames.lines.first else { return }
        connect(at: first.receiveTime)
        let started = ctw_monotonic_ns()
        frames.bytes.withUnsafeBufferPointer { bytes in
            frames.lines.withUnsafeBufferPointer { lines in
                feedAll(bytes, lines, pacing: pacing, first: first.receiveTime, started: started, shouldStop: shouldStop)
            }
        }
        summary.elapsed = ctw_monotonic_ns() &- started
        summary.bookUpdates = keeper.counters.reduce(0) { $0 + $1.updatesPublished }
    }

    /// The loop itself, kept out of line so profilers (scripts/bench-replay.sh's callgrind
    /// run) can count exactly its instructions.
    @inline(never)
    mutating func feedAll(_ bytes: UnsafeBufferPointer<UInt8>, _ lines: UnsafeBufferPointer<RecordedFrames.Line>, pacing: ReplayPacing,
                          first: UInt64, started: UInt64, shouldStop: () -> Bool) {
        for index in lines.indices {
            let line = lines[index]
            if _slowPath(index & 1023 == 0) && shouldStop() { break }
            pace(pacing, index: index, line: line, first: first, started: started)
            time.pointee = line.receiveTime
            feed(ByteView(start: bytes.baseAddress! + line.start, count: line.count), receiveTime: line.receiveTime)
        }
    }

    @inline(__always)
    mutating func feed(_ frame: ByteView, receiveTime: UInt64) {
        if _slowPath(isSnapshotBody(frame)) {
            guard !pendingSnapshots.isEmpty else {
                summary.unrequestedSnapshots &+= 1
                return
            }
            let instrument = pendingSnapshots.removeFirst()
            summary.snapshots &+= 1
            do throws(VenueError) {
                try adapter.handleSnapshot(instrument, body: frame, receiveTime: receiveTime, sink: &keeper, requests: &requests)
            } catch {
                count(error)
            }
        } else {
            summary.messages &+= 1
            do throws(VenueError) {
                try adapter.handle(message: frame, receiveTime: receiveTime, sink: &keeper, requests: &requests)
            } catch {
                count(error)
            }
        }
        if _slowPath(keeper.hasPendingResyncs) {
            while let instrument = keeper.nextResync() {
                summary.resyncs &+= 1
                adapter.resync(instrument, requests: &requests)
            }
        }
        if _slowPath(!requests.isEmpty) { performRequests(at: receiveTime) }
        keeper.batchEnded(readTime: receiveTime)
        if _slowPath(receiveTime &- lastTick >= 1_000_000_000) {
            lastTick = receiveTime
            adapter.tick(now: receiveTime, requests: &requests)
            if !requests.isEmpty { performRequests(at: receiveTime) }
        }
    }

    @inline(__always)
    func isSnapshotBody(_ frame: ByteView) -> Bool {
        guard let prefix = snapshotPrefix, frame.count >= prefix.utf8CodeUnitCount else { return false }
        return memcmp(frame.start, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
    }

    mutating func connect(at receiveTime: UInt64) {
        lastTick = receiveTime
        pendingSnapshots.removeAll(keepingCapacity: true)
        adapter.connected(receiveTime: receiveTime, sink: &keeper, requests: &requests)
        performRequests(at: receiveTime)
        keeper.batchEnded(readTime: receiveTime)
    }

    mutating func performRequests(at receiveTime: UInt64) {
        var reconnect = false
        for request in requests {
            switch request {
            case .sendText: summary.textRequestsIgnored += 1
            case .fetchSnapshot(let instrument, _): pendingSnapshots.append(instrument)
            case .reconnect: reconnect = true
            }
        }
        requests.removeAll(keepingCapacity: true)
        guard reconnect else { return }
        summary.reconnects += 1
        for index in keeper.counters.indices {  // the connection's instruments are 0..<count
            keeper.bookInvalid(InstrumentId(UInt16(index)), reason: .disconnected, receiveTime: receiveTime)
        }
        connect(at: receiveTime)
    }

    mutating func count(_ error: VenueError) {
        summary.parseErrors += 1
        if summary.firstParseError == nil { summary.firstParseError = "\(error)" }
    }

    /// Waits until this frame is due.
    @inline(__always)
    func pace(_ pacing: ReplayPacing, index: Int, line: RecordedFrames.Line, first: UInt64, started: UInt64) {
        let due: UInt64
        switch pacing {
        case .maximum: return
        case .rate(let rate): due = started &+ UInt64(Double(index) * 1e9 / rate)
        case .recorded(let speed): due = started &+ UInt64(Double(line.receiveTime &- first) / speed)
        }
        while true {
            let now = ctw_monotonic_ns()
            guard now < due else { return }
            if due - now > 200_000 { usleep(UInt32(min((due - now) / 1000 - 100, 100_000))) }
        }
    }
}

/// Counts nothing, sends nothing (`replay` without --out or --channel).
struct DiscardingSender: UdpSender {
    @inline(__always)
    mutating func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport {
        var bytes = 0
        for packet in packets { bytes &+= packet.bytes.count }
        return SendReport(packets: packets.count, bytes: bytes)
    }
    var modeDescription: String { "discard" }
}

/// Replayed packets, length-prefixed, buffered in 4 MiB and written with write(2).
final class PacketFile {
    let descriptor: Int32
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 64)
    private var used = 0
    private(set) var failure: String?

    init(descriptor: Int32) { self.descriptor = descriptor }
    deinit { buffer.deallocate() }

    @inline(__always)
    func append(_ packet: UnsafeRawBufferPointer) {
        if used + 4 + packet.count > buffer.count { drain() }
        buffer.storeBytes(of: UInt32(packet.count).littleEndian, toByteOffset: used, as: UInt32.self)
        if let base = packet.baseAddress { memcpy(buffer.baseAddress! + used + 4, base, packet.count) }
        used += 4 + packet.count
    }

    func drain() {
        var offset = 0
        while offset < used && failure == nil {
            let written = write(descriptor, buffer.baseAddress! + offset, used - offset)
            if written < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
            } else {
                offset += written
            }
        }
        used = 0
    }

    /// Writes the rest; the first write failure, if any.
    func close() -> String? {
        drain()
        return failure
    }
}

struct PacketFileSender: UdpSender {
    let file: PacketFile
    @inline(__always)
    mutating func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport {
        var bytes = 0
        for packet in packets {
            file.append(packet.bytes)
            bytes &+= packet.bytes.count
        }
        return SendReport(packets: packets.count, bytes: bytes)
    }
    var modeDescription: String { "file" }
}
