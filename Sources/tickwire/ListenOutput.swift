import CTickwire
import Histogram
import TickwireClient
import TickwireCore
import TickwireRuntime

/// What `tickwire listen` does with the client's callbacks, per `--format`: jsonl writes each
/// book line as it happens (the `watch` line, from the rebuilt book); table keeps the top of
/// each book for the periodic redraw; table and stats record the send→receive latency of every packet.
/// Nothing here allocates per message: lines go through a preallocated formatter, the table
/// copies two levels into preallocated arrays, and the histogram has a fixed range.
struct ListenOutput: FeedHandler {
    enum Format: String { case jsonl, table, stats }

    let format: Format
    private var lines: BookLineFormatter
    private var sink = FileDescriptorSink(descriptor: 1)
    /// Receive time - send time of each packet processed, ns (up to a minute).
    private(set) var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    /// Packets received before their send time (clocks of two hosts disagree), or beyond range.
    private(set) var latencyOutOfRange: UInt64 = 0
    /// Per update, ns: venue frame received by the publisher → the packet carrying the update
    /// posted (the publisher's internal leg), and → the book rebuilt here (the whole feeder
    /// leg). Meaningful when both run on one host or share a PTP clock.
    private(set) var publisherLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    private(set) var updateLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    /// Send time of the packet being processed.
    private var packetSendTime: UInt64 = 0
    private(set) var bookLines: UInt64 = 0
    private(set) var trades: UInt64 = 0
    private var top: TopOfBookTable

    init(format: Format, levels: Int, instrumentCapacity: Int) {
        self.format = format
        lines = BookLineFormatter(instrumentCapacity: instrumentCapacity, levels: levels)
        top = TopOfBookTable(capacity: instrumentCapacity)
    }

    mutating func instrumentDefined(_ definition: WireInstrumentDefinition) {
        let venue = definition.venue?.name ?? "venue-\(definition.venueCode)"
        let symbol = definition.symbol.string
        lines.define(definition.instrument, venue: venue, symbol: symbol,
                     priceScale: definition.priceScale, quantityScale: definition.quantityScale)
        top.define(definition, name: "\(venue):\(symbol)")
    }

    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        bookLines &+= 1
        switch format {
        case .jsonl: sink.emit(lines.updateLine(instrument, book: book, venueUpdateId: venueUpdateId, receiveTime: receiveTime))
        case .table, .stats:
            if format == .table { top.update(instrument, book: book, venueUpdateId: venueUpdateId) }
            let now = ctw_realtime_ns()
            if now >= receiveTime { updateLatency.record(now &- receiveTime) }
            if packetSendTime >= receiveTime { publisherLatency.record(packetSendTime &- receiveTime) }
        }
    }

    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        switch format {
        case .jsonl: sink.emit(lines.invalidLine(instrument, reason: reason, receiveTime: receiveTime))
        case .table: top.invalidate(instrument, reason: reason)
        case .stats: break
        }
    }

    mutating func trade(_ trade: Trade) { trades &+= 1 }

    mutating func packetAccepted(_ header: PacketHeader, receiveTime: UInt64) {
        guard format != .jsonl else { return }
        packetSendTime = header.sendTime
        if receiveTime < header.sendTime || !latency.record(receiveTime &- header.sendTime) { latencyOutOfRange &+= 1 }
    }

    /// Session, gap and recovery events go to stderr as they happen (rare, not per message).
    mutating func channelEvent(_ event: ChannelEvent) {
        printError("listen: \(event)")
    }

    /// The latency lines of `stats` and `table`: each packet's send → receive, and each
    /// update's venue frame received → book rebuilt here.
    func latencySummary() -> String {
        guard latency.totalCount > 0 else { return "latency send->receive: no packets" }
        return "latency send->receive " + latencyPercentiles(latency) + (latencyOutOfRange > 0 ? " (\(latencyOutOfRange) out of range)" : "")
            + (publisherLatency.totalCount > 0 ? "; venue frame received->packet sent " + latencyPercentiles(publisherLatency) : "")
            + (updateLatency.totalCount > 0 ? "; venue frame received->book rebuilt " + latencyPercentiles(updateLatency) : "")
    }

    /// The histograms behind `latencySummary`, named for `--latency-histogram`.
    var latencyHistograms: [(name: String, histogram: Histogram<UInt64>)] {
        [("packet_sent_to_received", latency), ("frame_received_to_packet_sent", publisherLatency),
         ("frame_received_to_book_rebuilt", updateLatency)]
    }

    func renderTable(status: String) -> String { top.render(status: status) }
}

/// The best bid and ask of every instrument, copied at each update for the table view.
struct TopOfBookTable {
    private var names: [String]
    private var priceScales: [Scale]
    private var quantityScales: [Scale]
    private var bids: [BookLevel?]
    private var asks: [BookLevel?]
    private var updateIds: [UInt64]
    private var updates: [UInt64]
    private var reasons: [BookStatus.Reason?]

    init(capacity: Int) {
        names = Array(repeating: "", count: capacity)
        priceScales = Array(repeating: Scale(0), count: capacity)
        quantityScales = priceScales
        bids = Array(repeating: nil, count: capacity)
        asks = bids
        updateIds = Array(repeating: 0, count: capacity)
        updates = updateIds
        reasons = Array(repeating: .snapshotPending, count: capacity)
    }

    mutating func define(_ definition: WireInstrumentDefinition, name: String) {
        let index = definition.instrument.index
        names[index] = name
        priceScales[index] = definition.priceScale
        quantityScales[index] = definition.quantityScale
        bids[index] = nil
        asks[index] = nil
        reasons[index] = .snapshotPending
    }

    mutating func update(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64) {
        let index = instrument.index
        bids[index] = book.bestBid
        asks[index] = book.bestAsk
        updateIds[index] = venueUpdateId
        updates[index] &+= 1
        reasons[index] = nil
    }

    mutating func invalidate(_ instrument: InstrumentId, reason: BookStatus.Reason) { reasons[instrument.index] = reason }

    /// The whole screen (clear, home, one row per instrument): built a few times a second, never per message.
    func render(status: String) -> String {
        var out = "\u{1B}[H\u{1B}[2J" + "tickwire listen    \(status)\n\n"
        out += pad("instrument", 28, left: true) + pad("bid qty", 16) + pad("bid", 16) + "  " + pad("ask", 16, left: true)
            + pad("ask qty", 16, left: true) + pad("updates", 10) + "  state\n"
        for index in names.indices where !names[index].isEmpty {
            let text = { (level: BookLevel?, scale: Scale, quantityScale: Scale) -> (String, String) in
                guard let level else { return ("", "") }
                return (DecimalText.format(level.price.mantissa, scale: scale, trimTrailingZeros: true),
                        DecimalText.format(level.quantity.mantissa, scale: quantityScale, trimTrailingZeros: true))
            }
            let bid = text(bids[index], priceScales[index], quantityScales[index])
            let ask = text(asks[index], priceScales[index], quantityScales[index])
            let state = reasons[index].map { "\u{1B}[31mINVALID (\($0))\u{1B}[0m" } ?? "\u{1B}[32mVALID\u{1B}[0m"
            out += pad(names[index], 28, left: true) + pad(bid.1, 16) + pad(bid.0, 16) + "  " + pad(ask.0, 16, left: true)
                + pad(ask.1, 16, left: true) + pad("\(updates[index])", 10) + "  \(state)\n"
        }
        return out
    }

    private func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + fill : fill + text
    }
}
