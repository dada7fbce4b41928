import TickwireCore

// The parts Binance spot and USD-M futures share: the message parser (raw and combined
// streams, diff depth, trades, book ticker, control replies), the per-symbol snapshot
// buffering, and the adapter skeleton. The two venues differ only in their book-sync rules
// (`BinanceBookRules`), which live in BinanceSpot.swift and BinanceUSDM.swift.
//
// Hot path (`handle` with a depth diff for a synced symbol): one forward scan of the frame,
// levels parsed straight to fixed point into a preallocated scratch, the venue's sequence
// rule, then the deltas. No allocation, no class access, no Foundation.

// MARK: - rules

/// What the venue's documented sync procedure decides about the first event applied after a snapshot.
public enum BinanceFirstEventDecision: Sendable, Equatable {
    /// The event straddles the snapshot: apply it.
    case apply
    /// No straddle requirement for this event: judge it by the ordinary update procedure.
    case useUpdateProcedure
    /// The snapshot is older than the event: fetch another snapshot, keep the buffer.
    case refetchSnapshot
    /// Events are missing: discard the book and restart.
    case gap
}

/// What the venue's update procedure decides about a depth event on a synced book.
public enum BinanceContinuity: Sendable, Equatable {
    case apply
    /// Older than the book (spot: `u` < local id): ignore it.
    case ignoreStale
    /// Updates were missed: discard the book and restart.
    case gap
}

/// The update ids of one diff-depth event: `U` (first), `u` (final), `pu` (previous final, USD-M only).
public struct BinanceDepthIds: Sendable, Equatable {
    public var first: UInt64
    public var last: UInt64
    /// `pu`; 0 when the venue does not send it (spot).
    public var previous: UInt64

    @inlinable
    public init(first: UInt64, last: UInt64, previous: UInt64 = 0) {
        self.first = first
        self.last = last
        self.previous = previous
    }
}

/// A Binance venue's own documented book-sync rules ("How to manage a local order book
/// correctly"); see ../shared/reference/exchange-formats.md sections 1 and 2.
public protocol BinanceBookRules {
    static var venue: Venue { get }
    /// REST depth path, e.g. "/api/v3/depth".
    static var snapshotPath: String { get }
    /// The `limit` asked of the REST snapshot (levels a side).
    static var snapshotLimit: Int { get }
    /// Whether depth events carry `pu` (a depth event without it is malformed).
    static var requiresPreviousId: Bool { get }
    /// Diff-depth stream suffixes the venue offers ("depth", "depth@100ms"…).
    static var depthStreams: [String] { get }
    /// A buffered (or not yet applied) event whose updates the snapshot already contains: drop it.
    static func isCoveredBySnapshot(_ event: BinanceDepthIds, lastUpdateId: UInt64) -> Bool
    /// The snapshot predates the first event received: fetch it again (spot step 4).
    static func snapshotPredatesBuffer(lastUpdateId: UInt64, firstBufferedId: UInt64) -> Bool
    /// The first event not dropped after the snapshot; `buffered` when it was received before the snapshot.
    static func firstEvent(_ event: BinanceDepthIds, lastUpdateId: UInt64, buffered: Bool) -> BinanceFirstEventDecision
    /// Every later event, against the book's update id (the last applied `u`, or the snapshot's).
    static func nextEvent(_ event: BinanceDepthIds, localUpdateId: UInt64) -> BinanceContinuity
}

// MARK: - configuration

/// One Binance connection: endpoints, symbols and streams. Built from the venue's config file.
public struct BinanceConfiguration: Sendable {
    public enum TradeStream: String, Sendable {
        case trade
        case aggTrade
        case none
    }

    /// e.g. "wss://stream.binance.com:9443" (spot) or "wss://fstream.binance.com" (USD-M).
    public var wsURL: String
    /// e.g. "https://api.binance.com" (spot) or "https://fapi.binance.com" (USD-M).
    public var restURL: String
    /// The venue's symbol names (uppercase, as `data.s` sends them) and their instruments.
    public var symbols: [VenueSymbol]
    /// Diff-depth stream suffix: "depth", "depth@100ms" (spot); "depth@0ms"…"depth@500ms" (USD-M).
    public var depthStream: String
    public var tradeStream: TradeStream
    public var bookTicker: Bool
    /// Subscribe through the combined-stream URL instead of a SUBSCRIBE message.
    public var subscribeInURL: Bool
    /// Bytes of raw depth events buffered per symbol while its snapshot is fetched; an
    /// overflow drops the buffer and restarts the symbol's sync (counted).
    public var bufferBytesPerSymbol: Int
    /// Most levels a side one message (diff or snapshot) may carry; more is refused.
    public var maxLevelsPerSide: Int
    /// Binance closes connections after 24 h: `tick` asks for a reconnect after this many ns.
    public var maxConnectionAge: UInt64
    /// Venue times are ms (×1_000_000 to ns); 1_000 with `timeUnit=MICROSECOND`.
    public var eventTimeToNanoseconds: UInt64

    public init(
        wsURL: String, restURL: String, symbols: [VenueSymbol], depthStream: String = "depth@100ms",
        tradeStream: TradeStream = .trade, bookTicker: Bool = true, subscribeInURL: Bool = false,
        bufferBytesPerSymbol: Int = 1 << 20, maxLevelsPerSide: Int = 5000,
        maxConnectionAge: UInt64 = 23 * 3600 * 1_000_000_000 + 30 * 60 * 1_000_000_000,
        eventTimeToNanoseconds: UInt64 = 1_000_000
    ) {
        self.wsURL = wsURL
        self.restURL = restURL
        self.symbols = symbols
        self.depthStream = depthStream
        self.tradeStream = tradeStream
        self.bookTicker = bookTicker
        self.subscribeInURL = subscribeInURL
        self.bufferBytesPerSymbol = bufferBytesPerSymbol
        self.maxLevelsPerSide = maxLevelsPerSide
        self.maxConnectionAge = maxConnectionAge
        self.eventTimeToNanoseconds = eventTimeToNanoseconds
    }

    /// The stream names, lowercase: `<symbol>@depth@100ms`, `<symbol>@trade`, `<symbol>@bookTicker`.
    public var streams: [String] {
        symbols.flatMap { symbol -> [String] in
            let name = symbol.name.lowercased()
            var streams = ["\(name)@\(depthStream)"]
            if tradeStream != .none { streams.append("\(name)@\(tradeStream.rawValue)") }
            if bookTicker { streams.append("\(name)@bookTicker") }
            return streams
        }
    }

    /// Where to connect: the combined endpoint, with the streams in the URL when `subscribeInURL`.
    public var connectionURL: String {
        let base = wsURL.hasSuffix("/") ? String(wsURL.dropLast()) : wsURL
        return subscribeInURL ? "\(base)/stream?streams=\(streams.joined(separator: "/"))" : "\(base)/stream"
    }

    /// `{"method":"SUBSCRIBE","params":[…],"id":N}`.
    public static func subscribeMessage(streams: some Collection<String>, id: Int) -> String {
        let params = streams.map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"method":"SUBSCRIBE","params":[\#(params)],"id":\#(id)}"#
    }
}

// MARK: - counters

/// Everything a Binance adapter counts about one symbol.
public struct BinanceSymbolCounters: Sendable, Equatable {
    /// Venue messages attributed to the symbol (depth, trades, book ticker).
    public var messages: UInt64 = 0
    public var gaps: UInt64 = 0
    /// Restarts of the sync process after the first sync (gap, malformed, overflow, keeper resync).
    public var resyncs: UInt64 = 0
    public var parseErrors: UInt64 = 0
    /// Depth events applied to the book (buffered replays included).
    public var depthUpdatesApplied: UInt64 = 0
    /// Spot: events older than the book, ignored by the update procedure.
    public var staleEventsIgnored: UInt64 = 0
    /// Events the snapshot already contained (dropped by the venue's rule).
    public var eventsCoveredBySnapshot: UInt64 = 0
    public var eventsBuffered: UInt64 = 0
    public var bufferOverflows: UInt64 = 0
    public var snapshotRequests: UInt64 = 0
    /// Snapshots older than the buffered events (fetched again).
    public var snapshotRefetches: UInt64 = 0
    public var snapshotsApplied: UInt64 = 0
    /// Snapshot bodies that arrived when none was awaited (ignored).
    public var unexpectedSnapshots: UInt64 = 0
    /// Malformed depth messages: the book may have missed an update, so it was resynced.
    public var malformedBookMessages: UInt64 = 0
    public var trades: UInt64 = 0
    public var bookTickers: UInt64 = 0

