import TickwireCore

/// Told when a book becomes usable or stops being so. `watch` prints from it; the
/// pipeline's book stage encodes packets from it.
public protocol BookObserver {
    /// `instrument`'s book is whole and valid after a venue message: publish it.
    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64)
    /// `instrument`'s book turned invalid (once per transition, not per message).
    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64)

    // What a publisher needs besides whole books (each has a do-nothing default):

    /// A venue snapshot starts replacing `instrument`'s book; its levels follow as deltas.
    mutating func snapshotBegan(_ instrument: InstrumentId)
    /// A delta was applied to a book that is not invalid. The message it belongs to may still
    /// fail its checks: only `bookUpdated` says the update is true.
    mutating func deltaApplied(_ delta: BookDelta)
    mutating func tradeReceived(_ trade: Trade)
    mutating func quoteReceived(_ quote: BestBidOffer)
    /// Every message of one read from the venue connection has been handled; `readTime`
    /// (CLOCK_REALTIME ns) is when that read returned.
    mutating func batchEnded(readTime: UInt64)
}

extension BookObserver {
    @inlinable public mutating func snapshotBegan(_ instrument: InstrumentId) {}
    @inlinable public mutating func deltaApplied(_ delta: BookDelta) {}
    @inlinable public mutating func tradeReceived(_ trade: Trade) {}
    @inlinable public mutating func quoteReceived(_ quote: BestBidOffer) {}
    @inlinable public mutating func batchEnded(readTime: UInt64) {}
}

/// Applies a venue adapter's events to the books and is the one judge of their truth:
/// after every complete venue message it checks the venue's checksum and that the book is
/// not crossed. A failure marks that instrument invalid, tells the observer, and queues
/// a resync for the adapter; other instruments are untouched.
public struct BookKeeper<Observer: BookObserver>: VenueEventSink {
    public enum State: UInt8, Sendable, Equatable {
        /// No snapshot yet, or a sync rule or check failed: nothing is published.
        case invalid
        /// A snapshot is being applied; valid once its message completes.
        case building
        case valid
    }

    public struct Counters: Sendable, Equatable {
        public var checksumFailures: UInt64 = 0
        public var crossedBooks: UInt64 = 0
        public var invalidations: UInt64 = 0
        public var updatesPublished: UInt64 = 0
        public init() {}
    }

    public let books: BookTable
    public var observer: Observer
    public private(set) var states: [State]
    public private(set) var reasons: [BookStatus.Reason]
    public private(set) var counters: [Counters]
    /// Instruments whose book failed a check, for the connection to pass to `VenueAdapter.resync`.
    public private(set) var pendingResyncs: [InstrumentId] = []
    private let scales: [(price: Scale, quantity: Scale)]

    /// - Parameter instruments: every instrument the adapter feeds; each must be active in `books`.
    public init(books: BookTable, instruments: InstrumentTable, observer: Observer) {
        self.books = books
        self.observer = observer
        let count = instruments.count
        states = Array(repeating: .invalid, count: count)
        reasons = Array(repeating: .snapshotPending, count: count)
        counters = Array(repeating: Counters(), count: count)
        scales = instruments.definitions.map { ($0.priceScale, $0.quantityScale) }
        pendingResyncs.reserveCapacity(count)
    }

    public func state(of instrument: InstrumentId) -> State { states[instrument.index] }

    /// Takes one queued resync (allocation-free, for the feed loop).
    public mutating func popPendingResync() -> InstrumentId? { pendingResyncs.popLast() }

    /// Hands the queued resyncs to the caller and forgets them.
    public mutating func takePendingResyncs() -> [InstrumentId] {
        defer { pendingResyncs.removeAll(keepingCapacity: true) }
        return pendingResyncs
    }

    // MARK: VenueEventSink

    @inlinable
    public mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) {
        books.withBook(instrument) { $0.clear() }
        setState(.building, of: instrument)
        observer.snapshotBegan(instrument)
    }

    /// Applies the delta. The observer sees exactly the changes the book took: a level that
    /// did not fit a full side is not passed on, and the level a full side dropped for a
    /// better one is passed on as a delete (depth-limited books: Kraken, Bybit, Coinbase…).
    @inlinable
    public mutating func bookDelta(_ delta: BookDelta) {
        guard _fastPath(states[delta.instrument.index] != .invalid) else { return }
        let dropped = books.withBook(delta.instrument) { $0.set(delta.side, price: delta.price, quantity: delta.quantity) }
        guard _slowPath(dropped != nil) else {
            observer.deltaApplied(delta)
            return
        }
        guard let dropped, dropped != delta.price else { return }
        observer.deltaApplied(delta)
        var removal = delta
        removal.price = dropped
        removal.quantity = .zero
        removal.isLastInUpdate = false
        observer.deltaApplied(removal)
    }

    public mutating func updateComplete(
        _ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64
    ) {
        let index = instrument.index
        guard _fastPath(states[index] != .invalid) else { return }
        let book = books.withBook(instrument) { $0 }
        book.updateId = venueUpdateId
        if _slowPath(book.isCrossed) {
            counters[index].crossedBooks += 1
            fail(instrument, reason: .crossedBook, receiveTime: receiveTime)
            return
        }
        let (priceScale, quantityScale) = scales[index]
        if _slowPath(!checksum.matches(book, priceScale: priceScale, quantityScale: quantityScale)) {
            counters[index].checksumFailures += 1
            fail(instrument, reason: .checksumMismatch, receiveTime: receiveTime)
            return
        }
        states[index] = .valid
        reasons[index] = .none
        counters[index].updatesPublished += 1
        observer.bookUpdated(instrument, book: book, venueUpdateId: venueUpdateId, receiveTime: receiveTime)
    }

    public mutating func trade(_ trade: Trade) { observer.tradeReceived(trade) }

    public mutating func bestBidOffer(_ quote: BestBidOffer) { observer.quoteReceived(quote) }

    public mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        invalidate(instrument, reason: reason, receiveTime: receiveTime)
    }

    // MARK: internals

    @usableFromInline
    mutating func setState(_ state: State, of instrument: InstrumentId) {
        states[instrument.index] = state
    }

    /// A check failed on a complete message: the adapter must resync this symbol.
    private mutating func fail(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        invalidate(instrument, reason: reason, receiveTime: receiveTime)
        pendingResyncs.append(instrument)
    }

    private mutating func invalidate(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        let index = instrument.index
        let wasInvalid = states[index] == .invalid
        states[index] = .invalid
        reasons[index] = reason
        guard !wasInvalid else { return }
        counters[index].invalidations += 1
        observer.bookInvalidated(instrument, reason: reason, receiveTime: receiveTime)
    }
}
