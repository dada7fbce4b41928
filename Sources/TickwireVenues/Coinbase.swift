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
public struct CoinbaseAdapter: SnapshotStreamAdapter {
    /// Coinbase's public trade side is the MAKER's: in the reference capture a SELL prints at
    /// 65083.67, above the 65083.66 best bid, i.e. a buyer lifted the offer.
    static let format = StreamFormat(
        name: "Coinbase", data: "events", booksInArray: true,
        overflow: "message with more levels, events or trades than the parse scratch holds",
        trade: TradeSpelling(symbol: "product_id", price: "price", quantity: "size", side: "side", buy: "SELL", sell: "BUY",
                             id: "trade_id", time: "time", isoTime: true, badSide: "side BUY or SELL",
                             missing: "trade product_id, price, size, side and time"))

    public let venue = Venue.coinbase
    public internal(set) var counters: VenueCounters

    let index: SymbolIndex
    var synced: [Bool]
    private var hasSequence = false
    private var lastSequence: UInt64 = 0
    var scratch: BookScratch
    var trades: TradeScratch

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

    // MARK: VenueAdapter (handle, handleSnapshot and resync: SnapshotStreamAdapter)

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        hasSequence = false  // sequence_num restarts with each connection
        awaitSnapshots(receiveTime: receiveTime, sink: &sink)
        let all = Array(0..<index.count)
        requests.append(request("subscribe", "level2", all))
        requests.append(request("subscribe", "market_trades", all))
        requests.append(request("subscribe", "heartbeats", all))
    }

    /// Nothing to send: the `heartbeats` subscription keeps the connection's channels open.
    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {}

    // MARK: sync

    /// An error reply is refused whatever its channel; any message's `sequence_num` counts.
    mutating func accept<Sink: VenueEventSink>(
        _ header: Header, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        if header.isError { throw rejection(header.errorMessage) }
        if let sequence = header.sequence { checkSequence(sequence, receiveTime: receiveTime, sink: &sink, requests: &requests) }
    }

    /// Heartbeats and subscription notices are control messages.
    mutating func other(_ header: Header) throws(VenueError) {
        guard header.kind == .control else { throw unexpected("channel", header.channel, otherwise: "message without channel") }
        counters.controlMessages += 1
    }

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

    mutating func applyBook<Sink: VenueEventSink>(
        _ header: Header, message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        guard let sequence = header.sequence else {
            throw failed(header, .malformed(JSONError(.missingField("sequence_num"), offset: message.count)),
                         receiveTime: receiveTime, sink: &sink, requests: &requests)
        }
        applyEntries(deletesFirst: false, receiveTime: receiveTime, sink: &sink) { entry in
            entry.updateId = sequence
            entry.eventTime = header.time
        }
    }

    mutating func publishTrades<Sink: VenueEventSink>(_ header: Header, sink: inout Sink) {
        var previous: InstrumentId?
        for trade in 0..<trades.count where trades.trades[trade].instrument != previous {
            previous = trades.trades[trade].instrument
            counters[trades.trades[trade].instrument].messages += 1
        }
        trades.emit(to: &sink)
    }

    mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest]) {
        resubscribe([symbol], requests: &requests)
    }

    private mutating func resubscribe(_ symbols: [Int], requests: inout [VenueRequest]) {
        for symbol in symbols { unsync(symbol) }
        requests.append(request("unsubscribe", "level2", symbols))
        requests.append(request("subscribe", "level2", symbols))
    }

    /// A message that did not parse: its sequence number (if read) still counts, and every
    /// product whose book it named is invalid and resubscribed.
    mutating func parseFailed<Sink: VenueEventSink>(
        _ header: Header, _ error: JSONError, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) -> VenueError {
        if let sequence = header.sequence { checkSequence(sequence, receiveTime: receiveTime, sink: &sink, requests: &requests) }
        return failed(header, .malformed(error), receiveTime: receiveTime, sink: &sink, requests: &requests)
    }

    // MARK: parsing

    struct Header: EntryMessageHeader {
        var kind = MessageKind.none
        var channel: ByteView?
        var sequence: UInt64?
        var time: UInt64 = 0
        var isError = false
        var errorMessage: ByteView?
        var unknownName: ByteView?
        var missingMember: StaticString? { nil }
    }

    func parseMember(_ key: ByteView, _ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        if key == "channel" {
            let channel = try s.string()
            header.channel = channel
            header.kind = channel == "l2_data" ? .book : channel == "market_trades" ? .trade
                : channel == "heartbeats" || channel == "subscriptions" ? .control : .other
        } else if key == "sequence_num" {
            header.sequence = try s.uint64()
        } else if key == "timestamp" {
            header.time = try s.isoTimestampNanoseconds()
        } else if key == "type" {
            header.isError = try s.string() == "error"
        } else if key == "message" {
            header.errorMessage = try s.string()
        } else {
            try s.skipValue()
        }
    }

    /// `{"type":"snapshot"|"update","product_id":…,"updates":[{"side","event_time","price_level","new_quantity"}…]}`
    mutating func parseBook(_ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        let entry = scratch.beginEntry()
        var symbol: Int?
        var hasType = false
        var deferredUpdates: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "type" {
                let isSnapshot = try s.isSnapshot(else: "update", missing: "event type snapshot or update")
                hasType = true
                if entry >= 0 { scratch.entries[entry].isSnapshot = isSnapshot }
            } else if key == "product_id" {
                let found = index.find(try s.string(), noting: &header.unknownName)
                symbol = found
                if entry >= 0 { scratch.entries[entry].symbol = found }
            } else if key == "updates" {
                if let symbol {
                    try parseUpdates(&s, symbol: symbol)
                } else {
                    deferredUpdates = s  // product_id comes later: its scales are needed first
                    try s.skipValue()
                }
            } else {
                try s.skipValue()
            }
        }
        guard hasType, let symbol else { throw JSONError(.missingField("event type and product_id"), offset: s.offset) }
        if var updates = deferredUpdates { try parseUpdates(&updates, symbol: symbol) }
    }

    private mutating func parseUpdates(_ s: inout JSONScanner, symbol: Int) throws(JSONError) {
        guard symbol >= 0 else { return try s.skipValue() }
        let scales = index.scales(symbol)
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
                    price = try s.decimal(scale: scales.price)
                } else if key == "new_quantity" {
                    quantity = try s.decimal(scale: scales.quantity)
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
    mutating func parseTrade(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        let first = trades.count
        var isSnapshot = false
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "type" {
                isSnapshot = try s.string() == "snapshot"
            } else if key == "trades" {
                try s.beginArray()
                while try s.nextElement() {
                    try s.trade(Self.format.trade, symbol: nil, index: index, unknown: &header.unknownName,
                                receiveTime: receiveTime, into: &trades)
                }
            } else {
                try s.skipValue()
            }
        }
        if isSnapshot { trades.truncate(to: first) }
    }
}
