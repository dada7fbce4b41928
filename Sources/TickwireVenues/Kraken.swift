import TickwireCore

/// Kraken spot WebSocket v2: `book` and `trade` channels (reference §5).
///
/// Book sync, as Kraken documents it: there is no sequence number. A `snapshot` replaces the
/// book; each `update` is applied whole, the book is truncated to the subscribed depth
/// ("you will not receive qty 0 for levels that fall out of scope"), and then the message's
/// `checksum` (CRC32 of the top 10 asks and bids) must match — `BookKeeper` checks it after
/// every message, snapshot included. A mismatch is the only sign of a lost update: the
/// keeper asks for `resync`, which unsubscribes and subscribes that symbol's book.
/// Heartbeat and status channel messages and method replies are control messages; a reply
/// with `success: false` is a rejection. Book messages publish their `timestamp` (ns) as
/// the update id.
public struct KrakenAdapter: WebSocketSnapshotVenue {
    public static let supportedDepths = [10, 25, 100, 500, 1000]

    public let venue = Venue.kraken
    public let depth: Int
    public private(set) var counters: VenueCounters

    private let index: SymbolIndex
    private var synced: [Bool]
    private var scratch: BookScratch
    private var trades: TradeScratch
    private var requestId = 0

    /// Two requirements on the books this adapter feeds, both from Kraken's checksum rules:
    /// - each symbol's book must be activated with `levelsPerSide == depth`
    ///   (`BookTable.activate(_:levelsPerSide:)`): the book's capacity *is* the truncation to
    ///   the subscribed depth (a full side drops its deepest level);
    /// - each symbol's price and quantity scales must equal the pair's `price_precision` and
    ///   `qty_precision` (from Kraken's `instrument` channel): the checksum is computed from
    ///   the digits at exactly that precision, and prices/quantities arrive as JSON numbers
    ///   whose trailing zeros count.
    /// - Parameters:
    ///   - symbols: Kraken v2 pair names (`BTC/USD`).
    ///   - depth: the subscribed book depth, one of `supportedDepths`.
    public init(symbols: [VenueSymbol], depth: Int = 10, maxLevelsPerMessage: Int? = nil, maxTradesPerMessage: Int = 1024) throws(VenueSetupError) {
        guard Self.supportedDepths.contains(depth) else {
            throw .unsupportedDepth(venue: .kraken, depth: depth, supported: Self.supportedDepths)
        }
        index = try SymbolIndex(symbols)
        self.depth = depth
        counters = VenueCounters(instrumentCapacity: index.instrumentCapacity)
        synced = Array(repeating: false, count: symbols.count)
        scratch = BookScratch(levelCapacity: maxLevelsPerMessage ?? 2 * depth + 64)
        trades = TradeScratch(capacity: maxTradesPerMessage)
    }