    public init() {}
}

/// What a Binance adapter counts for the connection as a whole.
public struct BinanceConnectionCounters: Sendable, Equatable {
    /// Subscription replies (`{"result":null,"id":1}`) and `serverShutdown` events.
    public var controlMessages: UInt64 = 0
    /// Malformed frames that could not be attributed to a symbol.
    public var unattributedParseErrors: UInt64 = 0
    public var unknownSymbolMessages: UInt64 = 0
    /// Well-formed frames that are no market-data event this adapter knows.
    public var unexpectedMessages: UInt64 = 0
    /// Error replies from the venue (WebSocket or REST).
    public var rejections: UInt64 = 0
    public var reconnectRequests: UInt64 = 0

    public init() {}
}

/// Where a symbol is in the venue's sync procedure.
public enum BinanceSyncPhase: UInt8, Sendable, Equatable {
    /// Waiting for the first depth event (then the snapshot is fetched).
    case waitingForEvent
    /// Buffering depth events while the REST snapshot is fetched.
    case buffering
    /// The book follows the stream.
    case synced
}

// MARK: - per-symbol state and storage

@usableFromInline
struct BinanceSymbolState {
    @usableFromInline var localUpdateId: UInt64 = 0
    @usableFromInline var snapshotUpdateId: UInt64 = 0
    @usableFromInline var firstBufferedId: UInt64 = 0
    @usableFromInline var bufferUsed: Int = 0
    @usableFromInline var bufferedEvents: Int = 0
    @usableFromInline var instrument: InstrumentId
    @usableFromInline var priceScale: Scale
    @usableFromInline var quantityScale: Scale
    @usableFromInline var phase: BinanceSyncPhase = .waitingForEvent
    /// Synced, but the first event after the snapshot has not been applied yet.
    @usableFromInline var awaitingFirstEvent = false
    @usableFromInline var snapshotOutstanding = false
    /// Synced at least once since `connected` (restarts after that count as resyncs).
    @usableFromInline var everSynced = false

    init(instrument: InstrumentId, priceScale: Scale, quantityScale: Scale) {
        self.instrument = instrument
        self.priceScale = priceScale
        self.quantityScale = quantityScale
    }
}

/// Header of one buffered depth event; its raw payload bytes follow (padded to 8).
@usableFromInline
struct BinanceBufferedEvent {
    @usableFromInline var ids: BinanceDepthIds
    @usableFromInline var receiveTime: UInt64
    @usableFromInline var length: Int

    @inlinable static var headerSize: Int { (MemoryLayout<BinanceBufferedEvent>.stride + 7) & ~7 }
    @inlinable static func recordSize(payload: Int) -> Int { headerSize + ((payload + 7) & ~7) }
}

/// One parsed level (fixed point).
@usableFromInline
struct BinanceLevel {
    @usableFromInline var price: Int64
    @usableFromInline var quantity: Int64

    @inlinable
    init(price: Int64, quantity: Int64) {
        self.price = price
        self.quantity = quantity
    }
}

/// Owns the adapter's preallocated memory. The adapter copies the pointers into itself, so
/// the hot path never touches this object (no ARC); it only keeps the memory alive.
final class BinanceStorage {
    let symbolCount: Int
    let states: UnsafeMutablePointer<BinanceSymbolState>
    let counters: UnsafeMutablePointer<BinanceSymbolCounters>
    /// `symbolCount` buffers of `bufferBytes` each, 8-byte aligned.
    let buffers: UnsafeMutableRawPointer
    let bufferBytes: Int
    /// Scratch for one message's levels: bids in the first half, asks in the second.
    let levels: UnsafeMutablePointer<BinanceLevel>
    let levelsPerSide: Int
    /// Instrument index → symbol index (-1: not this adapter's).
    let slots: UnsafeMutablePointer<Int32>
    let slotCount: Int
    let symbols: BinanceSymbolTable

    init(configuration: BinanceConfiguration, snapshotLimit: Int) {
        let symbols = configuration.symbols
        symbolCount = symbols.count
        states = .allocate(capacity: max(symbolCount, 1))
        counters = .allocate(capacity: max(symbolCount, 1))
        for (index, symbol) in symbols.enumerated() {
            (states + index).initialize(to: BinanceSymbolState(
                instrument: symbol.instrument, priceScale: symbol.priceScale, quantityScale: symbol.quantityScale))
            (counters + index).initialize(to: BinanceSymbolCounters())
        }
        bufferBytes = (max(configuration.bufferBytesPerSymbol, 0) + 7) & ~7
        buffers = .allocate(byteCount: max(bufferBytes * symbolCount, 8), alignment: 8)
        levelsPerSide = max(configuration.maxLevelsPerSide, snapshotLimit, 1)
        levels = .allocate(capacity: 2 * levelsPerSide)
        levels.initialize(repeating: BinanceLevel(price: 0, quantity: 0), count: 2 * levelsPerSide)
        slotCount = (symbols.map { $0.instrument.index }.max() ?? 0) + 1
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: -1, count: slotCount)
        for (index, symbol) in symbols.enumerated() { slots[symbol.instrument.index] = Int32(index) }
        self.symbols = BinanceSymbolTable(names: symbols.map(\.name))
    }

    deinit {
        states.deinitialize(count: symbolCount)
        states.deallocate()
        counters.deinitialize(count: symbolCount)
        counters.deallocate()
        buffers.deallocate()
        levels.deallocate()
        slots.deallocate()
    }
}

/// Symbol name → index without allocation: an open-addressing table of ASCII-case-folded
/// names (data.s is uppercase, stream names lowercase).
final class BinanceSymbolTable {
    let bytes: UnsafeMutablePointer<UInt8>
    let offsets: UnsafeMutablePointer<Int32>
    let lengths: UnsafeMutablePointer<Int32>
    let table: UnsafeMutablePointer<Int32>
    let mask: Int
    let count: Int
    private let byteCount: Int

    init(names: [String]) {
        count = names.count
        let folded = names.map { Array($0.utf8).map(BinanceSymbolLookup.fold) }
        byteCount = max(folded.reduce(0) { $0 + $1.count }, 1)
        bytes = .allocate(capacity: byteCount)
        offsets = .allocate(capacity: max(count, 1))
        lengths = .allocate(capacity: max(count, 1))
        var size = 4
        while size < 2 * count { size <<= 1 }
        mask = size - 1
        table = .allocate(capacity: size)
        table.initialize(repeating: -1, count: size)
        var offset = 0
        for (index, name) in folded.enumerated() {
            offsets[index] = Int32(offset)
            lengths[index] = Int32(name.count)
            for byte in name {
                bytes[offset] = byte
                offset += 1
            }
            var slot = BinanceSymbolLookup.hash(name.withUnsafeBufferPointer { ByteView(start: $0.baseAddress ?? UnsafePointer(bytes), count: $0.count) }) & mask
            while table[slot] >= 0 { slot = (slot + 1) & mask }
            table[slot] = Int32(index)
        }
    }

    deinit {
        bytes.deallocate()
        offsets.deallocate()
        lengths.deallocate()
        table.deallocate()
    }
}

