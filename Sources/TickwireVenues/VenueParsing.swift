import TickwireCore

// Parts shared by the Bybit, OKX, Coinbase and Kraken adapters: the adapter skeleton
// (`SnapshotStreamAdapter`: frame scan, dispatch, refusal and resubscription), symbol lookup
// without hashing or Strings, the preallocated scratch a book message is parsed into before
// any event is emitted, level arrays, trade objects, millisecond and ISO-8601 times, trade ids.

/// Why an adapter cannot be built from its configuration (set-up time only).
public enum VenueSetupError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupportedDepth(venue: Venue, depth: Int, supported: [Int])
    case duplicateSymbol(String)
    /// Empty, or a byte that cannot go into a subscribe request unescaped.
    case invalidSymbol(String)
    case noSymbols

    public var description: String {
        switch self {
        case .unsupportedDepth(let venue, let depth, let supported):
            "\(venue.name): depth \(depth) is not one of \(supported.map(String.init).joined(separator: ", "))"
        case .duplicateSymbol(let symbol): "symbol \(symbol) is listed twice"
        case .invalidSymbol(let symbol): "symbol '\(symbol)' is empty or has a quote, backslash or control character"
        case .noSymbols: "no symbols to subscribe to"
        }
    }
}

/// The subscribed symbols of one adapter, found by their bytes in a frame (linear scan over
/// one contiguous byte array: a feeder connection carries tens of symbols, not thousands).
struct SymbolIndex {
    let symbols: [VenueSymbol]
    private let bytes: [UInt8]
    /// Start offset of symbol `i` in `bytes` is `offsets[i]`, its end `offsets[i + 1]`.
    private let offsets: [Int]
    /// The largest instrument index + 1, for per-instrument counter tables.
    let instrumentCapacity: Int
    /// Per local index, copied out of `symbols` so the hot path reads plain values.
    let instruments: [InstrumentId]
    let priceScales: [Scale]
    let quantityScales: [Scale]

    init(_ symbols: [VenueSymbol]) throws(VenueSetupError) {
        guard !symbols.isEmpty else { throw .noSymbols }
        var bytes: [UInt8] = []
        var offsets = [0]
        for (index, symbol) in symbols.enumerated() {
            let utf8 = Array(symbol.name.utf8)
            guard !utf8.isEmpty, !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                throw .invalidSymbol(symbol.name)
            }
            if symbols[..<index].contains(where: { $0.name == symbol.name }) { throw .duplicateSymbol(symbol.name) }
            bytes += utf8
            offsets.append(bytes.count)
        }
        self.symbols = symbols
        self.bytes = bytes
        self.offsets = offsets
        instrumentCapacity = (symbols.map(\.instrument.index).max() ?? 0) + 1
        instruments = symbols.map(\.instrument)
        priceScales = symbols.map(\.priceScale)
        quantityScales = symbols.map(\.quantityScale)
    }

    typealias Scales = (price: Scale, quantity: Scale)

    /// The price and quantity scales of local symbol `symbol`.
    func scales(_ symbol: Int) -> Scales {
        (priceScales[symbol], quantityScales[symbol])
    }

    /// The local index of `instrument`, if this adapter feeds it.
    func local(_ instrument: InstrumentId) -> Int? {
        instruments.firstIndex(of: instrument)
    }

    var count: Int { symbols.count }

    /// The local index of `name`, or -1 when it is not subscribed; then `unknown` keeps the
    /// message's first such name (for the error once the whole message has parsed).
    func find(_ name: ByteView, noting unknown: inout ByteView?) -> Int {
        if let symbol = find(name) { return symbol }
        if unknown == nil { unknown = name }
        return -1
    }

    /// The local index (position in `symbols`) of the symbol spelled `name`, if subscribed.
    func find(_ name: ByteView) -> Int? {
        bytes.withUnsafeBufferPointer { all -> Int? in
            offsets.withUnsafeBufferPointer { offsets -> Int? in
                var index = 0
                while index &+ 1 < offsets.count {
                    let start = offsets[index]
                    if offsets[index &+ 1] &- start == name.count && equalBytes(all.baseAddress! + start, name.start, name.count) {
                        return index
                    }
                    index &+= 1
                }
                return nil
            }
        }
    }
}