    private mutating func request(_ method: String, _ channel: String, _ symbols: [Int], options: String) -> VenueRequest {
        requestId += 1
        let names = symbols.map { "\"\(index.symbols[$0].name)\"" }.joined(separator: ",")
        return .sendText(#"{"method":"\#(method)","params":{"channel":"\#(channel)","symbol":[\#(names)]\#(options)},"req_id":\#(requestId)}"#)
    }

    // MARK: VenueAdapter

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        let all = Array(0..<index.count)
        for symbol in all {
            synced[symbol] = false
            sink.bookInvalid(index.instruments[symbol], reason: .snapshotPending, receiveTime: receiveTime)
        }
        requests.append(request("subscribe", "book", all, options: #","depth":\#(depth),"snapshot":true"#))
        requests.append(request("subscribe", "trade", all, options: #","snapshot":false"#))
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
            throw failed(header, .malformed(error), receiveTime: receiveTime, sink: &sink, requests: &requests)
        }
        switch header.kind {
        case .book, .trade:
            if let name = header.unknownSymbol {
                counters.unattributedParseErrors += 1
                throw .unknownSymbol(name.string)
            }
            guard !scratch.overflowed && !trades.overflowed else {
                throw failed(header, .unexpectedMessage("message with more levels, entries or trades than the parse scratch holds"),
                             receiveTime: receiveTime, sink: &sink, requests: &requests)
            }
            if header.kind == .trade {
                trades.countMessage(in: &counters)
                // A trade snapshot is recent history (not subscribed to, and never published).
                if !header.isSnapshot { trades.emit(to: &sink) }
                return
            }
            applyBook(isSnapshot: header.isSnapshot, receiveTime: receiveTime, sink: &sink)
        case .control:
            counters.controlMessages += 1
        case .reply:
            guard header.success != false else {
                counters.unattributedParseErrors += 1
                throw .venueRejected(header.error?.string ?? "")
            }
            counters.controlMessages += 1
        case .other, .none:
            counters.unattributedParseErrors += 1
            throw .unexpectedMessage(header.channel.map { "channel \($0.string)" } ?? "message without channel or method")
        }
    }

    /// A checksum mismatch (or crossed book): resubscribe that symbol's book for a new snapshot.
    public mutating func resync(_ instrument: InstrumentId, requests: inout [VenueRequest]) {
        guard let symbol = index.local(instrument) else { return }
        resubscribe(symbol, requests: &requests)
    }

    /// Nothing to send: Kraken pushes `heartbeat` messages on a subscribed connection.
    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {}

    // MARK: sync

    private mutating func applyBook<Sink: VenueEventSink>(isSnapshot: Bool, receiveTime: UInt64, sink: inout Sink) {
        for entry in 0..<scratch.entryCount {
            let symbol = scratch.entries[entry].symbol
            let instrument = index.instruments[symbol]
            counters[instrument].messages += 1
            scratch.entries[entry].isSnapshot = isSnapshot
            guard isSnapshot || synced[symbol] else { continue }
            // Deletes before inserts: with the book's capacity at the subscribed depth this
            // equals Kraken's "apply the whole update, then truncate".
            scratch.emit(entry, instrument: instrument, deletesFirst: true, receiveTime: receiveTime, sink: &sink)
            synced[symbol] = true
        }
    }

    private mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest]) {
        synced[symbol] = false
        counters[index.instruments[symbol]].resyncs += 1
        requests.append(request("unsubscribe", "book", [symbol], options: #","depth":\#(depth)"#))
        requests.append(request("subscribe", "book", [symbol], options: #","depth":\#(depth),"snapshot":true"#))
    }

    private mutating func failed<Sink: VenueEventSink>(
        _ header: Header, _ error: VenueError, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) -> VenueError {
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

    // MARK: parsing

    private struct Header {
        enum Kind { case none, book, trade, control, reply, other }
        var kind = Kind.none
        var channel: ByteView?
        var hasType = false
        var isSnapshot = false
        var success: Bool?
        var error: ByteView?
        var unknownSymbol: ByteView?
    }

    private mutating func parse(_ message: ByteView, receiveTime: UInt64, into header: inout Header) throws(JSONError) {
        var s = JSONScanner(message)
        var deferredData: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "channel" {
                let channel = try s.string()
                header.channel = channel
                header.kind = channel == "book" ? .book : channel == "trade" ? .trade
                    : channel == "heartbeat" || channel == "status" ? .control : .other
            } else if key == "type" {
                let type = try s.string()
                header.hasType = true
                header.isSnapshot = type == "snapshot"
                guard header.isSnapshot || type == "update" else { throw JSONError(.missingField("type snapshot or update"), offset: s.offset) }
            } else if key == "data" {
                if header.kind == .none {
                    deferredData = s  // the channel comes later: parse the data once it is known
                    try s.skipValue()
                } else {
                    try parseData(&s, &header, receiveTime: receiveTime)
                }
            } else if key == "method" {
                if header.kind == .none { header.kind = .reply }
                try s.skipValue()
            } else if key == "success" {
                header.success = try s.bool()
            } else if key == "error" {
                header.error = try s.string()
            } else {
                try s.skipValue()
            }
        }
        guard s.isAtEnd() else { throw JSONError(.unexpectedByte(s.peek() ?? 0), offset: s.offset) }
        if var data = deferredData { try parseData(&data, &header, receiveTime: receiveTime) }
        if (header.kind == .book || header.kind == .trade) && !header.hasType { throw JSONError(.missingField("type"), offset: s.offset) }
    }

    private mutating func parseData(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        guard header.kind == .book || header.kind == .trade else { return try s.skipValue() }
        try s.beginArray()
        while try s.nextElement() {
            if header.kind == .book { try parseBookEntry(&s, &header) } else { try parseTrade(&s, &header, receiveTime: receiveTime) }
        }
    }

    /// `{"symbol","bids":[{"price","qty"}…],"asks":[…],"checksum","timestamp"}`.
    private mutating func parseBookEntry(_ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        let entry = scratch.beginEntry()
        var symbol = -1, hasSymbol = false
        var checksum: UInt64?
        var time: UInt64 = 0
        var deferredBids: JSONScanner?, deferredAsks: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "symbol" {
                let name = try s.string()
                hasSymbol = true
                symbol = index.find(name) ?? -1
                if symbol < 0 && header.unknownSymbol == nil { header.unknownSymbol = name }
                if entry >= 0 { scratch.entries[entry].symbol = symbol }
            } else if key == "bids" || key == "asks" {
                let side: Side = key == "bids" ? .bid : .ask
                if hasSymbol {
                    try parseLevels(&s, side, symbol: symbol)
                } else {
                    // The symbol comes later: its scales are needed first.
                    if side == .bid { deferredBids = s } else { deferredAsks = s }
                    try s.skipValue()
                }
            } else if key == "checksum" {
                checksum = try s.uint64()
            } else if key == "timestamp" {
                time = try s.isoTimestampNanoseconds()
            } else {
                try s.skipValue()
            }
        }
        guard hasSymbol, let checksum, let crc = UInt32(exactly: checksum) else {
            throw JSONError(.missingField("symbol and a 32-bit checksum"), offset: s.offset)
        }
        if var bids = deferredBids { try parseLevels(&bids, .bid, symbol: symbol) }
        if var asks = deferredAsks { try parseLevels(&asks, .ask, symbol: symbol) }
        guard entry >= 0 else { return }
        scratch.entries[entry].checksum = .krakenTop10(crc)
        scratch.entries[entry].updateId = time  // Kraken has no sequence: the message time is the update id
        scratch.entries[entry].eventTime = time
    }

    private mutating func parseLevels(_ s: inout JSONScanner, _ side: Side, symbol: Int) throws(JSONError) {
        guard symbol >= 0 else { return try s.skipValue() }
        let priceScale = index.priceScales[symbol]
        let quantityScale = index.quantityScales[symbol]
        try s.beginArray()
        while try s.nextElement() {
            var price: Int64?, quantity: Int64?
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "price" {
                    price = try s.decimal(scale: priceScale)
                } else if key == "qty" {
                    quantity = try s.decimal(scale: quantityScale)
                } else {
                    try s.skipValue()
                }
            }
            guard let price, let quantity, price > 0, quantity >= 0 else {
                throw JSONError(.missingField("level price and qty"), offset: s.offset)
            }
            scratch.append(side, price: price, quantity: quantity)
        }
    }

    /// `{"symbol","side","price","qty","ord_type","trade_id","timestamp"}`; `side` is the taker's.
    static let tradeFields = TradeFields(
        symbol: "symbol", price: "price", quantity: "qty", side: "side", id: "trade_id", time: "timestamp", timeFormat: .iso8601,
        buyerAggressor: "buy", sellerAggressor: "sell",
        missingFields: "trade symbol, price, qty, side and timestamp", invalidSide: "side buy or sell")

    private mutating func parseTrade(_ s: inout JSONScanner, _ header: inout Header, receiveTime: UInt64) throws(JSONError) {
        try s.beginObject()
        try s.tradeMembers(Self.tradeFields, knownSymbol: nil, index: index, receiveTime: receiveTime,
                           into: &trades, unknownSymbol: &header.unknownSymbol)
    }
}