/// The pointers of a `BinanceSymbolTable`, held by value in the adapter.
@usableFromInline
struct BinanceSymbolLookup {
    @usableFromInline let bytes: UnsafeMutablePointer<UInt8>
    @usableFromInline let offsets: UnsafeMutablePointer<Int32>
    @usableFromInline let lengths: UnsafeMutablePointer<Int32>
    @usableFromInline let table: UnsafeMutablePointer<Int32>
    @usableFromInline let mask: Int

    init(_ table: BinanceSymbolTable) {
        bytes = table.bytes
        offsets = table.offsets
        lengths = table.lengths
        self.table = table.table
        mask = table.mask
    }

    @inlinable @inline(__always)
    static func fold(_ byte: UInt8) -> UInt8 {
        (byte &- UInt8(ascii: "a")) < 26 ? byte &- 32 : byte
    }

    @inlinable @inline(__always)
    static func hash(_ name: ByteView) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var index = 0
        while index < name.count {
            hash = (hash ^ UInt64(fold(name.start[index]))) &* 0x0000_0100_0000_01b3
            index &+= 1
        }
        return Int(truncatingIfNeeded: hash ^ (hash >> 29))
    }

    @inlinable @inline(__always)
    func matches(_ index: Int, _ name: ByteView) -> Bool {
        guard Int(lengths[index]) == name.count else { return false }
        let stored = bytes + Int(offsets[index])
        var position = 0
        while position < name.count {
            if stored[position] != BinanceSymbolLookup.fold(name.start[position]) { return false }
            position &+= 1
        }
        return true
    }

    /// The symbol's index, or -1. `hint` (the last hit) is tried first.
    @inlinable @inline(__always)
    func index(of name: ByteView, hint: Int) -> Int {
        if hint >= 0 && matches(hint, name) { return hint }
        var slot = BinanceSymbolLookup.hash(name) & mask
        while true {
            let candidate = Int(table[slot])
            if candidate < 0 { return -1 }
            if matches(candidate, name) { return candidate }
            slot = (slot &+ 1) & mask
        }
    }
}

// MARK: - parsed message

@usableFromInline
enum BinanceEventKind: UInt8 {
    case none
    case depth
    case trade
    case aggTrade
    case bookTicker
    case serverShutdown
    case other
}

/// Everything one frame carries, filled by a single forward scan. Decimal fields of trades
/// and tickers are kept as views and parsed once the symbol's scale is known.
@usableFromInline
struct BinanceMessage {
    @usableFromInline var kind: BinanceEventKind = .none
    @usableFromInline var symbol = -1
    @usableFromInline var symbolText: ByteView? = nil
    @usableFromInline var stream: ByteView? = nil
    @usableFromInline var eventTime: UInt64 = 0
    @usableFromInline var transactionTime: UInt64 = 0
    @usableFromInline var ids = BinanceDepthIds(first: 0, last: 0)
    @usableFromInline var hasFirst = false
    @usableFromInline var hasLast = false
    @usableFromInline var hasPrevious = false
    @usableFromInline var bidCount = -1
    @usableFromInline var askCount = -1
    @usableFromInline var deferredBids = -1
    @usableFromInline var deferredAsks = -1
    @usableFromInline var levelOverflow = false
    @usableFromInline var tradeId: UInt64 = 0
    @usableFromInline var hasTradeId = false
    @usableFromInline var maker: Bool? = nil
    @usableFromInline var price: ByteView? = nil
    @usableFromInline var quantity: ByteView? = nil
    @usableFromInline var bidPrice: ByteView? = nil
    @usableFromInline var bidQuantity: ByteView? = nil
    @usableFromInline var askPrice: ByteView? = nil
    @usableFromInline var askQuantity: ByteView? = nil
    /// Byte range of the event object in the frame (the `data` value, or the whole raw frame).
    @usableFromInline var payloadStart = 0
    @usableFromInline var payloadEnd = 0
    @usableFromInline var isCombined = false
    @usableFromInline var hasResult = false
    @usableFromInline var hasId = false
    @usableFromInline var isError = false
    @usableFromInline var errorMessage: ByteView? = nil
    @usableFromInline var stringEventName: ByteView? = nil

    @inlinable init() {}
}

// MARK: - scanner fast paths

extension JSONScanner {
    /// A quoted non-negative decimal ("2683.80000000") parsed while it is scanned: one pass,
    /// no separate string scan. Anything unusual (bare numbers, signs, exponents, escapes,
    /// inexact or huge values) goes to the general `decimal(scale:)`, which gives the
    /// same value or the typed error.
    @inlinable @inline(__always)
    mutating func binanceDecimal(scale: Scale) throws(JSONError) -> Int64 {
        skipWhitespace()
        if _fastPath(position < end && position.pointee == UInt8(ascii: "\"")) {
            var cursor = position + 1
            if let value = Self.fusedDecimal(&cursor, end, scaleDigits: Int(scale.digits), multiplier: DecimalText.powerOfTen(scale)) {
                position = cursor
                return value
            }
        }
        return try decimal(scale: scale)
    }

    /// A quoted decimal's digits, `cursor` just past the opening quote: the exact mantissa
    /// with `cursor` past the closing quote, or nil (cursor untouched) for anything that is
    /// not plain `digits[.digits]` exact at the scale and within 63 bits.
    @inlinable @inline(__always)
    static func fusedDecimal(
        _ cursor: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, scaleDigits: Int, multiplier: UInt64
    ) -> Int64? {
        var p = cursor
        guard let value = DecimalText.parsePlain(&p, end: end, scaleDigits: scaleDigits, multiplier: multiplier),
              _fastPath(p < end && p.pointee == UInt8(ascii: "\"")) else { return nil }
        cursor = p + 1
        return value
    }

    /// A bare non-negative integer (update ids, times) parsed while scanned; anything else
    /// (quoted, signs, overflow) goes to the general `uint64()`.
    @inlinable @inline(__always)
    mutating func binanceUInt64() throws(JSONError) -> UInt64 {
        skipWhitespace()
        let origin = position
        var cursor = position
        var value: UInt64 = 0
        while cursor < end {
            let digit = cursor.pointee &- UInt8(ascii: "0")
            if digit >= 10 { break }
            value = value &* 10 &+ UInt64(digit)
            cursor += 1
        }
        let digits = cursor - origin
        // 19 digits always fit; a number must end before the frame does (or it was truncated).
        if _fastPath(digits > 0 && digits <= 19 && cursor < end && !Self.isNumberByte(cursor.pointee)) {
            position = cursor
            return value
        }
        return try uint64()
    }

    /// A level array `[["price","qty"],…]` into `out` (at most `capacity` levels; more
    /// sets `overflow` and skips the rest). Returns the count. The compact form Binance
    /// sends is read in one pointer walk; anything else (whitespace, bare numbers, too many
    /// levels, errors) is read again from the start by the general scanner.
    @inlinable @inline(__always)
    mutating func binanceLevels(
        into out: UnsafeMutablePointer<BinanceLevel>, capacity: Int, priceScale: Scale, quantityScale: Scale,
        overflow: inout Bool
    ) throws(JSONError) -> Int {
        skipWhitespace()
        if let count = compactLevels(into: out, capacity: capacity, priceScale: priceScale, quantityScale: quantityScale) {
            return count
        }
        return try generalLevels(into: out, capacity: capacity, priceScale: priceScale, quantityScale: quantityScale, overflow: &overflow)
    }