/// One price level read from a message, not yet applied.
struct ParsedLevel {
    var price: Int64
    var quantity: Int64
    var side: Side
}

/// One book entry of a message (one symbol's part of it): what the sync rule needs, and
/// where its levels sit in `BookScratch.levels`.
struct BookEntry {
    /// Local symbol index, -1 until known.
    var symbol = -1
    var isSnapshot = false
    /// The venue's id of this update (Bybit `u`, OKX `seqId`, Kraken time…).
    var updateId: UInt64 = 0
    /// The venue's previous id when it sends one (OKX `prevSeqId`).
    var previousId: Int64 = -1
    /// The entry carried the venue's sequence field(s) (OKX older API versions do not).
    var hasSequence = false
    var checksum: VenueChecksum = .none
    var eventTime: UInt64 = 0
    var firstLevel = 0
    var levelCount = 0
}

/// The preallocated scratch a message's book entries and levels are parsed into, so that a
/// malformed or truncated message is refused before any event is emitted (never half-applied).
/// Capacity is fixed at set-up; a message with more levels or entries sets `overflowed`
/// (the parse still runs to the end, validating, but stores nothing more).
struct BookScratch {
    var levels: [ParsedLevel]
    var entries: [BookEntry]
    private(set) var levelCount = 0
    private(set) var entryCount = 0
    private(set) var overflowed = false
    /// The entry levels are being added to, -1 when none (or it did not fit).
    private var current = -1

    static let defaultEntryCapacity = 16

    init(levelCapacity: Int, entryCapacity: Int = BookScratch.defaultEntryCapacity) {
        precondition(levelCapacity > 0 && entryCapacity > 0)
        levels = Array(repeating: ParsedLevel(price: 0, quantity: 0, side: .bid), count: levelCapacity)
        entries = Array(repeating: BookEntry(), count: entryCapacity)
    }

    mutating func reset() {
        levelCount = 0
        entryCount = 0
        overflowed = false
        current = -1
    }

    /// Opens a new entry; its index, or -1 if the scratch has no room (then `overflowed`).
    mutating func beginEntry() -> Int {
        guard entryCount < entries.count else {
            overflowed = true
            current = -1
            return -1
        }
        current = entryCount
        entries[current] = BookEntry()
        entries[current].firstLevel = levelCount
        entryCount &+= 1
        return current
    }

    mutating func append(_ side: Side, price: Int64, quantity: Int64) {
        guard current >= 0, levelCount < levels.count else {
            overflowed = true
            return
        }
        levels[levelCount] = ParsedLevel(price: price, quantity: quantity, side: side)
        levelCount &+= 1
        entries[current].levelCount &+= 1
    }

    /// Emits entry `index` to `sink`: `snapshotBegins` for a snapshot, its levels as deltas,
    /// then the one `updateComplete`.
    ///
    /// With `deletesFirst` (Kraken, whose books are truncated to the subscribed depth by a
    /// book of exactly that capacity), an update's deletions are applied before its inserts,
    /// so a level deleted in the same message makes room for one inserted deeper instead of
    /// the insert being dropped: the result then equals "apply everything, then truncate".
    /// If a price appears twice on one side in the message, message order is kept.
    func emit<Sink: VenueEventSink>(
        _ index: Int, instrument: InstrumentId, deletesFirst: Bool, receiveTime: UInt64, sink: inout Sink
    ) {
        let entry = entries[index]
        if entry.isSnapshot { sink.snapshotBegins(instrument, receiveTime: receiveTime) }
        let end = entry.firstLevel &+ entry.levelCount
        var template = BookDelta(
            instrument: instrument, side: .bid, price: .zero, quantity: .zero,
            venueUpdateId: entry.updateId, eventTime: entry.eventTime, receiveTime: receiveTime, isLastInUpdate: false)
        var emitted = 0
        func send(_ level: ParsedLevel) {
            emitted &+= 1
            template.side = level.side
            template.price = Price(mantissa: level.price)
            template.quantity = Quantity(mantissa: level.quantity)
            template.isLastInUpdate = emitted == entry.levelCount
            sink.bookDelta(template)
        }
        if deletesFirst && !entry.isSnapshot && reorderingIsSafe(entry) {
            for position in entry.firstLevel..<end where levels[position].quantity == 0 { send(levels[position]) }
            for position in entry.firstLevel..<end where levels[position].quantity != 0 { send(levels[position]) }
        } else {
            for position in entry.firstLevel..<end { send(levels[position]) }
        }
        sink.updateComplete(instrument, venueUpdateId: entry.updateId, checksum: entry.checksum,
                            eventTime: entry.eventTime, receiveTime: receiveTime)
    }

