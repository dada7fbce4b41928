import TickwireCore

/// The integrity check a venue message carries, verified against the book once the whole
/// message has been applied (see `BookKeeper`).
public enum VenueChecksum: Sendable, Equatable, BitwiseCopyable {
    case none
    /// OKX: signed CRC32 of "bid:size:ask:size:…" over the top 25 levels a side.
    case okxTop25(Int32)
    /// Kraken v2: unsigned CRC32 of the top 10 asks then bids, digits without point or leading zeros.
    case krakenTop10(UInt32)
}

/// Where an adapter's normalized output goes. Generic on purpose: the fused `watch` path
/// (a `BookKeeper`) and the staged pipeline (a ring producer) both get specialized,
/// allocation-free calls.
///
/// For each venue message, per instrument: optionally `snapshotBegins`, then the message's
/// `bookDelta`s (a snapshot's levels arrive as deltas onto the cleared book), then exactly
/// one `updateComplete` — the point where the book is whole and is validated and published.
public protocol VenueEventSink {
    /// The book of `instrument` is about to be replaced: clear it.
    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64)
    mutating func bookDelta(_ delta: BookDelta)
    /// The venue message has been applied completely for `instrument`.
    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64)
    mutating func trade(_ trade: Trade)
    mutating func bestBidOffer(_ quote: BestBidOffer)
    /// The venue's own sync rule failed for `instrument` (gap, reset, malformed book message):
    /// its book is wrong until the adapter's resync completes with a new snapshot.
    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64)
}

/// What the connection must do for an adapter. Rare (connect, resync, keepalive), so these
/// may carry Strings; the per-message path never produces one in the steady state.
public enum VenueRequest: Sendable, Equatable {
    /// Send a text frame (subscribe, resubscribe, application ping).
    case sendText(String)
    /// Fetch a REST depth snapshot (Binance) and hand the body to `handleSnapshot`.
    case fetchSnapshot(InstrumentId, url: String)
    /// Drop the connection and reconnect (with backoff): the venue's only recovery.
    case reconnect(reason: String)
}

/// Why a venue message could not be used. The connection carries on; the adapter has
/// already reported `bookInvalid` if the message could have changed a book.
public enum VenueError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(JSONError)
    /// A symbol this connection did not subscribe to.
    case unknownSymbol(String)
    /// Well-formed JSON that is not a message this venue sends (or a venue error reply).
    case unexpectedMessage(String)
    /// The venue answered a request with an error (bad symbol, rate limit…).
    case venueRejected(String)

    public var description: String {
        switch self {
        case .malformed(let error): "malformed message: \(error)"
        case .unknownSymbol(let symbol): "unknown symbol \(symbol)"
        case .unexpectedMessage(let what): "unexpected message: \(what)"
        case .venueRejected(let what): "venue rejected a request: \(what)"
        }
    }
}

/// Per-symbol counters an adapter keeps (preallocated, indexed by instrument).
public struct VenueCounters: Sendable {
    public struct Symbol: Sendable, Equatable {
        public var messages: UInt64 = 0
        public var gaps: UInt64 = 0
        public var resyncs: UInt64 = 0
        public var parseErrors: UInt64 = 0
        public init() {}
    }

    public var symbols: [Symbol]
    /// Messages that could not be attributed to a symbol (malformed before the symbol, control messages).
    public var unattributedParseErrors: UInt64 = 0
    public var controlMessages: UInt64 = 0

    public init(instrumentCapacity: Int) {
        symbols = Array(repeating: Symbol(), count: instrumentCapacity)
    }

    @inlinable
    public subscript(instrument: InstrumentId) -> Symbol {
        get { symbols[instrument.index] }
        set { symbols[instrument.index] = newValue }
    }
}

/// One subscribed symbol: the venue's own name, the dense id it maps to, and its scales.
public struct VenueSymbol: Sendable, Equatable {
    public var name: String
    public var instrument: InstrumentId
    public var priceScale: Scale
    public var quantityScale: Scale

    public init(name: String, instrument: InstrumentId, priceScale: Scale, quantityScale: Scale) {
        self.name = name
        self.instrument = instrument
        self.priceScale = priceScale
        self.quantityScale = quantityScale
    }
}

/// A venue's protocol on one connection: subscription, parsing, and the venue's own
/// documented book-sync algorithm. One adapter per connection, owned by its thread.
public protocol VenueAdapter {
    var venue: Venue { get }
    var counters: VenueCounters { get }

    /// The connection is up (first time or after a reconnect): forget all sync state,
    /// mark every book invalid (`snapshotPending`) and queue the subscriptions.
    mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest])

    /// One complete text message from the venue.
    mutating func handle<Sink: VenueEventSink>(
        message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError)

    /// A REST snapshot body requested with `.fetchSnapshot` (venues that use REST).
    mutating func handleSnapshot<Sink: VenueEventSink>(
        _ instrument: InstrumentId, body: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError)

    /// The book keeper found `instrument`'s book wrong (checksum, crossed): resync that symbol
    /// the way the venue requires, leaving the others alone.
    mutating func resync(_ instrument: InstrumentId, requests: inout [VenueRequest])

    /// Housekeeping at least once a second: application pings, planned reconnects.
    mutating func tick(now: UInt64, requests: inout [VenueRequest])
}

/// A venue whose books start from WebSocket snapshots (Bybit, OKX, Coinbase, Kraken): a REST
/// snapshot body is never expected, and resync means resubscribing.
public protocol WebSocketSnapshotVenue: VenueAdapter {}

extension WebSocketSnapshotVenue {
    public mutating func handleSnapshot<Sink: VenueEventSink>(
        _ instrument: InstrumentId, body: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        throw .unexpectedMessage("\(venue.name) books start from WebSocket snapshots, not REST")
    }
}
