import CTickwire
import TickwireCore
import TickwireTransport
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// What a feed counts about its connection (the adapter and the book keeper keep the
/// per-symbol counters).
public struct FeedCounters: Sendable, Equatable {
    /// Text messages handed to the adapter.
    public var messages: UInt64 = 0
    /// Messages the adapter refused, by kind.
    public var malformed: UInt64 = 0
    public var unknownSymbol: UInt64 = 0
    public var unexpected: UInt64 = 0
    public var rejected: UInt64 = 0
    /// Binary frames (no venue here sends them): ignored.
    public var binaryMessages: UInt64 = 0
    /// Successful connects (the first one included).
    public var connects: UInt64 = 0
    public var connectFailures: UInt64 = 0
    /// Connections that ended (server close, error, planned reconnect) and were re-established.
    public var reconnects: UInt64 = 0
    public var disconnects: UInt64 = 0
    /// Keeper-detected failures handed to `adapter.resync`.
    public var resyncs: UInt64 = 0
    /// Messages over `max_message_bytes` (close 1009, reconnect).
    public var oversize: UInt64 = 0
    public var snapshotsRequested: UInt64 = 0
    public var snapshotsDelivered: UInt64 = 0
    /// Snapshot results of an earlier connection, dropped.
    public var snapshotsStale: UInt64 = 0
    public var snapshotRateLimits: UInt64 = 0
    public var snapshotRetries: UInt64 = 0
    /// Requests the adapter queued that could not be sent (the connection failed while sending).
    public var sendFailures: UInt64 = 0
    public var pongs: UInt64 = 0
    /// Connections renewed because nothing arrived for `idle_timeout_ms`.
    public var idleTimeouts: UInt64 = 0

    public init() {}

    public var parseErrors: UInt64 { malformed + unknownSymbol + unexpected + rejected }
}

public struct FeedOptions: Sendable {
    /// Stop when the connection ends instead of reconnecting (`watch --once`).
    public var runOnce = false
    /// Microseconds to sleep after an empty poll; 0 = pure busy polling (the feeder's mode).
    public var idleSleepMicroseconds: UInt32 = 0
    /// Told about connects, connect failures and lost connections (never per message).
    public var log: (@Sendable (String) -> Void)?
    /// How long one REST snapshot request may take before it counts as failed and is retried.
    public var snapshotTimeout: Duration
    public init(runOnce: Bool = false, idleSleepMicroseconds: UInt32 = 0, log: (@Sendable (String) -> Void)? = nil,
                snapshotTimeout: Duration = .seconds(10)) {
        self.runOnce = runOnce
        self.idleSleepMicroseconds = idleSleepMicroseconds
        self.log = log
        self.snapshotTimeout = snapshotTimeout
    }
}

/// Where a venue feed sends its adapter's events and learns which books need a resync.
public protocol FeedSink: VenueEventSink {
    /// Books that failed a check and wait for `VenueAdapter.resync`.
    var hasPendingResyncs: Bool { get }
    mutating func nextResync() -> InstrumentId?
    /// Every message of one read from the connection has been handled; `readTime`
    /// (CLOCK_REALTIME ns) is when that read returned.
    mutating func batchEnded(readTime: UInt64)
}

extension FeedSink {
    /// The end of a batch that no read brought (a disconnect, a snapshot): it ends now.
    @inlinable public mutating func batchEnded() { batchEnded(readTime: ctw_realtime_ns()) }
}

/// The fused case: the keeper judges the books on the feed's own thread.
extension BookKeeper: FeedSink {
    @inlinable public var hasPendingResyncs: Bool { !pendingResyncs.isEmpty }
    @inlinable public mutating func nextResync() -> InstrumentId? { popPendingResync() }
    @inlinable public mutating func batchEnded(readTime: UInt64) { observer.batchEnded(readTime: readTime) }
}

/// Why `run` returned.
public enum FeedStop: Equatable, Sendable {
    /// `runOnce` and the connection ended; `code` is the close code when the server sent one.
    case connectionEnded(code: UInt16?, reason: String)
    /// `shouldStop` said so.
    case requested
}