    /// True when the entry mixes deletes and inserts and no price repeats on a side.

    func reorderingIsSafe(_ entry: BookEntry) -> Bool {
        let end = entry.firstLevel &+ entry.levelCount
        var deletes = false
        var inserts = false
        for position in entry.firstLevel..<end {
            if levels[position].quantity == 0 { deletes = true } else { inserts = true }
        }
        guard deletes && inserts else { return false }
        for first in entry.firstLevel..<end {
            var second = first &+ 1
            while second < end {
                if levels[first].price == levels[second].price && levels[first].side == levels[second].side { return false }
                second &+= 1
            }
        }
        return true
    }
}

/// Trades of one message, held until the whole message has parsed.
struct TradeScratch {
    var trades: [Trade]
    private(set) var count = 0
    private(set) var overflowed = false

    init(capacity: Int) {
        precondition(capacity > 0)
        trades = Array(repeating: Trade(instrument: InstrumentId(0), price: .zero, quantity: .zero, aggressor: .bid,
                                        tradeId: 0, eventTime: 0, receiveTime: 0), count: capacity)
    }

    mutating func reset() {
        count = 0
        overflowed = false
    }

    mutating func append(_ trade: Trade) {
        guard count < trades.count else {
            overflowed = true
            return
        }
        trades[count] = trade
        count &+= 1
    }

    /// Forgets the trades appended after the first `count` (a part of the message not to publish).
    mutating func truncate(to count: Int) {
        self.count = min(self.count, count)
    }

    func emit<Sink: VenueEventSink>(to sink: inout Sink) {
        for index in 0..<count { sink.trade(trades[index]) }
    }
}

/// What the shared adapter skeleton needs to know of a venue's message format.
struct StreamFormat {
    /// The venue as the refusal of REST snapshots names it ("Bybit").
    var name: String
    /// The top-level member holding the message's book entries or trades.
    var data: StaticString
    /// A book message's data is an array of entries (not one object, as Bybit's is).
    var booksInArray: Bool
    /// Why a message was refused that the scratches could not hold (Bybit, OKX: a book message).
    var overflow: String
    var trade: TradeSpelling
}

/// How a venue spells the members of one trade object.
struct TradeSpelling {
    /// The member naming the trade's symbol, where each trade names its own (Coinbase, Kraken).
    var symbol: StaticString?
    var price: StaticString
    var quantity: StaticString
    /// The member giving the aggressor's side, and its values for a buying and a selling aggressor.
    var side: StaticString
    var buy: StaticString
    var sell: StaticString
    var id: StaticString
    /// The trade time: ISO-8601 text (Coinbase, Kraken) or epoch milliseconds (Bybit, OKX).
    var time: StaticString
    var isoTime: Bool
    /// The errors for a side that is neither value and for a trade missing a member.
    var badSide: StaticString
    var missing: StaticString
}

/// An application ping every `interval` while connected (Bybit, OKX).
struct Keepalive {
    let interval: UInt64
    let ping: String
    private var isConnected = false
    private var last: UInt64 = 0

    init(interval: UInt64, ping: String) {
        self.interval = interval
        self.ping = ping
    }

    mutating func connected(at time: UInt64) {
        isConnected = true
        last = time
    }

    mutating func tick(now: UInt64, requests: inout [VenueRequest]) {
        guard isConnected, now &- last >= interval else { return }
        last = now
        requests.append(.sendText(ping))
    }
}

/// Nanoseconds per unit, for the venues' time fields.
enum VenueTime {
    static let nanosecondsPerMillisecond: UInt64 = 1_000_000
    static let nanosecondsPerSecond: UInt64 = 1_000_000_000
}

