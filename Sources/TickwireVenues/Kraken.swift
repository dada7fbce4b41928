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
public struct KrakenAdapter: SnapshotStreamAdapter {
    public static let supportedDepths = [10, 25, 100, 500, 1000]
    /// Trades: `{"symbol","side","price","qty","ord_type","trade_id","timestamp"}`; `side` is the taker's.
    static let format = StreamFormat(
        name: "Kraken", data: "data", booksInArray: true,
        overflow: "message with more levels, entries or trades than the parse scratch holds",
        trade: TradeSpelling(symbol: "symbol", price: "price", quantity: "qty", side: "side", buy: "buy", sell: "sell",
                             id: "trade_id", time: "timestamp", isoTime: true, badSide: "side buy or sell",
                             missing: "trade symbol, price, qty, side and timestamp"))

    public let venue = Venue.kraken
    public let depth: Int
    public internal(set) var counters: VenueCounters

    let index: SymbolIndex
    var synced: [Bool]
    var scratch: BookScratch
    var trades: TradeScratch
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

    // MARK: VenueAdapter (handle, handleSnapshot and resync: SnapshotStreamAdapter)

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        awaitSnapshots(receiveTime: receiveTime, sink: &sink)
        let all = Array(0..<index.count)
        requests.append(request("subscribe", "book", all, options: #","depth":\#(depth),"snapshot":true"#))
        requests.append(request("subscribe", "trade", all, options: #","snapshot":false"#))
    }

    /// Nothing to send: Kraken pushes `heartbeat` messages on a subscribed connection.
    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {}

    // MARK: sync

    /// Heartbeat and status messages and method replies are control messages; a reply with
    /// `success: false` is a rejection.
    mutating func other(_ header: Header) throws(VenueError) {
        switch header.kind {
        case .control: break
        case .reply: guard header.success != false else { throw rejection(header.error) }
        default: throw unexpected("channel", header.channel, otherwise: "message without channel or method")
        }
        counters.controlMessages += 1
    }

    /// Deletes before inserts: with the book's capacity at the subscribed depth this equals
    /// Kraken's "apply the whole update, then truncate".
    mutating func applyBook<Sink: VenueEventSink>(
        _ header: Header, message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) {
        applyEntries(deletesFirst: true, receiveTime: receiveTime, sink: &sink) { $0.isSnapshot = header.isSnapshot }
    }

    mutating func publishTrades<Sink: VenueEventSink>(_ header: Header, sink: inout Sink) {
        if trades.count > 0 { counters[trades.trades[0].instrument].messages += 1 }
        // A trade snapshot is recent history (not subscribed to, and never published).
        if !header.isSnapshot { trades.emit(to: &sink) }
    }

    /// A checksum mismatch (or crossed book): resubscribe that symbol's book for a new snapshot.
    mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest]) {
        unsync(symbol)
        requests.append(request("unsubscribe", "book", [symbol], options: #","depth":\#(depth)"#))
        requests.append(request("subscribe", "book", [symbol], options: #","depth":\#(depth),"snapshot":true"#))
    }

    // MARK: parsing

    struct Header: EntryMessageHeader {
        var kind = MessageKind.none
        var channel: ByteView?
        var hasType = false
        var isSnapshot = false
        var success: Bool?
        var error: ByteView?
        var unknownName: ByteView?
        var missingMember: StaticString? { (kind == .book || kind == .trade) && !hasType ? "type" : nil }
    }

    func parseMember(_ key: ByteView, _ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        if key == "channel" {
            let channel = try s.string()
            header.channel = channel
            header.kind = channel == "book" ? .book : channel == "trade" ? .trade
                : channel == "heartbeat" || channel == "status" ? .control : .other
        } else if key == "type" {
            header.isSnapshot = try s.isSnapshot(else: "update", missing: "type snapshot or update")
            header.hasType = true
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

    /// `{"symbol","bids":[{"price","qty"}…],"asks":[…],"checksum","timestamp"}`.
    mutating func parseBook(_ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        let entry = scratch.beginEntry()
        var symbol: Int?
        var checksum: UInt64?
        var time: UInt64 = 0
        var deferredBids: JSONScanner?, deferredAsks: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "symbol" {
                let found = index.find(try s.string(), noting: &header.unknownName)
                symbol = found
                if entry >= 0 { scratch.entries[entry].symbol = found }
            } else if key == "bids" || key == "asks" {
                let side: Side = key == "bids" ? .bid : .ask
                if let symbol {
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
        guard let symbol, let checksum, let crc = UInt32(exactly: checksum) else {
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
        let scales = index.scales(symbol)
        try s.beginArray()
        while try s.nextElement() {
            var price: Int64?, quantity: Int64?
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "price" {
                    price = try s.decimal(scale: scales.price)
                } else if key == "qty" {
                    quantity = try s.decimal(scale: scales.quantity)
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
}
