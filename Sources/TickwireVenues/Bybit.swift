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
public struct BybitAdapter: SnapshotStreamAdapter {
    public enum Category: String, Sendable {
        case linear
        case spot
    }

    /// Depths of `orderbook.{depth}` (linear/inverse and spot; 500 is the older linear depth).
    public static let supportedDepths = [1, 50, 200, 500, 1000]
    public static let pingInterval: UInt64 = 20 * VenueTime.nanosecondsPerSecond
    /// Bybit spot accepts at most 10 topics per subscribe request.
    static let topicsPerRequest = 10
    /// Trades: `{"T","s","S","v","p","L","i","BT"}`; `S` is the taker's side.
    static let format = StreamFormat(
        name: "Bybit", data: "data", booksInArray: false, overflow: "book message with more levels than the parse scratch holds",
        trade: TradeSpelling(price: "p", quantity: "v", side: "S", buy: "Buy", sell: "Sell", id: "i", time: "T", isoTime: false,
                             badSide: "S Buy or Sell", missing: "trade p, v, S and T"))

    public let venue: Venue
    public let category: Category
    public let depth: Int
    public internal(set) var counters: VenueCounters

    let index: SymbolIndex
    var synced: [Bool]
    private var lastUpdateId: [UInt64]
    var scratch: BookScratch
    var trades: TradeScratch
    private var keepalive = Keepalive(interval: BybitAdapter.pingInterval, ping: #"{"op":"ping"}"#)

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

    // MARK: VenueAdapter (handle, handleSnapshot and resync: SnapshotStreamAdapter)

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        keepalive.connected(at: receiveTime)
        awaitSnapshots(receiveTime: receiveTime, sink: &sink)
        let topics = (0..<index.count).flatMap { [bookTopic($0), tradeTopic($0)] }
        var start = 0
        while start < topics.count {
            let end = min(start + Self.topicsPerRequest, topics.count)
            requests.append(Self.request("subscribe", Array(topics[start..<end])))
            start = end
        }
    }

    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {
        keepalive.tick(now: now, requests: &requests)
    }

    // MARK: sync

    /// Subscribe acks and pong replies (`op`) are control messages; `success: false` a rejection.
    mutating func other(_ header: Header) throws(VenueError) {
        guard header.kind == .none && header.isReply else {
            throw unexpected("topic", header.topic, otherwise: "message without topic or op")
        }
        guard header.success != false else { throw rejection(header.replyMessage) }
        counters.controlMessages += 1
    }

    mutating func applyBook<Sink: VenueEventSink>(
        _ header: Header, message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
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
    mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest]) {
        unsync(symbol)
        requests.append(Self.request("unsubscribe", [bookTopic(symbol)]))
        requests.append(Self.request("subscribe", [bookTopic(symbol)]))
    }

    // MARK: parsing

    struct Header: SymbolMessageHeader {
        var kind = MessageKind.none
        var topic: ByteView?
        var symbolName: ByteView?
        var symbol = -1
        var hasType = false
        var isSnapshot = false
        var time: UInt64 = 0
        var isReply = false
        var success: Bool?
        var replyMessage: ByteView?
        var missingMember: StaticString? { kind == .book && !hasType ? "type" : nil }
    }

    func parseMember(_ key: ByteView, _ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        if key == "topic" {
            let topic = try s.string()
            header.topic = topic
            header.kind = topic.hasPrefix("orderbook.") ? .book : topic.hasPrefix("publicTrade.") ? .trade : .other
            let name = topic.suffix(afterLast: UInt8(ascii: "."))
            header.symbolName = name
            header.symbol = index.find(name) ?? -1
        } else if key == "type" {
            header.isSnapshot = try s.isSnapshot(else: "delta", missing: "type snapshot or delta")
            header.hasType = true
        } else if key == "ts" {
            header.time = try s.millisecondsAsNanoseconds()
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

    /// `{"s","b":[["price","size"]…],"a":[…],"u","seq"}`.
    mutating func parseBook(_ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        let scales = index.scales(header.symbol)
        let entry = scratch.beginEntry()
        var sawUpdateId = false
        try s.beginObject()
        while let key = try s.nextKey() {
            if key == "b" {
                try s.levelPairs(.bid, scales, into: &scratch)
            } else if key == "a" {
                try s.levelPairs(.ask, scales, into: &scratch)
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
    }
}