extension ByteView {
    /// Whether the bytes start with `prefix`.
    func hasPrefix(_ prefix: StaticString) -> Bool {
        count >= prefix.utf8CodeUnitCount && equalBytes(start, prefix.utf8Start, prefix.utf8CodeUnitCount)
    }

    /// The bytes after the last `separator` (all of them if there is none).
    func suffix(afterLast separator: UInt8) -> ByteView {
        var index = count &- 1
        while index >= 0 {
            if self[index] == separator { return ByteView(start: start + index + 1, count: count &- index &- 1) }
            index &-= 1
        }
        return self
    }
}

/// FNV-1a, 64 bit: the digest of a trade id that is not a number (Bybit's UUIDs, which
/// cannot be looked up at the venue from the digest but de-duplicate fine).

func fnv1a64(_ bytes: ByteView) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    var index = 0
    while index < bytes.count {
        hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01B3
        index &+= 1
    }
    return hash
}

extension JSONScanner {
    /// `[["price","qty",…],…]` (Bybit; OKX adds deprecated and order-count elements, skipped)
    /// into `scratch` as levels of `side`, at the symbol's `scales`.
    mutating func levelPairs(_ side: Side, _ scales: SymbolIndex.Scales, into scratch: inout BookScratch) throws(JSONError) {
        try beginArray()
        while try nextElement() {
            try beginArray()
            guard try nextElement() else { throw error(.missingField("level price")) }
            let price = try decimal(scale: scales.price)
            guard try nextElement() else { throw error(.missingField("level quantity")) }
            let quantity = try decimal(scale: scales.quantity)
            while try nextElement() { try skipValue() }
            guard price > 0, quantity >= 0 else { throw error(.missingField("positive level price and quantity")) }
            scratch.append(side, price: price, quantity: quantity)
        }
    }

    /// One trade object, its members spelled as `spelling` says, appended to `trades`. The
    /// decimals stay text until the symbol (whose scales they need) is known: `symbol` when
    /// the message names it (Bybit's topic, OKX's `arg`), else the object's own
    /// `spelling.symbol` member. A trade of a symbol not subscribed is skipped (`unknown`
    /// keeps the name). A bad decimal is reported at its own offset.
    mutating func trade(
        _ spelling: TradeSpelling, symbol messageSymbol: Int?, index: SymbolIndex, unknown: inout ByteView?,
        receiveTime: UInt64, into trades: inout TradeScratch
    ) throws(JSONError) {
        var symbol = messageSymbol
        var price: ByteView?, quantity: ByteView?, aggressor: Side?, time: UInt64?
        var id: (id: UInt64, isDigest: Bool) = (0, false)
        try beginObject()
        while let key = try nextKey() {
            if key == spelling.price {
                price = try numberText()
            } else if key == spelling.quantity {
                quantity = try numberText()
            } else if key == spelling.side {
                let text = try string()
                aggressor = text == spelling.buy ? .bid : text == spelling.sell ? .ask : nil
                guard aggressor != nil else { throw error(.missingField(spelling.badSide)) }
            } else if key == spelling.id {
                id = try tradeId()
            } else if key == spelling.time {
                time = spelling.isoTime ? try isoTimestampNanoseconds() : try millisecondsAsNanoseconds()
            } else if messageSymbol == nil, let member = spelling.symbol, key == member {
                symbol = index.find(try string(), noting: &unknown)
            } else {
                try skipValue()
            }
        }
        guard let symbol, let price, let quantity, let aggressor, let time else { throw error(.missingField(spelling.missing)) }
        guard symbol >= 0 else { return }
        let scales = index.scales(symbol)
        let priceValue = try decimal(price, scale: scales.price)
        let quantityValue = try decimal(quantity, scale: scales.quantity)
        trades.append(Trade(instrument: index.instruments[symbol], price: Price(mantissa: priceValue), quantity: Quantity(mantissa: quantityValue),
                            aggressor: aggressor, tradeId: id.id, isTradeIdDigest: id.isDigest, eventTime: time, receiveTime: receiveTime))
    }

