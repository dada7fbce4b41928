import TickwireCore

/// Bybit v5 public streams (`bybit-linear`, `bybit-spot`): `orderbook.{depth}.{symbol}` and
/// `publicTrade.{symbol}` (reference §3).
///
/// Book sync, as Bybit documents it:
/// - a `snapshot` message replaces the book; so does a `delta` whose `u` is 1 (the service
///   restarted: "overwrite your local orderbook");
/// - otherwise each delta must have `u == previous u + 1`; anything else is a gap, and the
///   only recovery is to resubscribe that topic (unsubscribe + subscribe), which makes Bybit
///   send a fresh snapshot. `seq` is cross-stream ordering, not gap detection: ignored.
/// - deltas that arrive while a symbol waits for its snapshot are dropped (its book is
///   already reported invalid).
/// Keepalive: `{"op":"ping"}` every 20 s; replies and subscribe acks are control messages.
public struct BybitAdapter: WebSocketSnapshotVenue {
    public enum Category: String, Sendable {
        case linear
        case spot
    }

    /// Depths of `orderbook.{depth}` (linear/inverse and spot; 500 is the older linear depth).
    public static let supportedDepths = [1, 50, 200, 500, 1000]
    public static let pingInterval: UInt64 = 20 * VenueTime.nanosecondsPerSecond
    /// Bybit spot accepts at most 10 topics per subscribe request.
    static let topicsPerRequest = 10

    public let venue: Venue
    public let category: Category
    public let depth: Int
    public private(set) var counters: VenueCounters

    private let index: SymbolIndex
    private var synced: [Bool]
    private var lastUpdateId: [UInt64]
    private var scratch: BookScratch
    private var trades: TradeScratch
    private var isConnected = false
    private var lastPing: UInt64 = 0

    /// - Parameters:
    ///   - symbols: Bybit's own names (`BTCUSDT`), with the instrument scales (at least the
    ///     venue's tick and lot decimals; a finer value than the scale is refused, never rounded).
    ///   - depth: the `orderbook.{depth}` topic; the books should hold at least `depth` levels a side.
    ///   - maxLevelsPerMessage: the parse scratch (default: a full snapshot, `2 × depth`).
    public init(
        category: Category, symbols: [VenueSymbol], depth: Int, maxLevelsPerMessage: Int? = nil, maxTradesPerMessage: Int = 1024
    ) throws(VenueSetupError) {
        guard Self.supportedDepths.contains(depth) else {
            throw .unsupportedDepth(venue: category == .linear ? .bybitLinear : .bybitSpot, depth: depth, supported: Self.supportedDepths)
        }
        index = try SymbolIndex(symbols)
        self.category = category
        venue = category == .linear ? .bybitLinear : .bybitSpot
        self.depth = depth
        counters = VenueCounters(instrumentCapacity: index.instrumentCapacity)
        synced = Array(repeating: false, count: symbols.count)
        lastUpdateId = Array(repeating: 0, count: symbols.count)
        scratch = BookScratch(levelCapacity: maxLevelsPerMessage ?? 2 * depth, entryCapacity: 1)
        trades = TradeScratch(capacity: maxTradesPerMessage)
    }

    func bookTopic(_ symbol: Int) -> String { "orderbook.\(depth).\(index.symbols[symbol].name)" }
    func tradeTopic(_ symbol: Int) -> String { "publicTrade.\(index.symbols[symbol].name)" }

