import TickwireCore

/// Coinbase Advanced Trade WebSocket: `level2` (messages arrive on channel `l2_data`),
/// `market_trades` and `heartbeats` (reference §6).
///
/// Book sync, as Coinbase documents it:
/// - an `l2_data` event of type `snapshot` replaces that product's book; `update` events set
///   absolute quantities (`new_quantity` "0" deletes); sides are `bid` and `offer`.
/// - `sequence_num` counts every message on the CONNECTION, across all channels
///   (subscriptions, heartbeats, trades, books): any value other than previous + 1 means a
///   message was lost, and nothing tells which product it belonged to. So a gap is charged
///   to every level2 product on the connection, and the recovery is the venue's:
///   resubscribe `level2` for all of them, which sends a fresh snapshot of each.
/// - the book keeper's per-product resync (crossed book) resubscribes only that product.
/// `heartbeats` keep quiet channels open; heartbeat and subscription messages are control
/// messages, `type: error` a rejection. Book events carry the message `timestamp` and
/// publish `sequence_num` as their update id.
public struct CoinbaseAdapter: WebSocketSnapshotVenue {
    public let venue = Venue.coinbase
    public private(set) var counters: VenueCounters

    private let index: SymbolIndex
    private var synced: [Bool]
    private var hasSequence = false
    private var lastSequence: UInt64 = 0
    private var scratch: BookScratch
    private var trades: TradeScratch

    /// - Parameters:
    ///   - symbols: Coinbase `product_id`s (`BTC-USD`) with their instrument scales.
    ///   - maxLevelsPerMessage: the parse scratch. A `level2` snapshot is the whole book (tens of
    ///     thousands of levels on busy products); a larger message is refused and resynced.
    ///     The books keep their best `levelsPerSide` (deeper snapshot levels are dropped).
    public init(symbols: [VenueSymbol], maxLevelsPerMessage: Int = 131_072, maxTradesPerMessage: Int = 1024) throws(VenueSetupError) {
        index = try SymbolIndex(symbols)
        counters = VenueCounters(instrumentCapacity: index.instrumentCapacity)
        synced = Array(repeating: false, count: symbols.count)
        scratch = BookScratch(levelCapacity: maxLevelsPerMessage)
        trades = TradeScratch(capacity: maxTradesPerMessage)
    }

    private func request(_ type: String, _ channel: String, _ symbols: [Int]) -> VenueRequest {
        let products = symbols.map { "\"\(index.symbols[$0].name)\"" }.joined(separator: ",")
        return .sendText(#"{"type":"\#(type)","product_ids":[\#(products)],"channel":"\#(channel)"}"#)
    }

    // MARK: VenueAdapter

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        hasSequence = false  // sequence_num restarts with each connection
        let all = Array(0..<index.count)
        for symbol in all {
            synced[symbol] = false
            sink.bookInvalid(index.instruments[symbol], reason: .snapshotPending, receiveTime: receiveTime)
        }
        requests.append(request("subscribe", "level2", all))
        requests.append(request("subscribe", "market_trades", all))
        requests.append(request("subscribe", "heartbeats", all))
    }

    public mutating func handle<Sink: VenueEventSink>(
        message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        scratch.reset()
        trades.reset()
        var header = Header()
        do {
            try parse(message, receiveTime: receiveTime, into: &header)
        } catch {
            throw failed(header, .malformed(error), sequenceChecked: false, receiveTime: receiveTime, sink: &sink, requests: &requests)
        }
        if header.isError {
            counters.unattributedParseErrors += 1
            throw .venueRejected(header.errorMessage?.string ?? "")
        }
        if let sequence = header.sequence { checkSequence(sequence, receiveTime: receiveTime, sink: &sink, requests: &requests) }
        switch header.kind {
        case .book, .trade:
            if let name = header.unknownProduct {
                counters.unattributedParseErrors += 1
                throw .unknownSymbol(name.string)
            }
            guard !scratch.overflowed && !trades.overflowed else {
                throw failed(header, .unexpectedMessage("message with more levels, events or trades than the parse scratch holds"),
                             sequenceChecked: true, receiveTime: receiveTime, sink: &sink, requests: &requests)
            }
            if header.kind == .trade {
                trades.countMessage(in: &counters)
                trades.emit(to: &sink)
                return
            }
            guard let sequence = header.sequence else {
                throw failed(header, .malformed(JSONError(.missingField("sequence_num"), offset: message.count)),
                             sequenceChecked: true, receiveTime: receiveTime, sink: &sink, requests: &requests)
            }
            applyBook(sequence: sequence, time: header.time, receiveTime: receiveTime, sink: &sink)
        case .control:
            counters.controlMessages += 1
        case .other, .none:
            counters.unattributedParseErrors += 1
            throw .unexpectedMessage(header.channel.map { "channel \($0.string)" } ?? "message without channel")
        }
    }