    /// Number text read earlier from this frame, as an exact mantissa (errors at its offset).
    func decimal(_ text: ByteView, scale: Scale) throws(JSONError) -> Int64 {
        do {
            return try DecimalText.parse(text.start, count: text.count, scale: scale)
        } catch let failure {
            throw JSONError(.decimal(failure), offset: text.start - start)
        }
    }

    /// A string member saying what a book message is: true for `snapshot`, false for
    /// `update` (the venue's word); anything else is refused as `missing`.
    mutating func isSnapshot(else update: StaticString, missing: StaticString) throws(JSONError) -> Bool {
        let type = try string()
        guard type == "snapshot" || type == update else { throw JSONError(.missingField(missing), offset: offset) }
        return type == "snapshot"
    }

    /// A time in milliseconds since the epoch (quoted or bare), as nanoseconds.
    mutating func millisecondsAsNanoseconds() throws(JSONError) -> UInt64 {
        let origin = offset
        let (value, overflow) = try uint64().multipliedReportingOverflow(by: VenueTime.nanosecondsPerMillisecond)
        guard !overflow else { throw JSONError(.invalidInteger, offset: origin) }
        return value
    }

    /// A trade id: a decimal number (quoted or bare) that fits 64 bits is used as it is;
    /// anything else (a UUID) is digested with FNV-1a 64 and flagged as a digest.
    mutating func tradeId() throws(JSONError) -> (id: UInt64, isDigest: Bool) {
        skipWhitespace()
        let text: ByteView
        if position < end && position.pointee == UInt8(ascii: "\"") { text = try string() } else { text = try numberText() }
        var value: UInt64 = 0
        var index = 0
        var numeric = text.count > 0 && text.count <= 20
        while numeric && index < text.count {
            let digit = text[index] &- UInt8(ascii: "0")
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            numeric = digit < 10 && !o1 && !o2
            value = sum
            index &+= 1
        }
        return numeric ? (value, false) : (fnv1a64(text), true)
    }

    /// An ISO-8601 UTC time string, `YYYY-MM-DDTHH:MM:SS[.f…]Z` with up to 9 fraction
    /// digits (Coinbase, Kraken), as nanoseconds since the epoch. No Foundation, no calendar
    /// tables: days from the civil date (proleptic Gregorian).
    mutating func isoTimestampNanoseconds() throws(JSONError) -> UInt64 {
        let text = try string()
        let base = text.start - start
        var index = 0
        func fail() -> JSONError {
            index < text.count ? JSONError(.unexpectedByte(text[index]), offset: base + index) : JSONError(.truncated, offset: base + index)
        }
        func digits(_ count: Int) throws(JSONError) -> Int {
            var value = 0
            for _ in 0..<count {
                guard index < text.count else { throw fail() }
                let digit = text[index] &- UInt8(ascii: "0")
                guard digit < 10 else { throw fail() }
                value = value * 10 + Int(digit)
                index += 1
            }
            return value
        }
        func expect(_ byte: UInt8) throws(JSONError) {
            guard index < text.count, text[index] == byte else { throw fail() }
            index += 1
        }
        let year = try digits(4)
        try expect(UInt8(ascii: "-"))
        let month = try digits(2)
        try expect(UInt8(ascii: "-"))
        let day = try digits(2)
        try expect(UInt8(ascii: "T"))
        let hour = try digits(2)
        try expect(UInt8(ascii: ":"))
        let minute = try digits(2)
        try expect(UInt8(ascii: ":"))
        let second = try digits(2)
        var nanos = 0
        if index < text.count && text[index] == UInt8(ascii: ".") {
            index += 1
            var fractionDigits = 0
            while index < text.count, text[index] &- UInt8(ascii: "0") < 10 {
                guard fractionDigits < 9 else { throw fail() }
                nanos = nanos * 10 + Int(text[index] &- UInt8(ascii: "0"))
                fractionDigits += 1
                index += 1
            }
            guard fractionDigits > 0 else { throw fail() }
            for _ in fractionDigits..<9 { nanos *= 10 }
        }
        try expect(UInt8(ascii: "Z"))
        guard index == text.count else { throw fail() }
        guard year >= 1970, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
            throw JSONError(.missingField("a valid ISO-8601 UTC time"), offset: base)
        }
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let monthIndex = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = UInt64(days) * 86_400 + UInt64(hour * 3600 + minute * 60 + second)
        return seconds * VenueTime.nanosecondsPerSecond + UInt64(nanos)
    }
}