    static func request(_ op: String, _ topics: [String]) -> VenueRequest {
        .sendText(#"{"op":"\#(op)","args":["# + topics.map { "\"\($0)\"" }.joined(separator: ",") + "]}")
    }

    // MARK: VenueAdapter

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        isConnected = true
        lastPing = receiveTime
        var topics: [String] = []
        for symbol in 0..<index.count {
            synced[symbol] = false
            sink.bookInvalid(index.instruments[symbol], reason: .snapshotPending, receiveTime: receiveTime)
            topics.append(bookTopic(symbol))
            topics.append(tradeTopic(symbol))
        }
        var start = 0
        while start < topics.count {
            let end = min(start + Self.topicsPerRequest, topics.count)
            requests.append(Self.request("subscribe", Array(topics[start..<end])))
            start = end
        }
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
        case .book:
            guard header.symbol >= 0 else { throw unknown(header) }
            guard !scratch.overflowed else {
                throw failed(header, .unexpectedMessage("book message with more levels than the parse scratch holds"),
                             receiveTime: receiveTime, sink: &sink, requests: &requests)
            }
            applyBook(header, receiveTime: receiveTime, sink: &sink, requests: &requests)
        case .trade:
            guard header.symbol >= 0 else { throw unknown(header) }
            guard !trades.overflowed else {
                throw failed(header, .unexpectedMessage("trade message with more trades than the parse scratch holds"),
                             receiveTime: receiveTime, sink: &sink, requests: &requests)
            }
            trades.countMessage(in: &counters)
            trades.emit(to: &sink)
        case .otherTopic, .none:
            if header.kind == .none && header.isReply {
                guard header.success != false else {
                    counters.unattributedParseErrors += 1
                    throw .venueRejected(header.replyMessage?.string ?? "")
                }
                counters.controlMessages += 1
                return
            }
            counters.unattributedParseErrors += 1
            throw .unexpectedMessage(header.topic.map { "topic \($0.string)" } ?? "message without topic or op")
        }
    }

    public mutating func resync(_ instrument: InstrumentId, requests: inout [VenueRequest]) {
        guard let symbol = index.local(instrument) else { return }
        resubscribe(symbol, requests: &requests)
    }

    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {
        guard isConnected, now &- lastPing >= Self.pingInterval else { return }
        lastPing = now
        requests.append(.sendText(#"{"op":"ping"}"#))
    }

    // MARK: sync

    private mutating func applyBook<Sink: VenueEventSink>(
        _ header: Header, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) {
        let symbol = header.symbol
        let instrument = index.instruments[symbol]
        counters[instrument].messages += 1
        let updateId = scratch.entries[0].updateId
        scratch.entries[0].eventTime = header.time
        if header.isSnapshot || updateId == 1 {
            // A snapshot, or u == 1 (service restart): overwrite the book.
            scratch.entries[0].isSnapshot = true
        } else {
            guard synced[symbol] else { return }
            guard updateId == lastUpdateId[symbol] &+ 1 else {
                counters[instrument].gaps += 1
                sink.bookInvalid(instrument, reason: .sequenceGap, receiveTime: receiveTime)
                resubscribe(symbol, requests: &requests)
                return
            }
        }
        scratch.emit(0, instrument: instrument, deletesFirst: false, receiveTime: receiveTime, sink: &sink)
        synced[symbol] = true
        lastUpdateId[symbol] = updateId
    }

    /// Bybit's only recovery: unsubscribe and subscribe the book topic; a snapshot follows.
    private mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest]) {
        synced[symbol] = false
        counters[index.instruments[symbol]].resyncs += 1
        requests.append(Self.request("unsubscribe", [bookTopic(symbol)]))
        requests.append(Self.request("subscribe", [bookTopic(symbol)]))
    }

    /// Counts a failed message; if it was a book message of a known symbol, that book may
    /// have missed an update: invalidate and resubscribe it.
    private mutating func failed<Sink: VenueEventSink>(
        _ header: Header, _ error: VenueError, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) -> VenueError {
        let instrument = header.symbol >= 0 ? index.instruments[header.symbol] : nil
        counters.countParseError(instrument)
        if let instrument, header.kind == .book {
            sink.bookInvalid(instrument, reason: .malformedMessage, receiveTime: receiveTime)
            resubscribe(header.symbol, requests: &requests)
        }
        return error
    }

    private mutating func unknown(_ header: Header) -> VenueError {
        counters.unattributedParseErrors += 1
        return .unknownSymbol(header.symbolName?.string ?? "")
    }

    // MARK: parsing

    private struct Header {
        enum Kind { case none, book, trade, otherTopic }
        var kind = Kind.none
        var topic: ByteView?
        var symbolName: ByteView?
        var symbol = -1
        var hasType = false
        var isSnapshot = false
        var time: UInt64 = 0
        var isReply = false
        var success: Bool?
        var replyMessage: ByteView?
    }

    /// `{"T","s","S","v","p","i",…}`; `S` is the taker's side.
    static let tradeFields = TradeFields(
        symbol: nil, price: "p", quantity: "v", side: "S", id: "i", time: "T", timeFormat: .milliseconds,
        buyerAggressor: "Buy", sellerAggressor: "Sell", missingFields: "trade p, v, S and T", invalidSide: "S Buy or Sell")

    /// Reads the whole frame into `header` and the scratches; emits nothing.
    private mutating func parse(_ message: ByteView, receiveTime: UInt64, into header: inout Header) throws(JSONError) {
        var s = JSONScanner(message)
        var deferredData: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "topic" {
                let topic = try s.string()
                header.topic = topic
                header.kind = topic.hasPrefix("orderbook.") ? .book : topic.hasPrefix("publicTrade.") ? .trade : .otherTopic
                let name = topic.suffix(afterLast: UInt8(ascii: "."))
                header.symbolName = name
                header.symbol = index.find(name) ?? -1
            } else if key == "type" {
                let type = try s.string()
                header.hasType = true
                header.isSnapshot = type == "snapshot"
                guard header.isSnapshot || type == "delta" else { throw JSONError(.missingField("type snapshot or delta"), offset: s.offset) }
            } else if key == "ts" {
                header.time = try s.millisecondsAsNanoseconds()
            } else if key == "data" {
                if header.kind == .none {
                    deferredData = s  // the topic comes later: parse the data once it is known
                    try s.skipValue()
                } else {
                    try parseData(&s, header, receiveTime: receiveTime)
                }
            } else if key == "op" {
                header.isReply = true
                try s.skipValue()
            } else if key == "success" {
                header.success = try s.bool()
            } else if key == "ret_msg" {
                header.replyMessage = try s.string()
            } else {
                try s.skipValue()
            }
        }
        guard s.isAtEnd() else { throw JSONError(.unexpectedByte(s.peek() ?? 0), offset: s.offset) }
        if var data = deferredData { try parseData(&data, header, receiveTime: receiveTime) }
        if header.kind == .book && !header.hasType { throw JSONError(.missingField("type"), offset: s.offset) }
    }

    private mutating func parseData(_ s: inout JSONScanner, _ header: Header, receiveTime: UInt64) throws(JSONError) {
        guard header.symbol >= 0 else { return try s.skipValue() }
        let priceScale = index.priceScales[header.symbol]
        let quantityScale = index.quantityScales[header.symbol]
        switch header.kind {
        case .book:
            let entry = scratch.beginEntry()
            var sawUpdateId = false
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "b" {
                    try s.levelPairs(.bid, priceScale: priceScale, quantityScale: quantityScale, into: &scratch)
                } else if key == "a" {
                    try s.levelPairs(.ask, priceScale: priceScale, quantityScale: quantityScale, into: &scratch)
                } else if key == "u" {
                    let updateId = try s.uint64()
                    if entry >= 0 { scratch.entries[entry].updateId = updateId }
                    sawUpdateId = true
                } else if key == "s" {
                    guard let name = header.symbolName, try s.string() == name else {
                        throw JSONError(.missingField("data.s equal to the topic's symbol"), offset: s.offset)
                    }
                } else {
                    try s.skipValue()
                }
            }
            guard sawUpdateId else { throw JSONError(.missingField("u"), offset: s.offset) }
        case .trade:
            var unknownSymbol: ByteView?  // the topic named the symbol
            try s.beginArray()
            while try s.nextElement() {
                try s.beginObject()
                try s.tradeMembers(Self.tradeFields, knownSymbol: header.symbol, index: index, receiveTime: receiveTime,
                                   into: &trades, unknownSymbol: &unknownSymbol)
            }
        case .otherTopic, .none:
            try s.skipValue()
        }
    }
}
