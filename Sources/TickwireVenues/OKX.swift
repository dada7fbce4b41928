import TickwireCore

/// OKX v5 public channels: `books` (or `books-l2-tbt` / `books50-l2-tbt`) and `trades`
/// (reference §4).
///
/// Book sync, as OKX documents it:
/// - `action: snapshot` (its `prevSeqId` is -1) replaces the book;
/// - an update must have `prevSeqId == seqId` of the previous message for that `instId`.
///   That one rule also admits the two documented exceptions: the keepalive with empty
///   `asks`/`bids` and `prevSeqId == seqId` (nothing to apply), and the maintenance reset
///   where `seqId < prevSeqId` while `prevSeqId` still chains. Anything else is a gap:
///   unsubscribe + subscribe that `instId`'s book channel for a new snapshot.
/// - `checksum` (signed CRC32 of the top 25) is checked by `BookKeeper` when non-zero; OKX now
///   sends 0, which means "no checksum". Messages of older API versions carry no
///   `seqId`/`prevSeqId`: they are validated by their checksum alone, and their update id
///   is the message `ts`.
/// Keepalive: the text `ping` every 25 s (OKX drops a connection silent for 30 s); the
/// `pong` reply and `event` messages are control messages, `event: error` a rejection.
public struct OKXAdapter: SnapshotStreamAdapter {
    public enum BookChannel: String, Sendable {
        case books = "books"
        case booksL2Tbt = "books-l2-tbt"
        case books50L2Tbt = "books50-l2-tbt"

        /// Levels a side OKX keeps in this channel's book (the books should hold as many).
        public var depth: Int { self == .books50L2Tbt ? 50 : 400 }

        /// Compares with a channel name in a frame (no String on the per-message path).
        func isNamed(_ name: ByteView) -> Bool {
            switch self {
            case .books: name == "books"
            case .booksL2Tbt: name == "books-l2-tbt"
            case .books50L2Tbt: name == "books50-l2-tbt"
            }
        }
    }

    public static let pingInterval: UInt64 = 25 * VenueTime.nanosecondsPerSecond
    /// Trades: `{"instId","tradeId","px","sz","side","ts"}`; `side` is the taker's.
    static let format = StreamFormat(
        name: "OKX", data: "data", booksInArray: true, overflow: "book message with more levels or entries than the parse scratch holds",
        trade: TradeSpelling(price: "px", quantity: "sz", side: "side", buy: "buy", sell: "sell", id: "tradeId", time: "ts",
                             isoTime: false, badSide: "side buy or sell", missing: "trade px, sz, side and ts"))

    public let venue = Venue.okx
    public let channel: BookChannel
    public internal(set) var counters: VenueCounters

    let index: SymbolIndex
    var synced: [Bool]
    /// Whether `lastSeqId` holds a `seqId` to chain from (not after an older-API message).
    private var hasLastSeqId: [Bool]
    private var lastSeqId: [Int64]
    var scratch: BookScratch
    var trades: TradeScratch
    private var keepalive = Keepalive(interval: OKXAdapter.pingInterval, ping: "ping")
    private var requestId = 0

    /// - Parameters:
    ///   - symbols: OKX `instId`s (`BTC-USDT`) with their instrument scales.
    ///   - maxLevelsPerMessage: the parse scratch (default: a full snapshot of the channel).
    public init(
        symbols: [VenueSymbol], channel: BookChannel = .books, maxLevelsPerMessage: Int? = nil, maxTradesPerMessage: Int = 1024
    ) throws(VenueSetupError) {
        index = try SymbolIndex(symbols)
        self.channel = channel
        counters = VenueCounters(instrumentCapacity: index.instrumentCapacity)
        synced = Array(repeating: false, count: symbols.count)
        hasLastSeqId = Array(repeating: false, count: symbols.count)
        lastSeqId = Array(repeating: -1, count: symbols.count)
        scratch = BookScratch(levelCapacity: maxLevelsPerMessage ?? 2 * channel.depth, entryCapacity: 4)
        trades = TradeScratch(capacity: maxTradesPerMessage)
    }

    private mutating func request(_ op: String, _ args: [String]) -> VenueRequest {
        requestId += 1
        return .sendText(#"{"id":"\#(requestId)","op":"\#(op)","args":["# + args.joined(separator: ",") + "]}")
    }

    private func argument(_ channel: String, _ symbol: Int) -> String {
        #"{"channel":"\#(channel)","instId":"\#(index.symbols[symbol].name)"}"#
    }

    // MARK: VenueAdapter (handleSnapshot and resync: SnapshotStreamAdapter)

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        keepalive.connected(at: receiveTime)
        awaitSnapshots(receiveTime: receiveTime, sink: &sink)
        var args: [String] = []
        for symbol in 0..<index.count {
            hasLastSeqId[symbol] = false
            args.append(argument(channel.rawValue, symbol))
            args.append(argument("trades", symbol))
        }
        requests.append(request("subscribe", args))
    }

    /// The text `pong` (the reply to `ping`) is a control message; anything else a JSON frame.
    public mutating func handle<Sink: VenueEventSink>(
        message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        if message == "pong" {
            counters.controlMessages += 1
            return
        }
        try handleFrame(message, receiveTime: receiveTime, sink: &sink, requests: &requests)
    }

    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {
        keepalive.tick(now: now, requests: &requests)
    }

    // MARK: sync

