import CTickwire
import TickwireCore
import TickwireSystem
import TickwireVenues

/// One normalized venue event on its way from an ingest thread to the book stage (the
/// `VenueEventSink` calls, as values).
public enum IngestEvent: BitwiseCopyable {
    case snapshotBegins(InstrumentId, receiveTime: UInt64)
    case delta(BookDelta)
    case updateComplete(InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64)
    case trade(Trade)
    case quote(BestBidOffer)
    case bookInvalid(InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64)
    /// The end of one read from the venue connection (returned at `readTime`): the book
    /// stage flushes its packets.
    case batchEnded(readTime: UInt64)
}

/// The two rings between one venue connection's ingest thread and the book stage: events
/// forward, resync requests (books the keeper found wrong) back.
public final class IngestLink: @unchecked Sendable {
    // @unchecked: the ring ends are handed to one thread each (see SpscRing).
    public let events: SpscRing<IngestEvent>
    public let resyncs: SpscRing<InstrumentId>

    public init(eventCapacity: Int, instrumentCapacity: Int, policy: HotMemoryPolicy) throws(SystemError) {
        events = try SpscRing(minimumCapacity: eventCapacity, policy: policy)
        resyncs = try SpscRing(minimumCapacity: max(16, instrumentCapacity * 2), policy: .standard)
    }
}

/// What the ingest side of a link counts.
public struct IngestLinkCounters: Sendable, Equatable {
    /// Events the full ring refused or that followed a refused one for the same book.
    public var droppedEvents: UInt64 = 0
    /// Times a book was marked invalid because the ring was full (each is resynced).
    public var overflowedBooks: UInt64 = 0
    /// The most events seen waiting in the ring (sampled at the end of each read).
    public var highWater = 0
    public init() {}
}

/// The ingest thread's sink in the staged topology: pushes each event into the ring to the
/// book stage. A full ring is never a silent hole: the event is dropped, counted, its book
/// is marked invalid (`ringOverflow`) as soon as the ring has room for that, and then
/// resynced the venue's way; until the invalidation is through, that book's further events
/// are dropped too, so the book stage never completes an update with a piece missing.
/// Other books carry on.
public struct EventRingSink: FeedSink {
    private let events: SpscRing<IngestEvent>.Producer
    private let resyncsFromBooks: SpscRing<InstrumentId>.Consumer
    /// Books whose events the ring refused and whose invalidation is still owed.
    private var overrun: [Bool]
    private var owedInvalidations = 0
    /// Books whose invalidation went through: the adapter must resync them.
    private var resyncsAfterOverflow: [InstrumentId] = []
    public private(set) var counters = IngestLinkCounters()

    public init(link: IngestLink, instrumentCapacity: Int) {
        events = link.events.producer
        resyncsFromBooks = link.resyncs.consumer
        overrun = Array(repeating: false, count: instrumentCapacity)
        resyncsAfterOverflow.reserveCapacity(instrumentCapacity)
    }

    @inline(__always)
    private mutating func push(_ event: IngestEvent, for instrument: InstrumentId) {
        if _slowPath(owedInvalidations > 0) { payOwedInvalidations() }
        guard _fastPath(!overrun[instrument.index]) else {
            counters.droppedEvents &+= 1
            return
        }
        if _slowPath(!events.tryPush(event)) { overflowed(instrument) }
    }

    private mutating func overflowed(_ instrument: InstrumentId) {
        counters.droppedEvents &+= 1
        counters.overflowedBooks &+= 1
        overrun[instrument.index] = true
        owedInvalidations &+= 1
    }

    private mutating func payOwedInvalidations() {
        let now = ctw_realtime_ns()
        for index in overrun.indices where overrun[index] {
            let instrument = InstrumentId(UInt16(index))
            guard events.tryPush(.bookInvalid(instrument, reason: .ringOverflow, receiveTime: now)) else { return }
            overrun[index] = false
            owedInvalidations &-= 1
            resyncsAfterOverflow.append(instrument)
        }
    }

    // MARK: VenueEventSink

    @inline(__always)
    public mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) {
        push(.snapshotBegins(instrument, receiveTime: receiveTime), for: instrument)
    }

    @inline(__always)
    public mutating func bookDelta(_ delta: BookDelta) { push(.delta(delta), for: delta.instrument) }

    @inline(__always)
    public mutating func updateComplete(
        _ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64
    ) {
        push(.updateComplete(instrument, venueUpdateId: venueUpdateId, checksum: checksum, eventTime: eventTime, receiveTime: receiveTime),
             for: instrument)
    }

    @inline(__always)
    public mutating func trade(_ trade: Trade) { push(.trade(trade), for: trade.instrument) }

    @inline(__always)
    public mutating func bestBidOffer(_ quote: BestBidOffer) { push(.quote(quote), for: quote.instrument) }

    public mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        push(.bookInvalid(instrument, reason: reason, receiveTime: receiveTime), for: instrument)
    }

    // MARK: FeedSink

    @inline(__always)
    public var hasPendingResyncs: Bool { !resyncsAfterOverflow.isEmpty || resyncsFromBooks.hasElements }

    public mutating func nextResync() -> InstrumentId? {
        resyncsAfterOverflow.popLast() ?? resyncsFromBooks.tryPop()
    }

    @inline(__always)
    public mutating func batchEnded(readTime: UInt64) {
        if _slowPath(owedInvalidations > 0) { payOwedInvalidations() }
        // A lost end-of-read marker only delays a flush to the next one: not counted as a drop.
        _ = events.tryPush(.batchEnded(readTime: readTime))
        let waiting = events.occupancy
        if _slowPath(waiting > counters.highWater) { counters.highWater = waiting }
    }
}