    /// `[["p","q"],["p","q"]]` with no whitespace, or nil with the cursor untouched.
    @inlinable @inline(__always)
    mutating func compactLevels(
        into out: UnsafeMutablePointer<BinanceLevel>, capacity: Int, priceScale: Scale, quantityScale: Scale
    ) -> Int? {
        let end = self.end
        var p = position
        guard _fastPath(end - p >= 2 && p[0] == UInt8(ascii: "[")) else { return nil }
        if p[1] == UInt8(ascii: "]") {
            position = p + 2
            return 0
        }
        p += 1
        let priceDigits = Int(priceScale.digits), quantityDigits = Int(quantityScale.digits)
        let priceMultiplier = DecimalText.powerOfTen(priceScale), quantityMultiplier = DecimalText.powerOfTen(quantityScale)
        var count = 0
        while true {
            guard _fastPath(count < capacity && end - p > 2 && p[0] == UInt8(ascii: "[") && p[1] == UInt8(ascii: "\"")) else { return nil }
            p += 2
            guard let price = Self.fusedDecimal(&p, end, scaleDigits: priceDigits, multiplier: priceMultiplier), _fastPath(price > 0),
                  _fastPath(end - p > 2 && p[0] == UInt8(ascii: ",") && p[1] == UInt8(ascii: "\"")) else { return nil }
            p += 2
            guard let quantity = Self.fusedDecimal(&p, end, scaleDigits: quantityDigits, multiplier: quantityMultiplier),
                  _fastPath(end - p > 1 && p[0] == UInt8(ascii: "]")) else { return nil }
            out[count] = BinanceLevel(price: price, quantity: quantity)
            count &+= 1
            let next = p[1]
            p += 2
            if next == UInt8(ascii: "]") {
                position = p
                return count
            }
            guard _fastPath(next == UInt8(ascii: ",")) else { return nil }
        }
    }

    /// The general reading of a level array (any whitespace, bare numbers), with typed errors.
    @inlinable
    mutating func generalLevels(
        into out: UnsafeMutablePointer<BinanceLevel>, capacity: Int, priceScale: Scale, quantityScale: Scale,
        overflow: inout Bool
    ) throws(JSONError) -> Int {
        try beginArray()
        var count = 0
        while try nextElement() {
            guard count < capacity else {
                overflow = true
                try skipValue()
                continue
            }
            try beginArray()
            guard try nextElement() else { throw error(.missingField("price")) }
            let priceOrigin = offset
            let price = try binanceDecimal(scale: priceScale)
            guard try nextElement() else { throw error(.missingField("quantity")) }
            let quantityOrigin = offset
            let quantity = try binanceDecimal(scale: quantityScale)
            if try nextElement() { throw error(.unexpectedByte(UInt8(ascii: ","))) }
            guard price > 0 else { throw JSONError(.decimal(.invalidCharacter(offset: 0)), offset: priceOrigin) }
            guard quantity >= 0 else { throw JSONError(.decimal(.invalidCharacter(offset: 0)), offset: quantityOrigin) }
            out[count] = BinanceLevel(price: price, quantity: quantity)
            count &+= 1
        }
        return count
    }
}

// MARK: - the adapter

/// A Binance market-data connection (spot or USD-M, by `Rules`): parses raw and combined
/// stream frames, keeps each symbol's book in sync by the venue's documented procedure, and
/// emits normalized events into the sink.
///
/// Per symbol: the first depth event is buffered (raw bytes, in the symbol's preallocated
/// buffer) and the REST snapshot is requested; later events are buffered until it arrives.
/// `handleSnapshot` applies the venue's checks, emits the snapshot (`snapshotBegins`, its
/// levels, `updateComplete(lastUpdateId)`), replays the buffer through the update procedure
/// and the symbol is live. A gap, a malformed depth message, a buffer overflow or a keeper
/// `resync` restarts that symbol alone.
///
/// The adapter is a handle on preallocated memory: keep one per connection and do not copy it.
public struct BinanceAdapter<Rules: BinanceBookRules>: VenueAdapter {
    public var venue: Venue { Rules.venue }
    public let configuration: BinanceConfiguration

    private let storage: BinanceStorage
    @usableFromInline let states: UnsafeMutablePointer<BinanceSymbolState>
    @usableFromInline let symbolCounters: UnsafeMutablePointer<BinanceSymbolCounters>
    @usableFromInline let buffers: UnsafeMutableRawPointer
    @usableFromInline let bufferBytes: Int
    @usableFromInline let bids: UnsafeMutablePointer<BinanceLevel>
    @usableFromInline let asks: UnsafeMutablePointer<BinanceLevel>
    @usableFromInline let levelsPerSide: Int
    @usableFromInline let slots: UnsafeMutablePointer<Int32>
    @usableFromInline let slotCount: Int
    @usableFromInline let symbolCount: Int
    @usableFromInline let lookup: BinanceSymbolLookup
    @usableFromInline let timeMultiplier: UInt64
    private let snapshotURLs: [String]
    @usableFromInline var lastSymbol = -1

    @usableFromInline var connection = BinanceConnectionCounters()
    private var connectedAt: UInt64 = 0
    private var reconnectRequested = false
    private var nextRequestId = 1

    public init(configuration: BinanceConfiguration) {
        self.configuration = configuration
        storage = BinanceStorage(configuration: configuration, snapshotLimit: Rules.snapshotLimit)
        states = storage.states
        symbolCounters = storage.counters
        buffers = storage.buffers
        bufferBytes = storage.bufferBytes
        levelsPerSide = storage.levelsPerSide
        bids = storage.levels
        asks = storage.levels + storage.levelsPerSide
        slots = storage.slots
        slotCount = storage.slotCount
        symbolCount = storage.symbolCount
        lookup = BinanceSymbolLookup(storage.symbols)
        timeMultiplier = configuration.eventTimeToNanoseconds
        let rest = configuration.restURL.hasSuffix("/") ? String(configuration.restURL.dropLast()) : configuration.restURL
        snapshotURLs = configuration.symbols.map { "\(rest)\(Rules.snapshotPath)?symbol=\($0.name)&limit=\(Rules.snapshotLimit)" }
    }

    /// The REST snapshot URL of `instrument`'s symbol.
    public func snapshotURL(for instrument: InstrumentId) -> String? {
        let symbol = symbolIndex(of: instrument)
        return symbol >= 0 ? snapshotURLs[symbol] : nil
    }

    // MARK: counters and state (set-up, tests, stats)

    public var counters: VenueCounters {
        var counters = VenueCounters(instrumentCapacity: slotCount)
        for index in 0..<symbolCount {
            let own = symbolCounters[index]
            var symbol = VenueCounters.Symbol()
            symbol.messages = own.messages
            symbol.gaps = own.gaps
            symbol.resyncs = own.resyncs
            symbol.parseErrors = own.parseErrors
            counters.symbols[states[index].instrument.index] = symbol
        }
        counters.controlMessages = connection.controlMessages
        counters.unattributedParseErrors = connection.unattributedParseErrors
        return counters
    }

    /// Counters of the connection as a whole (not attributed to a symbol).
    public var connectionCounters: BinanceConnectionCounters { connection }

    public func binanceCounters(_ instrument: InstrumentId) -> BinanceSymbolCounters {
        let symbol = symbolIndex(of: instrument)
        return symbol >= 0 ? symbolCounters[symbol] : BinanceSymbolCounters()
    }

    public func phase(of instrument: InstrumentId) -> BinanceSyncPhase? {
        let symbol = symbolIndex(of: instrument)
        return symbol >= 0 ? states[symbol].phase : nil
    }

    /// The book's update id as the adapter tracks it (last applied `u`, or the snapshot's).
    public func localUpdateId(of instrument: InstrumentId) -> UInt64? {
        let symbol = symbolIndex(of: instrument)
        return symbol >= 0 ? states[symbol].localUpdateId : nil
    }

    /// Benchmarks: declare `instrument` synced with the book at `updateId`, as if a snapshot
    /// and the events up to `updateId` had been applied (no events are emitted).
    @_spi(Benchmarks)
    public mutating func assumeSynced(_ instrument: InstrumentId, updateId: UInt64) {
        let symbol = symbolIndex(of: instrument)
        guard symbol >= 0 else { return }
        states[symbol].phase = .synced
        states[symbol].awaitingFirstEvent = false
        states[symbol].localUpdateId = updateId
        states[symbol].bufferUsed = 0
        states[symbol].bufferedEvents = 0
    }