    /// One product's book failed a check: resubscribe `level2` for that product alone.
    public mutating func resync(_ instrument: InstrumentId, requests: inout [VenueRequest]) {
        guard let symbol = index.local(instrument) else { return }
        resubscribe([symbol], requests: &requests)
    }

    /// Nothing to send: the `heartbeats` subscription keeps the connection's channels open.
    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {}

    // MARK: sync

    /// The connection-wide sequence rule. A lost message may have been any product's
    /// `l2_data`, so every level2 product is invalid and resubscribed (Coinbase's recovery).
    private mutating func checkSequence<Sink: VenueEventSink>(
        _ sequence: UInt64, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) {
        defer {
            hasSequence = true
            lastSequence = sequence
        }
        guard hasSequence, sequence != lastSequence &+ 1 else { return }
        for symbol in 0..<index.count {
            counters[index.instruments[symbol]].gaps += 1
            sink.bookInvalid(index.instruments[symbol], reason: .sequenceGap, receiveTime: receiveTime)
        }
        resubscribe(Array(0..<index.count), requests: &requests)
    }

    private mutating func applyBook<Sink: VenueEventSink>(sequence: UInt64, time: UInt64, receiveTime: UInt64, sink: inout Sink) {
        for entry in 0..<scratch.entryCount {
            let symbol = scratch.entries[entry].symbol
            let instrument = index.instruments[symbol]
            counters[instrument].messages += 1
            guard scratch.entries[entry].isSnapshot || synced[symbol] else { continue }
            scratch.entries[entry].updateId = sequence
            scratch.entries[entry].eventTime = time
            scratch.emit(entry, instrument: instrument, deletesFirst: false, receiveTime: receiveTime, sink: &sink)
            synced[symbol] = true
        }
    }

    private mutating func resubscribe(_ symbols: [Int], requests: inout [VenueRequest]) {
        for symbol in symbols {
            synced[symbol] = false
            counters[index.instruments[symbol]].resyncs += 1
        }
        requests.append(request("unsubscribe", "level2", symbols))
        requests.append(request("subscribe", "level2", symbols))
    }

    /// A message that did not parse: its sequence number (if read) still counts, and every
    /// product whose book it named is invalid and resubscribed.
    private mutating func failed<Sink: VenueEventSink>(
        _ header: Header, _ error: VenueError, sequenceChecked: Bool, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) -> VenueError {
        if !sequenceChecked, let sequence = header.sequence { checkSequence(sequence, receiveTime: receiveTime, sink: &sink, requests: &requests) }
        var attributed = false
        if header.kind == .book {
            for entry in 0..<scratch.entryCount where scratch.entries[entry].symbol >= 0 {
                let symbol = scratch.entries[entry].symbol
                attributed = true
                counters[index.instruments[symbol]].parseErrors += 1
                sink.bookInvalid(index.instruments[symbol], reason: .malformedMessage, receiveTime: receiveTime)
                resubscribe([symbol], requests: &requests)
            }
        }
        if !attributed { counters.unattributedParseErrors += 1 }
        return error
    }

    // MARK: parsing

    private struct Header {
        enum Kind { case none, book, trade, control, other }
        var kind = Kind.none
        var channel: ByteView?
        var sequence: UInt64?
        var time: UInt64 = 0
        var isError = false
        var errorMessage: ByteView?
        var unknownProduct: ByteView?
    }