    /// `event` messages (subscribe acks) are control messages; `event: error` a rejection.
    mutating func other(_ header: Header) throws(VenueError) {
        guard header.kind == .reply else {
            throw unexpected("channel", header.channelName, otherwise: "message without arg or event")
        }
        if header.isError { throw rejection(header.eventMessage) }
        counters.controlMessages += 1
    }

    mutating func applyBook<Sink: VenueEventSink>(
        _ header: Header, message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) {
        let symbol = header.symbol
        let instrument = index.instruments[symbol]
        counters[instrument].messages += 1
        for entryIndex in 0..<scratch.entryCount {
            let entry = scratch.entries[entryIndex]
            if header.isSnapshot {
                scratch.entries[entryIndex].isSnapshot = true
            } else {
                guard synced[symbol] else { return }
                if entry.hasSequence {
                    guard !hasLastSeqId[symbol] || entry.previousId == lastSeqId[symbol] else {
                        counters[instrument].gaps += 1
                        sink.bookInvalid(instrument, reason: .sequenceGap, receiveTime: receiveTime)
                        resubscribe(symbol, requests: &requests)
                        return
                    }
                    // The keepalive: nothing changed, the chain carries on.
                    if entry.previousId == Int64(entry.updateId) && entry.levelCount == 0 { continue }
                }
            }
            scratch.emit(entryIndex, instrument: instrument, deletesFirst: false, receiveTime: receiveTime, sink: &sink)
            synced[symbol] = true
            hasLastSeqId[symbol] = entry.hasSequence
            lastSeqId[symbol] = entry.hasSequence ? Int64(entry.updateId) : -1
        }
    }

    /// OKX's recovery for one `instId`: unsubscribe and subscribe its book; a snapshot follows.
    mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest]) {
        unsync(symbol)
        hasLastSeqId[symbol] = false
        let arg = argument(channel.rawValue, symbol)
        requests.append(request("unsubscribe", [arg]))
        requests.append(request("subscribe", [arg]))
    }

    // MARK: parsing

    struct Header: SymbolMessageHeader {
        var kind = MessageKind.none
        var channelName: ByteView?
        var symbolName: ByteView?
        var symbol = -1
        var hasAction = false
        var isSnapshot = false
        var isError = false
        var eventMessage: ByteView?
        var missingMember: StaticString? { kind == .book && !hasAction ? "action" : nil }
    }

    func parseMember(_ key: ByteView, _ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        if key == "arg" {
            try s.beginObject()
            while let field = try s.nextKey() {
                if field == "channel" {
                    header.channelName = try s.string()
                } else if field == "instId" {
                    let name = try s.string()
                    header.symbolName = name
                    header.symbol = index.find(name) ?? -1
                } else {
                    try s.skipValue()
                }
            }
            if header.kind != .reply, let channel = header.channelName {
                header.kind = self.channel.isNamed(channel) ? .book : channel == "trades" ? .trade : .other
            }
        } else if key == "action" {
            header.isSnapshot = try s.isSnapshot(else: "update", missing: "action snapshot or update")
            header.hasAction = true
        } else if key == "event" {
            header.kind = .reply
            header.isError = try s.string() == "error"
        } else if key == "msg" {
            header.eventMessage = try s.string()
        } else {
            try s.skipValue()
        }
    }

    /// `{"asks":[["price","size","0","orders"]…],"bids":[…],"ts","checksum","prevSeqId","seqId"}`.
    mutating func parseBook(_ s: inout JSONScanner, _ header: inout Header) throws(JSONError) {
        let scales = index.scales(header.symbol)
        try s.beginObject()
        let entry = scratch.beginEntry()
        var seqId: Int64?, prevSeqId: Int64?, checksum: Int64 = 0, time: UInt64?
        while let key = try s.nextKey() {
            if key == "asks" {
                try s.levelPairs(.ask, scales, into: &scratch)
            } else if key == "bids" {
                try s.levelPairs(.bid, scales, into: &scratch)
            } else if key == "seqId" {
                seqId = try s.int64()
            } else if key == "prevSeqId" {
                prevSeqId = try s.int64()
            } else if key == "checksum" {
                checksum = try s.int64()
            } else if key == "ts" {
                time = try s.uint64()
            } else {
                try s.skipValue()
            }
        }
        guard let time else { throw JSONError(.missingField("ts"), offset: s.offset) }
        guard (seqId == nil) == (prevSeqId == nil), (seqId ?? 0) >= 0, (prevSeqId ?? -1) >= -1 else {
            throw JSONError(.missingField("seqId and prevSeqId, both or neither"), offset: s.offset)
        }
        guard let signed = Int32(exactly: checksum) else { throw JSONError(.invalidInteger, offset: s.offset) }
        let (eventTime, overflow) = time.multipliedReportingOverflow(by: VenueTime.nanosecondsPerMillisecond)
        guard !overflow else { throw JSONError(.invalidInteger, offset: s.offset) }
        guard entry >= 0 else { return }
        scratch.entries[entry].symbol = header.symbol
        scratch.entries[entry].hasSequence = seqId != nil
        // The update id: seqId, or the message ts (ms) from older API versions.
        scratch.entries[entry].updateId = seqId.map { UInt64($0) } ?? time
        scratch.entries[entry].previousId = prevSeqId ?? -1
        scratch.entries[entry].checksum = signed != 0 ? .okxTop25(signed) : .none
        scratch.entries[entry].eventTime = eventTime
    }
}
