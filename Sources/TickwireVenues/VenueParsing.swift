import TickwireCore

// Parts shared by the Bybit, OKX, Coinbase and Kraken adapters: symbol lookup without
// hashing or Strings, the preallocated scratch a book message is parsed into before any
// event is emitted, level arrays, millisecond and ISO-8601 times, trade ids.

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

    /// The local index of `instrument`, if this adapter feeds it.
    func local(_ instrument: InstrumentId) -> Int? {
        instruments.firstIndex(of: instrument)
    }

    var count: Int { symbols.count }

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

    /// Converts a trade's price and size text at `symbol`'s scales (known only once the whole
    /// trade object was read, as venues may send the symbol after the numbers) and appends it.
    mutating func append(
        symbol: Int, of index: SymbolIndex, price: ByteView, quantity: ByteView, aggressor: Side,
        id: (id: UInt64, isDigest: Bool), eventTime: UInt64, receiveTime: UInt64, errorOffset: Int
    ) throws(JSONError) {
        let priceValue: Int64, quantityValue: Int64
        do {
            priceValue = try DecimalText.parse(price.start, count: price.count, scale: index.priceScales[symbol])
            quantityValue = try DecimalText.parse(quantity.start, count: quantity.count, scale: index.quantityScales[symbol])
        } catch {
            throw JSONError(.decimal(error), offset: errorOffset)
        }
        append(Trade(instrument: index.instruments[symbol], price: Price(mantissa: priceValue), quantity: Quantity(mantissa: quantityValue),
                     aggressor: aggressor, tradeId: id.id, isTradeIdDigest: id.isDigest, eventTime: eventTime, receiveTime: receiveTime))
    }

    /// Forgets the trades appended after the first `count` (a part of the message not to publish).
    mutating func truncate(to count: Int) {
        self.count = min(self.count, count)
    }

    func emit<Sink: VenueEventSink>(to sink: inout Sink) {
        for index in 0..<count { sink.trade(trades[index]) }
    }

    /// Counts the message once for each instrument whose trades it carries.
    func countMessage(in counters: inout VenueCounters) {
        var previous: InstrumentId?
        for index in 0..<count where trades[index].instrument != previous {
            previous = trades[index].instrument
            counters[trades[index].instrument].messages += 1
        }
    }
}

/// How a venue spells a public trade: every venue's trade reader is this one, with its names.
struct TradeFields {
    enum TimeFormat { case milliseconds, iso8601 }

    /// The symbol's key inside the trade, or nil when the message names the symbol outside it (topic, arg).
    var symbol: StaticString?
    var price: StaticString
    var quantity: StaticString
    var side: StaticString
    var id: StaticString
    var time: StaticString
    var timeFormat: TimeFormat
    /// The side texts whose aggressor is the buyer / the seller.
    var buyerAggressor: StaticString
    var sellerAggressor: StaticString
    /// The errors' wording ("trade px, sz, side and ts"; "side buy or sell").
    var missingFields: StaticString
    var invalidSide: StaticString
}

extension JSONScanner {
    /// The members of one trade object (its `{` already read) into `trades`, converted at the
    /// symbol's scales once the whole object is read (venues may send the symbol after the
    /// numbers). `knownSymbol` is the symbol named outside the trade; a trade of a symbol
    /// not subscribed is skipped and the first such name kept in `unknownSymbol`.
    mutating func tradeMembers(
        _ fields: TradeFields, knownSymbol: Int?, index: SymbolIndex, receiveTime: UInt64,
        into trades: inout TradeScratch, unknownSymbol: inout ByteView?
    ) throws(JSONError) {
        var symbol = knownSymbol ?? -1, hasSymbol = knownSymbol != nil
        var price: ByteView?, quantity: ByteView?, aggressor: Side?, time: UInt64?
        var id: (id: UInt64, isDigest: Bool) = (0, false)
        while let key = try nextKey() {
            if let symbolKey = fields.symbol, key == symbolKey {
                let name = try string()
                hasSymbol = true
                symbol = index.find(name) ?? -1
                if symbol < 0 && unknownSymbol == nil { unknownSymbol = name }
            } else if key == fields.price {
                price = try numberText()
            } else if key == fields.quantity {
                quantity = try numberText()
            } else if key == fields.side {
                let text = try string()
                aggressor = text == fields.buyerAggressor ? .bid : text == fields.sellerAggressor ? .ask : nil
                guard aggressor != nil else { throw JSONError(.missingField(fields.invalidSide), offset: offset) }
            } else if key == fields.id {
                id = try tradeId()
            } else if key == fields.time {
                time = fields.timeFormat == .milliseconds ? try millisecondsAsNanoseconds() : try isoTimestampNanoseconds()
            } else {
                try skipValue()
            }
        }
        guard hasSymbol, let price, let quantity, let aggressor, let time else {
            throw JSONError(.missingField(fields.missingFields), offset: offset)
        }
        guard symbol >= 0 else { return }
        try trades.append(symbol: symbol, of: index, price: price, quantity: quantity, aggressor: aggressor, id: id,
                          eventTime: time, receiveTime: receiveTime, errorOffset: offset)
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
    /// into `scratch` as levels of `side`.
    mutating func levelPairs(_ side: Side, priceScale: Scale, quantityScale: Scale, into scratch: inout BookScratch) throws(JSONError) {
        try beginArray()
        while try nextElement() {
            try beginArray()
            guard try nextElement() else { throw error(.missingField("level price")) }
            let price = try decimal(scale: priceScale)
            guard try nextElement() else { throw error(.missingField("level quantity")) }
            let quantity = try decimal(scale: quantityScale)
            while try nextElement() { try skipValue() }
            guard price > 0, quantity >= 0 else { throw error(.missingField("positive level price and quantity")) }
            scratch.append(side, price: price, quantity: quantity)
        }
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
        // UInt64 nanoseconds since 1970 run out in 2554: later years are refused, not wrapped.
        guard (1970...2500).contains(year), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
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