    private mutating func parse(_ message: ByteView, receiveTime: UInt64, into header: inout Header) throws(JSONError) {
        var s = JSONScanner(message)
        var deferredEvents: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "channel" {
                let channel = try s.string()
                header.channel = channel
                header.kind = channel == "l2_data" ? .book : channel == "market_trades" ? .trade
                    : channel == "heartbeats" || channel == "subscriptions" ? .control : .other
            } else if key == "sequence_num" {
                header.sequence = try s.uint64()
            } else if key == "timestamp" {
                header.time = try s.isoTimestampNanoseconds()
            } else if key == "events" {
                if header.kind == .none {
                    deferredEvents = s  // the channel comes later: parse the events once it is known
                    try s.skipValue()
                } else {
                    try parseEvents(&s, &header, receiveTime: receiveTime)
                }
            } else if key == "type" {
                header.isError = try s.string() == "error"
            } else if key == "message" {
                header.errorMessage = try s.string()
            } else {
                try s.skipValue()
            }
        }
        guard s.isAtEnd() else { throw JSONError(.unexpectedByte(s.peek() ?? 0), offset: s.offset) }
        if var events = deferredEvents { try parseEvents(&events, &header, receiveTime: receiveTime) }
    }

    private mutating func parseEvents(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        guard header.kind == .book || header.kind == .trade else { return try s.skipValue() }
        try s.beginArray()
        while try s.nextElement() {
            if header.kind == .book { try parseBookEvent(&s, &header) } else { try parseTradeEvent(&s, &header, receiveTime: receiveTime) }
        }
    }

    /// `{"type":"snapshot"|"update","product_id":…,"updates":[{"side","event_time","price_level","new_quantity"}…]}`
    private mutating func parseBookEvent(_ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        let entry = scratch.beginEntry()
        var symbol = -1
        var hasType = false, hasProduct = false
        var deferredUpdates: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "type" {
                let type = try s.string()
                hasType = true
                guard type == "snapshot" || type == "update" else { throw JSONError(.missingField("event type snapshot or update"), offset: s.offset) }
                if entry >= 0 { scratch.entries[entry].isSnapshot = type == "snapshot" }
            } else if key == "product_id" {
                let name = try s.string()
                hasProduct = true
                symbol = index.find(name) ?? -1
                if symbol < 0 && header.unknownProduct == nil { header.unknownProduct = name }
                if entry >= 0 { scratch.entries[entry].symbol = symbol }
            } else if key == "updates" {
                if hasProduct {
                    try parseUpdates(&s, symbol: symbol)
                } else {
                    deferredUpdates = s  // product_id comes later: its scales are needed first
                    try s.skipValue()
                }
            } else {
                try s.skipValue()
            }
        }
        guard hasType, hasProduct else { throw JSONError(.missingField("event type and product_id"), offset: s.offset) }
        if var updates = deferredUpdates { try parseUpdates(&updates, symbol: symbol) }
    }

    private mutating func parseUpdates(_ s: inout JSONScanner, symbol: Int) throws(JSONError) {
        guard symbol >= 0 else { return try s.skipValue() }
        let priceScale = index.priceScales[symbol]
        let quantityScale = index.quantityScales[symbol]
        try s.beginArray()
        while try s.nextElement() {
            var side: Side?, price: Int64?, quantity: Int64?
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "side" {
                    let text = try s.string()
                    side = text == "bid" ? .bid : text == "offer" ? .ask : nil
                    guard side != nil else { throw JSONError(.missingField("side bid or offer"), offset: s.offset) }
                } else if key == "price_level" {
                    price = try s.decimal(scale: priceScale)
                } else if key == "new_quantity" {
                    quantity = try s.decimal(scale: quantityScale)
                } else {
                    try s.skipValue()
                }
            }
            guard let side, let price, let quantity, price > 0, quantity >= 0 else {
                throw JSONError(.missingField("update side, price_level and new_quantity"), offset: s.offset)
            }
            scratch.append(side, price: price, quantity: quantity)
        }
    }

    /// `{"type":"snapshot"|"update","trades":[{"product_id","trade_id","price","size","time","side"}…]}`.
    /// Only `update` trades are published: the first message's `snapshot` is recent history,
    /// sent again on every (re)subscription.
    private mutating func parseTradeEvent(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        let first = trades.count
        var isSnapshot = false
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "type" {
                isSnapshot = try s.string() == "snapshot"
            } else if key == "trades" {
                try s.beginArray()
                while try s.nextElement() { try parseTrade(&s, &header, receiveTime: receiveTime) }
            } else {
                try s.skipValue()
            }
        }
        if isSnapshot { trades.truncate(to: first) }
    }

    /// Coinbase's public trade side is the MAKER's: in the reference capture a SELL prints at
    /// 65083.67, above the 65083.66 best bid, i.e. a buyer lifted the offer.
    static let tradeFields = TradeFields(
        symbol: "product_id", price: "price", quantity: "size", side: "side", id: "trade_id", time: "time", timeFormat: .iso8601,
        buyerAggressor: "SELL", sellerAggressor: "BUY",
        missingFields: "trade product_id, price, size, side and time", invalidSide: "side BUY or SELL")

    private mutating func parseTrade(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        try s.beginObject()
        try s.tradeMembers(Self.tradeFields, knownSymbol: nil, index: index, receiveTime: receiveTime,
                           into: &trades, unknownSymbol: &header.unknownProduct)
    }
}