/// One venue connection: a WebSocket client, the venue's adapter and the sink its events go
/// to (the book keeper, or the ring to the book stage), polled by the thread that owns it. No async, no locks, no
/// allocation per message: the payload is a view into the client's receive buffer, the
/// adapter parses it in place into the books, the observer is called synchronously.
///
/// Life cycle of a connection: connect (blocking, with timeout) → `adapter.connected` (every
/// book invalid, subscriptions queued) → requests performed → poll loop. After each message
/// the sink's pending resyncs go to `adapter.resync`, and queued requests are performed
/// (text frames sent at once, REST snapshots handed to the `SnapshotFetcher` helper thread,
/// reconnects done after the message). `adapter.tick` runs at least once a second.
/// When the connection ends every book is reported invalid (`disconnected`) at once; then,
/// unless `runOnce`, the feed waits a jittered exponential backoff delay (reset after a
/// connection that stayed up for a minute) and connects again.
public struct VenueFeed<Adapter: VenueAdapter, Sink: FeedSink, Tap: FrameTap> {
    public let config: VenueConfig
    public private(set) var adapter: Adapter
    /// Where the adapter's events go: the book keeper itself (fused), or the ring to the
    /// book stage (staged).
    public private(set) var sink: Sink
    /// Sees every raw frame (WebSocket text and REST snapshot bodies): `NoFrameTap` (nothing,
    /// specialized away) unless recording.
    private var tap: Tap
    public let client: WebSocketClient
    public private(set) var counters = FeedCounters()
    public let options: FeedOptions
    /// The last error that ended or prevented a connection (for status lines).
    public private(set) var lastError: String?

    private let instruments: [InstrumentId]
    private let fetcher: SnapshotFetcher?
    /// The fetcher's result ring end, polled every step without touching the fetcher object.
    private let snapshotResults: SpscRing<UnsafeMutableRawPointer>.Consumer?
    private var snapshotRequestsWaiting = false
    private var backoff: Backoff
    private var requests: [VenueRequest] = []
    private var epoch = 0
    private var connectedAtMonotonic: UInt64 = 0
    private var lastTick: UInt64 = 0
    private var idlePolls = 0
    /// Activity seen at the last housekeeping check (messages + pings + pongs) and when it changed.
    private var activitySeen: UInt64 = 0
    private var lastActivity: UInt64 = 0
    private let idleTimeout: UInt64
    private var reconnectRequested: String?
    private var closedCode: UInt16?
    private var connectionEnded = false
    /// Monotonic time before which no connect is attempted (the backoff delay).
    private var nextConnectAt: UInt64 = 0
    /// Set once a `runOnce` feed has seen its connection end: `poll` does nothing more.
    public private(set) var finished: FeedStop?

    /// A feed whose events go straight into its own book keeper (`watch`, the fused topology).
    public init<Observer: BookObserver>(
        config: VenueConfig, adapter: Adapter, books: FeedBooks, observer: Observer, options: FeedOptions = FeedOptions()
    ) throws(FeedSetupError) where Sink == BookKeeper<Observer>, Tap == NoFrameTap {
        try self.init(config: config, adapter: adapter, symbols: books.symbols,
                      sink: BookKeeper(books: books.books, instruments: books.instruments, observer: observer), options: options)
    }

    /// - Parameter symbols: the connection's symbols (their instruments are the ones `sink` serves).
    public init(config: VenueConfig, adapter: Adapter, symbols: [VenueSymbol], sink: Sink, options: FeedOptions = FeedOptions()) throws(FeedSetupError)
    where Tap == NoFrameTap {
        try self.init(config: config, adapter: adapter, symbols: symbols, sink: sink, tap: NoFrameTap(), options: options)
    }

    /// A feed whose raw frames also go to `tap` (`tickwire record`).
    public init(config: VenueConfig, adapter: Adapter, symbols: [VenueSymbol], sink: Sink, tap: Tap, options: FeedOptions = FeedOptions()) throws(FeedSetupError) {
        self.config = config
        self.tap = tap
        self.adapter = adapter
        self.options = options
        self.sink = sink
        instruments = symbols.map(\.instrument)
        do {
            client = try WebSocketClient(url: config.connectionURL, options: config.webSocketOptions)
        } catch {
            throw FeedSetupError("\(config.file):ws_url: \(error)")
        }
        fetcher = config.restURL != nil ? try SnapshotFetcher(extraCAFile: config.tlsCAFile, timeout: options.snapshotTimeout) : nil
        snapshotResults = fetcher?.resultConsumer
        fetcher?.start()
        backoff = config.backoff
        idleTimeout = UInt64(config.idleTimeoutMilliseconds) * 1_000_000
        requests.reserveCapacity(64)
    }

    /// Stops the snapshot helper; call once the feed is done.
    public func shutDown() {
        fetcher?.stop()
        client.disconnect()
    }

    public var isConnected: Bool { client.state == .open }

    /// Where receive times come from ("kernel-software", "userspace-realtime"…), once a read happened.
    public var receiveTimestampSource: String? { client.receiveTimestampSource?.rawValue }