    @inlinable
    func symbolIndex(of instrument: InstrumentId) -> Int {
        instrument.index < slotCount ? Int(slots[instrument.index]) : -1
    }

    // MARK: VenueAdapter

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        for symbol in 0..<symbolCount {
            reset(symbol)
            states[symbol].snapshotOutstanding = false
            states[symbol].everSynced = false
            sink.bookInvalid(states[symbol].instrument, reason: .snapshotPending, receiveTime: receiveTime)
        }
        connectedAt = receiveTime
        reconnectRequested = false
        if !configuration.subscribeInURL {
            // Binance allows 5 incoming messages a second and 1024 streams a connection.
            let streams = configuration.streams
            var start = 0
            while start < streams.count {
                let chunk = streams[start..<min(start + 256, streams.count)]
                requests.append(.sendText(BinanceConfiguration.subscribeMessage(streams: chunk, id: nextRequestId)))
                nextRequestId += 1
                start += 256
            }
        }
    }

    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {
        guard connectedAt != 0, !reconnectRequested, now >= connectedAt,
              now - connectedAt >= configuration.maxConnectionAge else { return }
        reconnectRequested = true
        connection.reconnectRequests += 1
        requests.append(.reconnect(reason: "planned reconnect before Binance's 24-hour connection limit"))
    }

    public mutating func resync(_ instrument: InstrumentId, requests: inout [VenueRequest]) {
        let symbol = symbolIndex(of: instrument)
        guard symbol >= 0 else { return }
        symbolCounters[symbol].resyncs += 1
        // The next depth event starts the buffer, and the snapshot is fetched then (doc steps 2-3).
        reset(symbol)
    }

    @inlinable
    public mutating func handle<Sink: VenueEventSink>(
        message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        var scanner = JSONScanner(message)
        var parsed = BinanceMessage()
        do {
            try parseFrame(&scanner, &parsed)
        } catch {
            try failed(error, parsed, receiveTime: receiveTime, sink: &sink)
        }
        try dispatch(&parsed, frame: message, receiveTime: receiveTime, buffered: false, sink: &sink, requests: &requests)
    }

    public mutating func handleSnapshot<Sink: VenueEventSink>(
        _ instrument: InstrumentId, body: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        let symbol = symbolIndex(of: instrument)
        guard symbol >= 0 else { throw .unexpectedMessage("snapshot for an instrument this connection does not carry") }
        var state = states[symbol]
        guard state.phase == .buffering else {
            symbolCounters[symbol].unexpectedSnapshots += 1
            return
        }
        // Parse the whole body before anything is emitted.
        var scanner = JSONScanner(body)
        var lastUpdateId: UInt64 = 0
        var hasLastUpdateId = false
        var eventTime: UInt64 = 0
        var bidCount = -1, askCount = -1
        var overflow = false
        do {
            try scanner.beginObject()
            while let key = try scanner.nextKey() {
                if key == "lastUpdateId" {
                    lastUpdateId = try scanner.binanceUInt64()
                    hasLastUpdateId = true
                } else if key == "bids" {
                    bidCount = try scanner.binanceLevels(
                        into: bids, capacity: levelsPerSide, priceScale: state.priceScale, quantityScale: state.quantityScale,
                        overflow: &overflow)
                } else if key == "asks" {
                    askCount = try scanner.binanceLevels(
                        into: asks, capacity: levelsPerSide, priceScale: state.priceScale, quantityScale: state.quantityScale,
                        overflow: &overflow)
                } else if key == "E" {
                    eventTime = try scanner.binanceUInt64()
                } else if key == "code" || key == "msg" {
                    state.snapshotOutstanding = false
                    states[symbol] = state
                    connection.rejections += 1
                    throw VenueError.venueRejected("REST depth snapshot refused: \(body.string)")
                } else {
                    try scanner.skipValue()
                }
            }
            guard scanner.isAtEnd() else { throw scanner.error(.unexpectedByte(scanner.peek() ?? 0)) }
            guard hasLastUpdateId else { throw scanner.error(.missingField("lastUpdateId")) }
            guard bidCount >= 0 else { throw scanner.error(.missingField("bids")) }
            guard askCount >= 0 else { throw scanner.error(.missingField("asks")) }
        } catch let error as JSONError {
            symbolCounters[symbol].parseErrors += 1
            refetch(symbol, requests: &requests)
            throw .malformed(error)
        } catch let error as VenueError {
            throw error
        } catch {
            throw .unexpectedMessage("snapshot")
        }
        guard !overflow else {
            symbolCounters[symbol].parseErrors += 1
            refetch(symbol, requests: &requests)
            throw .unexpectedMessage("snapshot with more levels a side than maxLevelsPerSide")
        }
        state.snapshotOutstanding = false
        states[symbol] = state

        // Spot step 4: a snapshot older than the first buffered event is fetched again.
        if Rules.snapshotPredatesBuffer(lastUpdateId: lastUpdateId, firstBufferedId: state.firstBufferedId) {
            symbolCounters[symbol].snapshotRefetches += 1
            refetch(symbol, requests: &requests)
            return
        }
        // Drop the events the snapshot contains; judge the first one left.
        let buffer = buffers + symbol * bufferBytes
        var offset = 0
        var remaining = state.bufferedEvents
        var dropped: UInt64 = 0
        while remaining > 0 {
            let header = (buffer + offset).load(as: BinanceBufferedEvent.self)
            guard Rules.isCoveredBySnapshot(header.ids, lastUpdateId: lastUpdateId) else { break }
            dropped += 1
            offset += BinanceBufferedEvent.recordSize(payload: header.length)
            remaining -= 1
        }
        if remaining > 0 {
            let first = (buffer + offset).load(as: BinanceBufferedEvent.self)
            switch Rules.firstEvent(first.ids, lastUpdateId: lastUpdateId, buffered: true) {
            case .apply, .useUpdateProcedure:
                break
            case .refetchSnapshot:
                symbolCounters[symbol].snapshotRefetches += 1
                refetch(symbol, requests: &requests)
                return
            case .gap:
                symbolCounters[symbol].eventsCoveredBySnapshot += dropped
                gap(symbol, receiveTime: receiveTime, sink: &sink)
                return
            }
        }
        symbolCounters[symbol].eventsCoveredBySnapshot += dropped

        // Set the book to the snapshot (its update id is lastUpdateId).
        let instrumentId = state.instrument
        sink.snapshotBegins(instrumentId, receiveTime: receiveTime)
        emitLevels(instrumentId, bidCount: bidCount, askCount: askCount, updateId: lastUpdateId,
                   eventTime: eventTime &* timeMultiplier, receiveTime: receiveTime, sink: &sink)
        sink.updateComplete(instrumentId, venueUpdateId: lastUpdateId, checksum: .none,
                            eventTime: eventTime &* timeMultiplier, receiveTime: receiveTime)
        symbolCounters[symbol].snapshotsApplied += 1
        states[symbol].phase = .synced
        states[symbol].awaitingFirstEvent = true
        states[symbol].snapshotUpdateId = lastUpdateId
        states[symbol].localUpdateId = lastUpdateId
        states[symbol].everSynced = true
        states[symbol].bufferUsed = 0
        states[symbol].bufferedEvents = 0

        // Replay what is left of the buffer through the update procedure. The bytes stay in
        // place while they are read: nothing is buffered again before the loop ends.
        while remaining > 0 {
            let header = (buffer + offset).load(as: BinanceBufferedEvent.self)
            let payload = ByteView(start: UnsafePointer((buffer + offset + BinanceBufferedEvent.headerSize).assumingMemoryBound(to: UInt8.self)),
                                   count: header.length)
            offset += BinanceBufferedEvent.recordSize(payload: header.length)
            remaining -= 1
            var replay = JSONScanner(payload)
            var parsed = BinanceMessage()
            do {
                try parseFrame(&replay, &parsed)
            } catch {
                symbolCounters[symbol].parseErrors += 1
                malformedBook(symbol, receiveTime: header.receiveTime, sink: &sink)
                return
            }
            guard parsed.kind == .depth, parsed.symbol == symbol else { continue }
            do throws(VenueError) {
                try dispatch(&parsed, frame: payload, receiveTime: header.receiveTime, buffered: true, sink: &sink, requests: &requests)
            } catch {
                return
            }
            // A gap during the replay restarted the symbol: the rest of the buffer is void.
            if states[symbol].phase != .synced { return }
        }
    }

    // MARK: parsing

    /// Scans a whole frame: a combined-stream wrapper (`stream`, `data` in any order), a raw
    /// event, a control reply or an error reply.
    @inlinable
    func parseFrame(_ scanner: inout JSONScanner, _ message: inout BinanceMessage) throws(JSONError) {
        try scanner.beginObject()
        message.payloadStart = 0
        while let key = try scanner.nextKey() {
            if key.count <= 2 && !(key.count == 2 && key == "id") {
                try parseEventField(key, &scanner, &message)
            } else if key == "data" {
                message.isCombined = true
                message.payloadStart = scanner.offset
                try scanner.beginObject()
                while let field = try scanner.nextKey() { try parseEventField(field, &scanner, &message) }
                message.payloadEnd = scanner.offset
            } else if key == "stream" {
                message.stream = try scanner.string()
            } else if key == "result" {
                message.hasResult = true
                try scanner.skipValue()
            } else if key == "id" {
                message.hasId = true
                try scanner.skipValue()
            } else if key == "code" {
                message.isError = true
                try scanner.skipValue()
            } else if key == "msg" {
                message.errorMessage = try scanner.peek() == UInt8(ascii: "\"") ? scanner.string() : nil
                if message.errorMessage == nil { try scanner.skipValue() }
            } else if key == "error" {
                message.isError = true
                if scanner.peek() == UInt8(ascii: "{") {
                    try scanner.beginObject()
                    while let field = try scanner.nextKey() {
                        if field == "msg" && scanner.peek() == UInt8(ascii: "\"") {
                            message.errorMessage = try scanner.string()
                        } else {
                            try scanner.skipValue()
                        }
                    }
                } else {
                    try scanner.skipValue()
                }
            } else {
                try parseEventField(key, &scanner, &message)
            }
        }
        guard scanner.isAtEnd() else { throw scanner.error(.unexpectedByte(scanner.peek() ?? 0)) }
        if !message.isCombined { message.payloadEnd = scanner.offset }
        // Levels that came before the symbol: parse them now that the scale is known.
        if _slowPath(message.deferredBids >= 0 || message.deferredAsks >= 0), message.symbol >= 0 {
            let state = states[message.symbol]
            if message.deferredBids >= 0 {
                var levels = JSONScanner(ByteView(start: scanner.start + message.deferredBids, count: scanner.end - scanner.start - message.deferredBids))
                message.bidCount = try levels.binanceLevels(into: bids, capacity: levelsPerSide, priceScale: state.priceScale,
                                                            quantityScale: state.quantityScale, overflow: &message.levelOverflow)
            }
            if message.deferredAsks >= 0 {
                var levels = JSONScanner(ByteView(start: scanner.start + message.deferredAsks, count: scanner.end - scanner.start - message.deferredAsks))
                message.askCount = try levels.binanceLevels(into: asks, capacity: levelsPerSide, priceScale: state.priceScale,
                                                            quantityScale: state.quantityScale, overflow: &message.levelOverflow)
            }
        }
    }

    /// One member of an event object (both stream kinds share the keys).
    @inlinable @inline(__always)
    func parseEventField(_ key: ByteView, _ scanner: inout JSONScanner, _ message: inout BinanceMessage) throws(JSONError) {
        if key.count == 1 {
            switch key[0] {
            case UInt8(ascii: "e"):
                let name = try scanner.string()
                message.stringEventName = name
                message.kind = Self.kind(of: name)
            case UInt8(ascii: "E"):
                message.eventTime = try scanner.binanceUInt64()
            case UInt8(ascii: "T"):
                message.transactionTime = try scanner.binanceUInt64()
            case UInt8(ascii: "s"):
                let name = try scanner.string()
                message.symbolText = name
                message.symbol = lookup.index(of: name, hint: lastSymbol)
            case UInt8(ascii: "U"):
                message.ids.first = try scanner.binanceUInt64()
                message.hasFirst = true
            case UInt8(ascii: "u"):
                message.ids.last = try scanner.binanceUInt64()
                message.hasLast = true
            case UInt8(ascii: "b"):
                if scanner.peek() == UInt8(ascii: "[") {
                    try levels(.bid, &scanner, &message)
                } else {
                    message.bidPrice = try scanner.numberText()
                }
            case UInt8(ascii: "a"):
                let next = scanner.peek()
                if next == UInt8(ascii: "[") {
                    try levels(.ask, &scanner, &message)
                } else if next == UInt8(ascii: "\"") {
                    message.askPrice = try scanner.string()
                } else {
                    // aggTrade: the aggregate trade id.
                    message.tradeId = try scanner.binanceUInt64()
                    message.hasTradeId = true
                }
            case UInt8(ascii: "B"):
                message.bidQuantity = try scanner.numberText()
            case UInt8(ascii: "A"):
                message.askQuantity = try scanner.numberText()
            case UInt8(ascii: "p"):
                message.price = try scanner.numberText()
            case UInt8(ascii: "q"):
                message.quantity = try scanner.numberText()
            case UInt8(ascii: "t"):
                message.tradeId = try scanner.binanceUInt64()
                message.hasTradeId = true
            case UInt8(ascii: "m"):
                message.maker = try scanner.bool()
            default:
                try scanner.skipValue()
            }
        } else if key.count == 2 && key[0] == UInt8(ascii: "p") && key[1] == UInt8(ascii: "u") {
            message.ids.previous = try scanner.binanceUInt64()
            message.hasPrevious = true
        } else {
            try scanner.skipValue()
        }
    }

    @inlinable @inline(__always)
    func levels(_ side: Side, _ scanner: inout JSONScanner, _ message: inout BinanceMessage) throws(JSONError) {
        guard _fastPath(message.symbol >= 0) else {
            // The symbol comes later: parse these levels once its scale is known.
            if side == .bid { message.deferredBids = scanner.offset } else { message.deferredAsks = scanner.offset }
            try scanner.skipValue()
            return
        }
        let state = states[message.symbol]
        var overflow = message.levelOverflow
        let count = try scanner.binanceLevels(into: side == .bid ? bids : asks, capacity: levelsPerSide, priceScale: state.priceScale,
                                              quantityScale: state.quantityScale, overflow: &overflow)
        message.levelOverflow = overflow
        if side == .bid { message.bidCount = count } else { message.askCount = count }
    }

    @inlinable
    static func kind(of name: ByteView) -> BinanceEventKind {
        if name == "depthUpdate" { return .depth }
        if name == "trade" { return .trade }
        if name == "aggTrade" { return .aggTrade }
        if name == "bookTicker" { return .bookTicker }
        if name == "serverShutdown" { return .serverShutdown }
        return .other
    }

    // MARK: dispatch

    @inlinable
    mutating func dispatch<Sink: VenueEventSink>(
        _ message: inout BinanceMessage, frame: ByteView, receiveTime: UInt64, buffered: Bool,
        sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        // inout: the parsed message (some 250 bytes) is classified in place, not copied per frame.
        if message.kind == .none {
            // Spot's book ticker has no "e"; a bare "b"/"a" level array is a depth event.
            if message.bidPrice != nil && message.askPrice != nil { message.kind = .bookTicker }
            else if message.bidCount >= 0 || message.askCount >= 0 || message.deferredBids >= 0 { message.kind = .depth }
        }
        switch message.kind {
        case .depth:
            let symbol = try attributed(message)
            guard _fastPath(message.hasFirst && message.hasLast && (message.hasPrevious || !Rules.requiresPreviousId)
                            && message.bidCount >= 0 && message.askCount >= 0 && !message.levelOverflow) else {
                symbolCounters[symbol].messages += 1
                symbolCounters[symbol].parseErrors += 1
                malformedBook(symbol, receiveTime: receiveTime, sink: &sink)
                if message.levelOverflow { throw .unexpectedMessage("depth event with more levels a side than maxLevelsPerSide") }
                throw .malformed(JSONError(.missingField(
                    !message.hasFirst ? "U" : !message.hasLast ? "u" : !message.hasPrevious && Rules.requiresPreviousId ? "pu"
                        : message.bidCount < 0 ? "b" : "a"), offset: 0))
            }
            if !buffered { symbolCounters[symbol].messages += 1 }
            depth(symbol, message, frame: frame, receiveTime: receiveTime, buffered: buffered, sink: &sink, requests: &requests)
        case .trade, .aggTrade:
            let symbol = try attributed(message)
            symbolCounters[symbol].messages += 1
            try trade(symbol, message, frame: frame, receiveTime: receiveTime, sink: &sink)
        case .bookTicker:
            let symbol = try attributed(message)
            symbolCounters[symbol].messages += 1
            try bookTicker(symbol, message, frame: frame, receiveTime: receiveTime, sink: &sink)
        case .serverShutdown:
            connection.controlMessages += 1
            connection.reconnectRequests += 1
            requests.append(.reconnect(reason: "Binance serverShutdown event"))
        case .none where message.isError:
            connection.rejections += 1
            throw .venueRejected(message.errorMessage?.string ?? "error reply without a message")
        case .none where message.hasResult || message.hasId:
            connection.controlMessages += 1
        case .none, .other:
            connection.unexpectedMessages += 1
            throw .unexpectedMessage(message.stringEventName.map { "event \($0.string)" } ?? "frame that is no Binance market-data event")
        }
    }

    /// The message's symbol index, or the error for an unknown/missing symbol.
    @inlinable @inline(__always)
    mutating func attributed(_ message: BinanceMessage) throws(VenueError) -> Int {
        guard _fastPath(message.symbol >= 0) else {
            if let text = message.symbolText {
                connection.unknownSymbolMessages += 1
                throw .unknownSymbol(text.string)
            }
            connection.unattributedParseErrors += 1
            throw .malformed(JSONError(.missingField("s"), offset: 0))
        }
        lastSymbol = message.symbol
        return message.symbol
    }

    /// A depth event for `symbol`, parsed and complete (levels in the scratch).
    @inlinable
    mutating func depth<Sink: VenueEventSink>(
        _ symbol: Int, _ message: BinanceMessage, frame: ByteView, receiveTime: UInt64, buffered: Bool,
        sink: inout Sink, requests: inout [VenueRequest]
    ) {
        let state = states[symbol]
        let ids = message.ids
        switch state.phase {
        case .synced:
            var decision = BinanceContinuity.apply
            if _slowPath(state.awaitingFirstEvent) {
                if Rules.isCoveredBySnapshot(ids, lastUpdateId: state.snapshotUpdateId) {
                    symbolCounters[symbol].eventsCoveredBySnapshot += 1
                    return
                }
                switch Rules.firstEvent(ids, lastUpdateId: state.snapshotUpdateId, buffered: buffered) {
                case .apply: decision = .apply
                case .useUpdateProcedure: decision = Rules.nextEvent(ids, localUpdateId: state.localUpdateId)
                case .refetchSnapshot, .gap: decision = .gap
                }
            } else {
                decision = Rules.nextEvent(ids, localUpdateId: state.localUpdateId)
            }
            switch decision {
            case .apply:
                states[symbol].localUpdateId = ids.last
                states[symbol].awaitingFirstEvent = false
                symbolCounters[symbol].depthUpdatesApplied += 1
                let eventTime = message.eventTime &* timeMultiplier
                emitLevels(state.instrument, bidCount: message.bidCount, askCount: message.askCount, updateId: ids.last,
                           eventTime: eventTime, receiveTime: receiveTime, sink: &sink)
                sink.updateComplete(state.instrument, venueUpdateId: ids.last, checksum: .none, eventTime: eventTime, receiveTime: receiveTime)
            case .ignoreStale:
                symbolCounters[symbol].staleEventsIgnored += 1
            case .gap:
                gap(symbol, receiveTime: receiveTime, sink: &sink)
                // The event that showed the gap is the first of the new buffer (doc step 2),
                // unless it came from the buffer being replayed (that memory is being read).
                if !buffered { startBuffer(symbol, message, frame: frame, receiveTime: receiveTime, requests: &requests) }
            }
        case .waitingForEvent:
            startBuffer(symbol, message, frame: frame, receiveTime: receiveTime, requests: &requests)
        case .buffering:
            if !append(symbol, message, frame: frame, receiveTime: receiveTime) {
                // Overflow: drop the buffer and start again with this event.
                symbolCounters[symbol].bufferOverflows += 1
                if states[symbol].everSynced { symbolCounters[symbol].resyncs += 1 }
                startBuffer(symbol, message, frame: frame, receiveTime: receiveTime, requests: &requests)
            }
        }
    }

    @inlinable @inline(__always)
    func emitLevels<Sink: VenueEventSink>(
        _ instrument: InstrumentId, bidCount: Int, askCount: Int, updateId: UInt64, eventTime: UInt64, receiveTime: UInt64,
        sink: inout Sink
    ) {
        let total = bidCount &+ askCount
        var delta = BookDelta(instrument: instrument, side: .bid, price: .zero, quantity: .zero, venueUpdateId: updateId,
                              eventTime: eventTime, receiveTime: receiveTime, isLastInUpdate: false)
        var index = 0
        while index < bidCount {
            delta.price = Price(mantissa: bids[index].price)
            delta.quantity = Quantity(mantissa: bids[index].quantity)
            index &+= 1
            delta.isLastInUpdate = index == total
            sink.bookDelta(delta)
        }
        delta.side = .ask
        index = 0
        while index < askCount {
            delta.price = Price(mantissa: asks[index].price)
            delta.quantity = Quantity(mantissa: asks[index].quantity)
            index &+= 1
            delta.isLastInUpdate = bidCount &+ index == total
            sink.bookDelta(delta)
        }
    }

    // MARK: trades and tickers

    @inlinable
    mutating func trade<Sink: VenueEventSink>(
        _ symbol: Int, _ message: BinanceMessage, frame: ByteView, receiveTime: UInt64, sink: inout Sink
    ) throws(VenueError) {
        let state = states[symbol]
        guard let priceText = message.price, let quantityText = message.quantity, let maker = message.maker, message.hasTradeId else {
            symbolCounters[symbol].parseErrors += 1
            throw .malformed(JSONError(.missingField(message.price == nil ? "p" : message.quantity == nil ? "q" : message.maker == nil ? "m" : "t"), offset: 0))
        }
        let price: Int64, quantity: Int64
        do {
            price = try Self.decimal(priceText, in: frame, scale: state.priceScale)
            quantity = try Self.decimal(quantityText, in: frame, scale: state.quantityScale)
        } catch {
            symbolCounters[symbol].parseErrors += 1
            throw .malformed(JSONError(.decimal(error), offset: 0))
        }
        symbolCounters[symbol].trades += 1
        let time = message.transactionTime != 0 ? message.transactionTime : message.eventTime
        // `m`: the buyer is the maker, so the aggressor sold.
        sink.trade(Trade(instrument: state.instrument, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity),
                         aggressor: maker ? .ask : .bid, tradeId: message.tradeId, eventTime: time &* timeMultiplier,
                         receiveTime: receiveTime))
    }

    @inlinable
    mutating func bookTicker<Sink: VenueEventSink>(
        _ symbol: Int, _ message: BinanceMessage, frame: ByteView, receiveTime: UInt64, sink: inout Sink
    ) throws(VenueError) {
        let state = states[symbol]
        guard let bidText = message.bidPrice, let bidQuantityText = message.bidQuantity,
              let askText = message.askPrice, let askQuantityText = message.askQuantity else {
            symbolCounters[symbol].parseErrors += 1
            throw .malformed(JSONError(.missingField(message.bidPrice == nil ? "b" : message.bidQuantity == nil ? "B"
                : message.askPrice == nil ? "a" : "A"), offset: 0))
        }
        let values: (Int64, Int64, Int64, Int64)
        do {
            values = (try Self.decimal(bidText, in: frame, scale: state.priceScale),
                      try Self.decimal(bidQuantityText, in: frame, scale: state.quantityScale),
                      try Self.decimal(askText, in: frame, scale: state.priceScale),
                      try Self.decimal(askQuantityText, in: frame, scale: state.quantityScale))
        } catch {
            symbolCounters[symbol].parseErrors += 1
            throw .malformed(JSONError(.decimal(error), offset: 0))
        }
        symbolCounters[symbol].bookTickers += 1
        let time = message.transactionTime != 0 ? message.transactionTime : message.eventTime
        sink.bestBidOffer(BestBidOffer(
            instrument: state.instrument, bidPrice: Price(mantissa: values.0), bidQuantity: Quantity(mantissa: values.1),
            askPrice: Price(mantissa: values.2), askQuantity: Quantity(mantissa: values.3),
            venueUpdateId: message.ids.last, eventTime: time &* timeMultiplier, receiveTime: receiveTime))
    }

    /// A decimal field kept as a view into `frame` (parsed once the symbol's scale is known).
    /// The view is short ("2681.62"), too short for a word read inside it, but the frame goes
    /// on: read plain digits word-at-a-time up to the frame's end, and the number is the
    /// view's when the reading stops exactly where the view ends (at its closing quote or
    /// separator); anything else is the general parser's.
    @inlinable @inline(__always)
    static func decimal(_ text: ByteView, in frame: ByteView, scale: Scale) throws(DecimalParseError) -> Int64 {
        var cursor = text.start
        if let value = DecimalText.parsePlain(&cursor, end: frame.start + frame.count, scaleDigits: Int(scale.digits),
                                              multiplier: DecimalText.powerOfTen(scale)),
           _fastPath(cursor == text.start + text.count) {
            return value
        }
        return try DecimalText.parse(text.start, count: text.count, scale: scale)
    }

    // MARK: failures and restarts

    /// A frame that did not scan: count it where it belongs, resync a book it may have changed.
    @usableFromInline
    mutating func failed<Sink: VenueEventSink>(
        _ error: JSONError, _ message: BinanceMessage, receiveTime: UInt64, sink: inout Sink
    ) throws(VenueError) -> Never {
        var symbol = message.symbol
        var isBook = message.kind == .depth || message.bidCount >= 0 || message.askCount >= 0 || message.hasFirst
        if let stream = message.stream {
            // "<symbol>@<kind>": attribute by the stream name when data.s was not reached.
            var at = 0
            while at < stream.count && stream[at] != UInt8(ascii: "@") { at += 1 }
            if symbol < 0 { symbol = lookup.index(of: ByteView(start: stream.start, count: at), hint: -1) }
            if at + 6 <= stream.count && ByteView(start: stream.start + at + 1, count: 5) == "depth" { isBook = true }
        }
        guard symbol >= 0 else {
            connection.unattributedParseErrors += 1
            throw .malformed(error)
        }
        symbolCounters[symbol].messages += 1
        symbolCounters[symbol].parseErrors += 1
        // The book may be missing this update: resync it (a lost diff would also show as a gap).
        if isBook { malformedBook(symbol, receiveTime: receiveTime, sink: &sink) }
        throw .malformed(error)
    }

    @usableFromInline
    mutating func malformedBook<Sink: VenueEventSink>(_ symbol: Int, receiveTime: UInt64, sink: inout Sink) {
        symbolCounters[symbol].malformedBookMessages += 1
        restart(symbol, reason: .malformedMessage, receiveTime: receiveTime, sink: &sink)
    }

    @usableFromInline
    mutating func gap<Sink: VenueEventSink>(_ symbol: Int, receiveTime: UInt64, sink: inout Sink) {
        symbolCounters[symbol].gaps += 1
        restart(symbol, reason: .sequenceGap, receiveTime: receiveTime, sink: &sink)
    }

    /// The book is wrong: say so, forget the buffer and sync state; the next depth event
    /// begins a new buffer and the snapshot is fetched.
    @usableFromInline
    mutating func restart<Sink: VenueEventSink>(_ symbol: Int, reason: BookStatus.Reason, receiveTime: UInt64, sink: inout Sink) {
        if states[symbol].everSynced || states[symbol].phase == .synced { symbolCounters[symbol].resyncs += 1 }
        reset(symbol)
        sink.bookInvalid(states[symbol].instrument, reason: reason, receiveTime: receiveTime)
    }

    @usableFromInline
    mutating func reset(_ symbol: Int) {
        states[symbol].phase = .waitingForEvent
        states[symbol].awaitingFirstEvent = false
        states[symbol].bufferUsed = 0
        states[symbol].bufferedEvents = 0
    }

    @usableFromInline
    mutating func refetch(_ symbol: Int, requests: inout [VenueRequest]) {
        states[symbol].snapshotOutstanding = true
        symbolCounters[symbol].snapshotRequests += 1
        requests.append(.fetchSnapshot(states[symbol].instrument, url: snapshotURLs[symbol]))
    }

    /// Empties the buffer, buffers this event as the first (its `U` is the one step 4
    /// compares with), and fetches the snapshot unless a fetch is already under way.
    @usableFromInline
    mutating func startBuffer(_ symbol: Int, _ message: BinanceMessage, frame: ByteView, receiveTime: UInt64, requests: inout [VenueRequest]) {
        states[symbol].phase = .buffering
        states[symbol].awaitingFirstEvent = false
        states[symbol].bufferUsed = 0
        states[symbol].bufferedEvents = 0
        states[symbol].firstBufferedId = message.ids.first
        if !append(symbol, message, frame: frame, receiveTime: receiveTime) {
            // Larger than the whole buffer: nothing can be synced from it; wait for the next.
            symbolCounters[symbol].bufferOverflows += 1
            states[symbol].phase = .waitingForEvent
            return
        }
        if !states[symbol].snapshotOutstanding { refetch(symbol, requests: &requests) }
    }

    /// Copies the event's raw payload into the symbol's buffer; false when it does not fit.
    @usableFromInline
    mutating func append(_ symbol: Int, _ message: BinanceMessage, frame: ByteView, receiveTime: UInt64) -> Bool {
        let length = message.payloadEnd - message.payloadStart
        let used = states[symbol].bufferUsed
        let size = BinanceBufferedEvent.recordSize(payload: length)
        guard used + size <= bufferBytes else { return false }
        let record = buffers + symbol * bufferBytes + used
        record.storeBytes(of: BinanceBufferedEvent(ids: message.ids, receiveTime: receiveTime, length: length), as: BinanceBufferedEvent.self)
        (record + BinanceBufferedEvent.headerSize).copyMemory(from: frame.start + message.payloadStart, byteCount: length)
        states[symbol].bufferUsed = used + size
        states[symbol].bufferedEvents += 1
        symbolCounters[symbol].eventsBuffered += 1
        return true
    }
}