extension VenueCounters {
    /// A message that failed to parse: charged to its symbol when known.
    mutating func countParseError(_ instrument: InstrumentId?) {
        if let instrument { self[instrument].parseErrors += 1 } else { unattributedParseErrors += 1 }
    }
}

// MARK: - the adapter skeleton

/// What a venue message is, as its header says.
enum MessageKind {
    /// Not (yet) known: data before the member that says waits for it.
    case none
    case book
    case trade
    /// Heartbeats, status, subscription notices (Coinbase, Kraken).
    case control
    /// A reply to a request (Kraken's `method`, OKX's `event`).
    case reply
    /// A channel or topic this adapter does not subscribe.
    case other
}

/// What the shared skeleton reads of a venue's parsed message header.
protocol MessageHeader {
    init()
    var kind: MessageKind { get }
    /// The message's one symbol (Bybit's topic, OKX's `arg`): its local index, -1 when not
    /// subscribed; nil where each book entry and trade names its own (Coinbase, Kraken).
    var messageSymbol: Int? { get }
    /// The name of a symbol the book or trade message named that is not subscribed.
    var unknownSymbol: String? { get }
    /// A member a complete message of its kind must have and did not (checked at the end).
    var missingMember: StaticString? { get }
}

/// The header of a venue whose every message is one symbol's (Bybit's topic, OKX's `arg`).
protocol SymbolMessageHeader: MessageHeader {
    /// Local index, -1 when not subscribed (or not named).
    var symbol: Int { get }
    var symbolName: ByteView? { get set }
}

extension SymbolMessageHeader {
    var messageSymbol: Int? { symbol }
    var unknownSymbol: String? { symbol >= 0 ? nil : symbolName?.string ?? "" }
}

/// The header of a venue whose book entries and trades each name their symbol (Coinbase, Kraken).
protocol EntryMessageHeader: MessageHeader {
    /// The first name in the message that is not subscribed.
    var unknownName: ByteView? { get set }
}

extension EntryMessageHeader {
    var messageSymbol: Int? { nil }
    var unknownSymbol: String? { unknownName?.string }
}

/// The skeleton the Bybit, OKX, Coinbase and Kraken adapters share. Their books start from
/// WebSocket snapshots; a message is parsed whole into the scratches before anything is
/// emitted, and a malformed or oversized one is refused, charged to its symbols, and their
/// books invalidated and resubscribed (each venue's only recovery). A venue supplies its
/// members, its book sync rule and its control messages.
protocol SnapshotStreamAdapter: VenueAdapter {
    associatedtype Header: MessageHeader
    static var format: StreamFormat { get }

    var counters: VenueCounters { get set }
    var index: SymbolIndex { get }
    var synced: [Bool] { get set }
    var scratch: BookScratch { get set }
    var trades: TradeScratch { get set }

    /// Reads (or skips) one top-level member other than the data.
    mutating func parseMember(_ key: ByteView, _ s: inout JSONScanner, _ header: inout Header) throws(JSONError)
    /// One book entry of the data into `scratch`.
    mutating func parseBook(_ s: inout JSONScanner, _ header: inout Header) throws(JSONError)
    /// One element of a trade message's data into `trades`.
    mutating func parseTrade(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError)
    /// A parsed message's message-wide rules, before it is dispatched (default: none).
    mutating func accept<Sink: VenueEventSink>(
        _ header: Header, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError)
    /// A parsed message that is no book or trade message: counted, or thrown.
    mutating func other(_ header: Header) throws(VenueError)
    /// Why the scratches could not hold a message of `kind`; nil when they did.
    func overflow(_ kind: MessageKind) -> String?
    /// The venue's sync rule over the parsed entries of a book message of subscribed symbols.
    mutating func applyBook<Sink: VenueEventSink>(
        _ header: Header, message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError)
    /// Counts and emits the parsed trades of a trade message of subscribed symbols.
    mutating func publishTrades<Sink: VenueEventSink>(_ header: Header, sink: inout Sink)
    /// A message that did not parse: `failed` (Coinbase counts its sequence number first).
    mutating func parseFailed<Sink: VenueEventSink>(
        _ header: Header, _ error: JSONError, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) -> VenueError
    /// Unsubscribes and subscribes `symbol`'s book (a snapshot follows); see `unsync`.
    mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest])
}