    /// Runs until `runOnce` sees the connection end, or `shouldStop` returns true (checked
    /// between polls). `idle` runs after every poll that delivered nothing (the table view
    /// redraws from there).
    public mutating func run(shouldStop: () -> Bool = { false }, idle: (inout Self) -> Void = { _ in }) -> FeedStop {
        while true {
            if shouldStop() { return .requested }
            if let finished { return finished }
            if poll() == 0 {
                idle(&self)
                if options.idleSleepMicroseconds > 0 { usleep(options.idleSleepMicroseconds) }
            }
        }
    }

    /// One turn of the feed, never waiting: a poll of the open connection, or (when it is
    /// down and the backoff delay has passed) one connect attempt. Returns the events
    /// delivered. Several feeds can share a thread by taking turns (the fused topology); a
    /// connect attempt itself blocks up to the connect timeout.
    @inline(__always)
    public mutating func poll() -> Int {
        if _fastPath(client.state == .open) { return step() }
        if finished != nil { return 0 }
        if connectionEnded && options.runOnce {
            finished = .connectionEnded(code: closedCode, reason: lastError ?? "closed")
            return 0
        }
        if ctw_monotonic_ns() >= nextConnectAt, !establish(), options.runOnce {
            finished = .connectionEnded(code: nil, reason: lastError ?? "connect failed")
        }
        return 0
    }

    // MARK: connection

    /// One connect attempt; a failure sets the next attempt's time by the backoff.
    private mutating func establish() -> Bool {
        do throws(TransportError) {
            try client.connect()
        } catch {
            scheduleReconnect()
            counters.connectFailures += 1
            lastError = "connect to \(config.connectionURL): \(error)"
            connectionEnded = true
            options.log?("\(config.venue.name): \(lastError!)")
            return false
        }
        if counters.connects > 0 { counters.reconnects += 1 }
        counters.connects += 1
        options.log?("\(config.venue.name): connected to \(config.connectionURL)")
        connectionEnded = false
        closedCode = nil
        reconnectRequested = nil
        epoch += 1
        fetcher?.beginEpoch(epoch)
        let now = ctw_realtime_ns()
        connectedAtMonotonic = ctw_monotonic_ns()
        lastTick = connectedAtMonotonic
        lastActivity = connectedAtMonotonic
        activitySeen = activity
        requests.removeAll(keepingCapacity: true)
        adapter.connected(receiveTime: now, sink: &sink, requests: &requests)
        performRequests()
        return client.state == .open
    }

    /// Ends the connection: every book invalid now, the backoff told how long it lasted.
    private mutating func lost(_ why: String, code: UInt16? = nil) {
        client.disconnect()
        counters.disconnects += 1
        lastError = why
        closedCode = code
        connectionEnded = true
        options.log?("\(config.venue.name): \(why)\(options.runOnce ? "" : "; reconnecting")")
        let uptime = ctw_monotonic_ns() &- connectedAtMonotonic
        backoff.connectionEnded(after: .nanoseconds(Int64(clamping: uptime)))
        scheduleReconnect()
        let now = ctw_realtime_ns()
        for instrument in instruments {
            sink.bookInvalid(instrument, reason: .disconnected, receiveTime: now)
        }
        sink.batchEnded()
        epoch += 1
        fetcher?.beginEpoch(epoch)  // snapshots under way are for the old connection
        snapshotRequestsWaiting = false
    }

    private mutating func scheduleReconnect() {
        let (seconds, attoseconds) = backoff.nextDelay().components
        let delay = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
        nextConnectAt = ctw_monotonic_ns() &+ delay
    }

    // MARK: the loop body

