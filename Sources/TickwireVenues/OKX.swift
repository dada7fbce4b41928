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
public struct OKXAdapter: WebSocketSnapshotVenue {
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

    public let venue = Venue.okx
    public let channel: BookChannel
    public private(set) var counters: VenueCounters

    private let index: SymbolIndex
    private var synced: [Bool]
    /// Whether `lastSeqId` holds a `seqId` to chain from (not after an older-API message).
    private var hasLastSeqId: [Bool]
    private var lastSeqId: [Int64]
    private var scratch: BookScratch
    private var trades: TradeScratch
    private var isConnected = false
    private var lastPing: UInt64 = 0
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

    // MARK: VenueAdapter

    public mutating func connected<Sink: VenueEventSink>(receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]) {
        isConnected = true
        lastPing = receiveTime
        var args: [String] = []
        for symbol in 0..<index.count {
            synced[symbol] = false
            hasLastSeqId[symbol] = false
            sink.bookInvalid(index.instruments[symbol], reason: .snapshotPending, receiveTime: receiveTime)
            args.append(argument(channel.rawValue, symbol))
            args.append(argument("trades", symbol))
        }
        requests.append(request("subscribe", args))
    }

    public mutating func handle<Sink: VenueEventSink>(
        message: ByteView, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
    ) throws(VenueError) {
        if message == "pong" {
            counters.controlMessages += 1
            return
        }
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
                throw failed(header, .unexpectedMessage("book message with more levels or entries than the parse scratch holds"),
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
        case .event:
            if header.isError {
                counters.unattributedParseErrors += 1
                throw .venueRejected(header.eventMessage?.string ?? "")
            }
            counters.controlMessages += 1
        case .otherChannel, .none:
            counters.unattributedParseErrors += 1
            throw .unexpectedMessage(header.channelName.map { "channel \($0.string)" } ?? "message without arg or event")
        }
    }

    public mutating func resync(_ instrument: InstrumentId, requests: inout [VenueRequest]) {
        guard let symbol = index.local(instrument) else { return }
        resubscribe(symbol, requests: &requests)
    }

    public mutating func tick(now: UInt64, requests: inout [VenueRequest]) {
        guard isConnected, now &- lastPing >= Self.pingInterval else { return }
        lastPing = now
        requests.append(.sendText("ping"))
    }

    // MARK: sync

    private mutating func applyBook<Sink: VenueEventSink>(
        _ header: Header, receiveTime: UInt64, sink: inout Sink, requests: inout [VenueRequest]
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
    private mutating func resubscribe(_ symbol: Int, requests: inout [VenueRequest]) {
        synced[symbol] = false
        hasLastSeqId[symbol] = false
        counters[index.instruments[symbol]].resyncs += 1
        let arg = argument(channel.rawValue, symbol)
        requests.append(request("unsubscribe", [arg]))
        requests.append(request("subscribe", [arg]))
    }

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
        enum Kind { case none, book, trade, event, otherChannel }
        var kind = Kind.none
        var channelName: ByteView?
        var symbolName: ByteView?
        var symbol = -1
        var hasAction = false
        var isSnapshot = false
        var isError = false
        var eventMessage: ByteView?
    }

    private mutating func parse(_ message: ByteView, receiveTime: UInt64, into header: inout Header) throws(JSONError) {
        var s = JSONScanner(message)
        var deferredData: JSONScanner?
        try s.beginObject()
        while let key = try s.nextKey() {
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
                if header.kind != .event, let channel = header.channelName {
                    header.kind = self.channel.isNamed(channel) ? .book : channel == "trades" ? .trade : .otherChannel
                }
            } else if key == "action" {
                let action = try s.string()
                header.hasAction = true
                header.isSnapshot = action == "snapshot"
                guard header.isSnapshot || action == "update" else {
                    throw JSONError(.missingField("action snapshot or update"), offset: s.offset)
                }
            } else if key == "data" {
                if header.kind == .none {
                    deferredData = s  // `arg` comes later: parse the data once it is known
                    try s.skipValue()
                } else {
                    try parseData(&s, header, receiveTime: receiveTime)
                }
            } else if key == "event" {
                header.kind = .event
                header.isError = try s.string() == "error"
            } else if key == "msg" {
                header.eventMessage = try s.string()
            } else {
                try s.skipValue()
            }
        }
        guard s.isAtEnd() else { throw JSONError(.unexpectedByte(s.peek() ?? 0), offset: s.offset) }
        if var data = deferredData { try parseData(&data, header, receiveTime: receiveTime) }
        if header.kind == .book && !header.hasAction { throw JSONError(.missingField("action"), offset: s.offset) }
    }

    /// `{"instId","tradeId","px","sz","side","ts"}`; `side` is the taker's.
    static let tradeFields = TradeFields(
        symbol: nil, price: "px", quantity: "sz", side: "side", id: "tradeId", time: "ts", timeFormat: .milliseconds,
        buyerAggressor: "buy", sellerAggressor: "sell", missingFields: "trade px, sz, side and ts", invalidSide: "side buy or sell")

    private mutating func parseData(_ s: inout JSONScanner, _ header: Header, receiveTime: UInt64) throws(JSONError) {
        guard header.symbol >= 0, header.kind == .book || header.kind == .trade else { return try s.skipValue() }
        let priceScale = index.priceScales[header.symbol]
        let quantityScale = index.quantityScales[header.symbol]
        try s.beginArray()
        while try s.nextElement() {
            try s.beginObject()
            if header.kind == .book {
                let entry = scratch.beginEntry()
                var seqId: Int64?, prevSeqId: Int64?, checksum: Int64 = 0, time: UInt64?
                while let key = try s.nextKey() {
                    if key == "asks" {
                        try s.levelPairs(.ask, priceScale: priceScale, quantityScale: quantityScale, into: &scratch)
                    } else if key == "bids" {
                        try s.levelPairs(.bid, priceScale: priceScale, quantityScale: quantityScale, into: &scratch)
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
                guard entry >= 0 else { continue }
                scratch.entries[entry].symbol = header.symbol
                scratch.entries[entry].hasSequence = seqId != nil
                // The update id: seqId, or the message ts (ms) from older API versions.
                scratch.entries[entry].updateId = seqId.map { UInt64($0) } ?? time
                scratch.entries[entry].previousId = prevSeqId ?? -1
                scratch.entries[entry].checksum = signed != 0 ? .okxTop25(signed) : .none
                scratch.entries[entry].eventTime = eventTime
            } else {
                var unknownSymbol: ByteView?  // the arg named the symbol
                try s.tradeMembers(Self.tradeFields, knownSymbol: header.symbol, index: index, receiveTime: receiveTime,
                                   into: &trades, unknownSymbol: &unknownSymbol)
            }
        }
    }
}