extension SnapshotStreamAdapter where Header: SymbolMessageHeader {
    func overflow(_ kind: MessageKind) -> String? {
        if kind == .book { return scratch.overflowed ? Self.format.overflow : nil }
        return trades.overflowed ? "trade message with more trades than the parse scratch holds" : nil
    }

    /// A trade message is one message of its symbol.
    mutating func publishTrades<Sink: VenueEventSink>(_ header: Header, sink: inout Sink) {
        counters[index.instruments[header.symbol]].messages += 1
        trades.emit(to: &sink)
    }

    /// (Only called for a subscribed symbol, so `unknown` is never written.)
    mutating func parseTrade(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        try s.trade(Self.format.trade, symbol: header.symbol, index: index, unknown: &header.symbolName,
                    receiveTime: receiveTime, into: &trades)
    }
}

extension SnapshotStreamAdapter where Header: EntryMessageHeader {
    func overflow(_ kind: MessageKind) -> String? {
        scratch.overflowed || trades.overflowed ? Self.format.overflow : nil
    }

    mutating func parseTrade(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        try s.trade(Self.format.trade, symbol: nil, index: index, unknown: &header.unknownName,
                    receiveTime: receiveTime, into: &trades)
    }

    /// Emits each parsed entry once a snapshot has synced its symbol's book; every entry counts
    /// as a message of its symbol. `complete` gives an entry what the message holds for all.
    mutating func applyEntries<Sink: VenueEventSink>(
        deletesFirst: Bool, receiveTime: UInt64, sink: inout Sink, complete: (inout BookEntry) -> Void
    ) {
        for entry in 0..<scratch.entryCount {
            complete(&scratch.entries[entry])
            let symbol = scratch.entries[entry].symbol
            let instrument = index.instruments[symbol]
            counters[instrument].messages += 1
            guard scratch.entries[entry].isSnapshot || synced[symbol] else { continue }
            scratch.emit(entry, instrument: instrument, deletesFirst: deletesFirst, receiveTime: receiveTime, sink: &sink)
            synced[symbol] = true
        }
    }
}

extension SnapshotStreamAdapter {
    public mutating func handle<Sink: VenueEventSink>(
        message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        try handleFrame(message, receiveTime: receiveTime, sink: &sink, requests: &requests)
    }

    public mutating func handleSnapshot<Sink: VenueEventSink>(
        _ instrument: InstrumentId, body: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        throw .unexpectedMessage("\(Self.format.name) books start from WebSocket snapshots, not REST")
    }

    /// The book keeper found `instrument`'s book wrong (checksum, crossed): resubscribe that
    /// symbol's book alone.
    public mutating func resync(_ instrument: InstrumentId, requests: inout [VenueRequest]) {
        guard let symbol = index.local(instrument) else { return }
        resubscribe(symbol, requests: &requests)
    }

    /// Parse the whole frame, then emit: the book through the venue's sync rule, or the trades.
    mutating func handleFrame<Sink: VenueEventSink>(
        _ message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        scratch.reset()
        trades.reset()
        var header = Header()
        do {
            try parse(message, receiveTime: receiveTime, into: &header)
        } catch {
            throw parseFailed(header, error, receiveTime: receiveTime, sink: &sink, requests: &requests)
        }
        try accept(header, receiveTime: receiveTime, sink: &sink, requests: &requests)
        guard header.kind == .book || header.kind == .trade else { return try other(header) }
        if let name = header.unknownSymbol {
            counters.unattributedParseErrors += 1
            throw .unknownSymbol(name)
        }
        if let overflow = overflow(header.kind) {
            throw failed(header, .unexpectedMessage(overflow), receiveTime: receiveTime, sink: &sink, requests: &requests)
        }
        if header.kind == .book {
            try applyBook(header, message: message, receiveTime: receiveTime, sink: &sink, requests: &requests)
        } else {
            publishTrades(header, sink: &sink)
        }
    }

