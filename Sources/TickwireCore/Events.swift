// Normalized market events: what venue adapters produce and what the wire carries
// (docs/PROTOCOL.md). Plain values with no references, so they travel through rings and into
// packets without allocation. Times are ns since the Unix epoch; 0 means "the venue gave none".
// Stored properties are declared widest first to keep the structs compact.

/// Sets the quantity at one price level; a quantity of zero deletes the level.
public struct BookDelta: Hashable, Sendable, BitwiseCopyable {
    public var price: Price
    public var quantity: Quantity
    /// The venue's sequence key of the update this delta belongs to (Binance `u`, OKX `seqId`…), 0 if none.
    public var venueUpdateId: UInt64
    public var eventTime: UInt64
    public var receiveTime: UInt64
    public var instrument: InstrumentId
    public var side: Side
    /// One venue update changes many levels: this marks its final delta, so consumers can
    /// apply the update as a whole.
    public var isLastInUpdate: Bool

    @inlinable
    public init(
        instrument: InstrumentId, side: Side, price: Price, quantity: Quantity,
        venueUpdateId: UInt64, eventTime: UInt64, receiveTime: UInt64, isLastInUpdate: Bool
    ) {
        self.price = price
        self.quantity = quantity
        self.venueUpdateId = venueUpdateId
        self.eventTime = eventTime
        self.receiveTime = receiveTime
        self.instrument = instrument
        self.side = side
        self.isLastInUpdate = isLastInUpdate
    }
}

/// A public trade.
public struct Trade: Hashable, Sendable, BitwiseCopyable {
    public var price: Price
    public var quantity: Quantity
    public var tradeId: UInt64
    public var eventTime: UInt64
    public var receiveTime: UInt64
    public var instrument: InstrumentId
    /// The taker's side: `.bid` when a buyer lifted an ask, `.ask` when a seller hit a bid.
    public var aggressor: Side
    /// The venue's trade id is not a UInt64 (Bybit sends UUIDs): `tradeId` is a digest of it,
    /// usable to de-duplicate but not to look the trade up at the venue.
    public var isTradeIdDigest: Bool

    @inlinable
    public init(
        instrument: InstrumentId, price: Price, quantity: Quantity, aggressor: Side,
        tradeId: UInt64, isTradeIdDigest: Bool = false, eventTime: UInt64, receiveTime: UInt64
    ) {
        self.price = price
        self.quantity = quantity
        self.tradeId = tradeId
        self.eventTime = eventTime
        self.receiveTime = receiveTime
        self.instrument = instrument
        self.aggressor = aggressor
        self.isTradeIdDigest = isTradeIdDigest
    }
}

/// Top of book. An empty side has price and quantity zero.
public struct BestBidOffer: Hashable, Sendable, BitwiseCopyable {
    public var bidPrice: Price
    public var bidQuantity: Quantity
    public var askPrice: Price
    public var askQuantity: Quantity
    public var venueUpdateId: UInt64
    public var eventTime: UInt64
    public var receiveTime: UInt64
    public var instrument: InstrumentId

    @inlinable
    public init(
        instrument: InstrumentId, bidPrice: Price, bidQuantity: Quantity, askPrice: Price, askQuantity: Quantity,
        venueUpdateId: UInt64, eventTime: UInt64, receiveTime: UInt64
    ) {
        self.bidPrice = bidPrice
        self.bidQuantity = bidQuantity
        self.askPrice = askPrice
        self.askQuantity = askQuantity
        self.venueUpdateId = venueUpdateId
        self.eventTime = eventTime
        self.receiveTime = receiveTime
        self.instrument = instrument
    }
}

/// Whether the publisher's book of an instrument matches the venue, and if not, why.
public struct BookStatus: Hashable, Sendable, BitwiseCopyable {
    /// Closed set: a new state would need a new protocol version.
    public enum State: UInt8, Sendable, CaseIterable, BitwiseCopyable {
        case valid = 1
        /// Known wrong, no recovery under way (e.g. the venue is disconnected).
        case invalid = 2
        /// Wrong, and the publisher is recovering it.
        case resyncing = 3
    }

    /// Open set: consumers must accept codes newer than they know, so this is a struct, not an enum.
    public struct Reason: RawRepresentable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
        public var rawValue: UInt8
        @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let none = Reason(rawValue: 0)
        /// The venue's own update ids show a missed update.
        public static let sequenceGap = Reason(rawValue: 1)
        public static let checksumMismatch = Reason(rawValue: 2)
        /// Best bid at or above best ask after an update.
        public static let crossedBook = Reason(rawValue: 3)
        /// The publisher dropped venue events internally (queue full).
        public static let ringOverflow = Reason(rawValue: 4)
        /// No venue data within the staleness timeout.
        public static let stale = Reason(rawValue: 5)
        public static let disconnected = Reason(rawValue: 6)
        /// Waiting for the venue's initial snapshot.
        public static let snapshotPending = Reason(rawValue: 7)
        /// The venue restarted its update ids or sent an unsolicited snapshot.
        public static let venueReset = Reason(rawValue: 8)
        /// A venue message for the instrument could not be parsed: an update may be missing.
        public static let malformedMessage = Reason(rawValue: 9)

        public var description: String {
            switch self {
            case .none: "none"
            case .sequenceGap: "sequenceGap"
            case .checksumMismatch: "checksumMismatch"
            case .crossedBook: "crossedBook"
            case .ringOverflow: "ringOverflow"
            case .stale: "stale"
            case .disconnected: "disconnected"
            case .snapshotPending: "snapshotPending"
            case .venueReset: "venueReset"
            case .malformedMessage: "malformedMessage"
            default: "reason(\(rawValue))"
            }
        }
    }

    /// Venue update id of the last update applied to the book, 0 if none.
    public var venueUpdateId: UInt64
    /// Publisher time at which the state changed.
    public var changeTime: UInt64
    public var instrument: InstrumentId
    public var state: State
    public var reason: Reason

    @inlinable
    public init(instrument: InstrumentId, state: State, reason: Reason, venueUpdateId: UInt64, changeTime: UInt64) {
        self.venueUpdateId = venueUpdateId
        self.changeTime = changeTime
        self.instrument = instrument
        self.state = state
        self.reason = reason
    }
}