    /// One poll of the socket plus housekeeping; returns the events delivered.
    @inline(__always)
    public mutating func step() -> Int {
        let client = self.client
        var delivered = 0
        do throws(TransportError) {
            delivered = try client.poll { event in
                switch event {
                case .text(let payload, let stamp):
                    self.handle(payload, receiveTime: stamp.nanoseconds)
                case .binary:
                    self.counters.binaryMessages &+= 1
                case .pong:
                    self.counters.pongs &+= 1
                case .closed(let code, let reason):
                    self.closedCode = code
                    self.lastError = "server closed the connection (\(code)\(reason.isEmpty ? "" : " \(String(decoding: reason, as: UTF8.self))"))"
                }
            }
        } catch {
            if case .oversize = error { counters.oversize += 1 }
            lost("connection lost: \(error)")
            return 0
        }
        if delivered > 0 { sink.batchEnded(readTime: client.lastReadTime) }
        if _slowPath(sink.hasPendingResyncs) { afterMessage() }
        if _slowPath(client.state != .open) {
            lost(lastError ?? "connection closed", code: closedCode)
            return delivered
        }
        if let snapshotResults, let pointer = snapshotResults.tryPop() {
            deliver(SnapshotFetcher.job(from: pointer))
            sink.batchEnded()
        }
        if _slowPath(snapshotRequestsWaiting) { snapshotRequestsWaiting = fetcher?.flushOverflow() ?? false }
        if _slowPath(reconnectRequested != nil) {
            let why = reconnectRequested!
            reconnectRequested = nil
            _ = try? client.close()
            lost("reconnect requested by the adapter: \(why)")
            return delivered
        }
        // Housekeeping: the clock is read once per empty poll, or every 256 busy ones.
        idlePolls &+= 1
        if delivered == 0 || idlePolls & 255 == 0 {
            let now = ctw_monotonic_ns()
            if now &- lastTick >= 250_000_000 {
                lastTick = now
                let seen = activity
                if seen != activitySeen {
                    activitySeen = seen
                    lastActivity = now
                } else if _slowPath(now &- lastActivity >= idleTimeout) {
                    counters.idleTimeouts += 1
                    lost("no message, ping or pong for \(config.idleTimeoutMilliseconds) ms (idle_timeout_ms)")
                    return delivered
                }
                adapter.tick(now: ctw_realtime_ns(), requests: &requests)
                if !requests.isEmpty { performRequests() }
            }
        }
        return delivered
    }

    /// Everything that proves the connection is alive.
    private var activity: UInt64 {
        counters.messages &+ counters.binaryMessages &+ counters.pongs &+ UInt64(client.counters.pingsAnswered)
    }

    @inline(__always)
    private mutating func handle(_ payload: UnsafeRawBufferPointer, receiveTime: UInt64) {
        counters.messages &+= 1
        tap.frameReceived(payload, receiveTime: receiveTime)
        guard let base = payload.baseAddress else { return }
        let view = ByteView(start: base.assumingMemoryBound(to: UInt8.self), count: payload.count)
        do throws(VenueError) {
            try adapter.handle(message: view, receiveTime: receiveTime, sink: &sink, requests: &requests)
        } catch {
            count(error)
        }
        afterMessage()
    }

    @inline(__always)
    private mutating func afterMessage() {
        if _slowPath(sink.hasPendingResyncs) { takeResyncs() }
        if _slowPath(!requests.isEmpty) { performRequests() }
    }

    private mutating func takeResyncs() {
        while let instrument = sink.nextResync() {
            counters.resyncs += 1
            adapter.resync(instrument, requests: &requests)
        }
    }

    private mutating func count(_ error: VenueError) {
        switch error {
        case .malformed: counters.malformed += 1
        case .unknownSymbol: counters.unknownSymbol += 1
        case .unexpectedMessage: counters.unexpected += 1
        case .venueRejected: counters.rejected += 1
        }
    }

    private mutating func deliver(_ job: SnapshotJob) {
        counters.snapshotRateLimits += UInt64(job.rateLimited)
        counters.snapshotRetries += UInt64(job.retries)
        guard job.epoch == epoch, case .body(_, let body) = job.outcome else {
            counters.snapshotsStale += 1
            return
        }
        counters.snapshotsDelivered += 1
        let now = ctw_realtime_ns()
        body.withUnsafeBufferPointer { bytes in
            tap.frameReceived(UnsafeRawBufferPointer(bytes), receiveTime: now)
            let view = ByteView(start: bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: bytes.count)
            do throws(VenueError) {
                try adapter.handleSnapshot(job.instrument, body: view, receiveTime: now, sink: &sink, requests: &requests)
            } catch {
                count(error)
            }
        }
        afterMessage()
    }

    private mutating func performRequests() {
        var index = 0
        while index < requests.count {
            switch requests[index] {
            case .sendText(let text):
                guard client.state == .open else { counters.sendFailures += 1; break }
                var text = text
                let client = self.client
                let result = text.withUTF8 { bytes in
                    Result { () throws(TransportError) in try client.sendText(UnsafeRawBufferPointer(bytes)) }
                }
                if case .failure(let error) = result {
                    counters.sendFailures += 1
                    lastError = "send failed: \(error)"
                }
            case .fetchSnapshot(let instrument, let url):
                counters.snapshotsRequested += 1
                snapshotRequestsWaiting = fetcher?.submit(instrument: instrument, url: url) ?? false
            case .reconnect(let reason):
                reconnectRequested = reason
            }
            index += 1
        }
        requests.removeAll(keepingCapacity: true)
    }
}