    /// Reads the whole frame into `header` and the scratches; emits nothing. The data is
    /// parsed once the header says what it is (at once, or after the rest of the object).
    mutating func parse(_ message: ByteView, receiveTime: UInt64, into header: inout Header) throws(JSONError) {
        let dataKey = Self.format.data
        var s = JSONScanner(message)
        var deferredData: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == dataKey {
                if header.kind != .none {
                    try parseData(&s, &header, receiveTime: receiveTime)
                } else {
                    deferredData = s  // what the data is comes later: parse it once known
                    try s.skipValue()
                }
            } else {
                try parseMember(key, &s, &header)
            }
        }
        guard s.isAtEnd() else { throw JSONError(.unexpectedByte(s.peek() ?? 0), offset: s.offset) }
        if var data = deferredData { try parseData(&data, &header, receiveTime: receiveTime) }
        if let missing = header.missingMember { throw JSONError(.missingField(missing), offset: s.offset) }
    }

    /// The data of a book or trade message of a subscribed (or per-entry) symbol; else skipped.
    mutating func parseData(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        guard header.kind == .book || header.kind == .trade, (header.messageSymbol ?? 0) >= 0 else { return try s.skipValue() }
        if header.kind == .book && !Self.format.booksInArray { return try parseBook(&s, &header) }
        try s.beginArray()
        while try s.nextElement() {
            if header.kind == .book { try parseBook(&s, &header) } else { try parseTrade(&s, &header, receiveTime: receiveTime) }
        }
    }

    mutating func accept<Sink: VenueEventSink>(
        _ header: Header, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {}

    mutating func parseFailed<Sink: VenueEventSink>(
        _ header: Header, _ error: JSONError, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) -> VenueError {
        failed(header, .malformed(error), receiveTime: receiveTime, sink: &sink, requests: &requests)
    }

    /// Counts a refused message against the symbols it named; the books it named may have
    /// missed an update: invalid, and resubscribed.
    mutating func failed<Sink: VenueEventSink>(
        _ header: Header, _ error: VenueError, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) -> VenueError {
        if let symbol = header.messageSymbol {
            counters.countParseError(symbol >= 0 ? index.instruments[symbol] : nil)
            if symbol >= 0 && header.kind == .book {
                sink.bookInvalid(index.instruments[symbol], reason: .malformedMessage, receiveTime: receiveTime)
                resubscribe(symbol, requests: &requests)
            }
            return error
        }
        var attributed = false
        if header.kind == .book {
            for entry in 0..<scratch.entryCount where scratch.entries[entry].symbol >= 0 {
                let symbol = scratch.entries[entry].symbol
                attributed = true
                counters[index.instruments[symbol]].parseErrors += 1
                sink.bookInvalid(index.instruments[symbol], reason: .malformedMessage, receiveTime: receiveTime)
                resubscribe(symbol, requests: &requests)
            }
        }
        if !attributed { counters.unattributedParseErrors += 1 }
        return error
    }

    /// A venue's error reply, counted; its message for the log.
    mutating func rejection(_ message: ByteView?) -> VenueError {
        counters.unattributedParseErrors += 1
        return .venueRejected(message?.string ?? "")
    }

    /// A well-formed message that is none this venue sends, counted: "channel ticker".
    mutating func unexpected(_ member: String, _ name: ByteView?, otherwise: String) -> VenueError {
        counters.unattributedParseErrors += 1
        return .unexpectedMessage(name.map { "\(member) \($0.string)" } ?? otherwise)
    }

    /// The connection is up: every book waits for its snapshot.
    mutating func awaitSnapshots<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink) {
        for symbol in 0..<index.count {
            synced[symbol] = false
            sink.bookInvalid(index.instruments[symbol], reason: .snapshotPending, receiveTime: receiveTime)
        }
    }

    /// `symbol`'s book waits for the snapshot its resubscription brings (a resync).
    mutating func unsync(_ symbol: Int) {
        synced[symbol] = false
        counters[index.instruments[symbol]].resyncs += 1
    }
}
