import TickwireTransport
import TickwireVenues

/// Walks a counter struct's fields in one fixed order. The same walk registers the slots at
/// start-up (`SlotRegistrar`) and stores the values on the owning thread (`SlotStorer`), so
/// each struct's metric names, help texts and values are listed once.
protocol SlotVisitor {
    mutating func visit(_ name: StaticString, _ help: StaticString, _ kind: MetricKind, _ label: MetricLabelLiteral?, _ value: UInt64)
}

/// A label known at compile time (the reason of a parse error, a reject).
struct MetricLabelLiteral {
    var name: StaticString
    var value: StaticString
}

extension SlotVisitor {
    mutating func counter(_ name: StaticString, _ help: StaticString, _ value: UInt64) {
        visit(name, help, .counter, nil, value)
    }

    mutating func counter(_ name: StaticString, _ help: StaticString, _ value: Int) {
        visit(name, help, .counter, nil, UInt64(clamping: value))
    }

    mutating func counter(_ name: StaticString, _ help: StaticString, _ label: StaticString, _ labelValue: StaticString, _ value: some BinaryInteger) {
        visit(name, help, .counter, MetricLabelLiteral(name: label, value: labelValue), UInt64(clamping: value))
    }

    mutating func gauge(_ name: StaticString, _ help: StaticString, _ value: some BinaryInteger) {
        visit(name, help, .gauge, nil, UInt64(clamping: value))
    }
}

/// Registers one slot per visited field, with the group's labels.
struct SlotRegistrar: SlotVisitor {
    var layout: CounterLayout
    let labels: [MetricLabel]

    mutating func visit(_ name: StaticString, _ help: StaticString, _ kind: MetricKind, _ label: MetricLabelLiteral?, _ value: UInt64) {
        let extra = label.map { [MetricLabel($0.name.description, $0.value.description)] } ?? []
        _ = layout.register(name.description, help: help.description, kind: kind, labels: labels + extra)
    }
}

/// Stores the visited values into consecutive slots: a few `mov`s per field.
struct SlotStorer: SlotVisitor {
    let writer: CounterWriter
    var next: Int

    @inline(__always)
    mutating func visit(_ name: StaticString, _ help: StaticString, _ kind: MetricKind, _ label: MetricLabelLiteral?, _ value: UInt64) {
        writer.store(value, CounterSlot(index: next))
        next &+= 1
    }
}

extension CounterLayout {
    /// Registers the fields `walk` visits (with zero values) in publishing order, in a new
    /// group unless `continuingGroup` (more fields written by the same thread).
    mutating func registerGroup(labels: [MetricLabel], continuingGroup: Bool = false, _ walk: (inout SlotRegistrar) -> Void) -> Int {
        if !continuingGroup { beginGroup() }
        let first = slotCount
        var registrar = SlotRegistrar(layout: self, labels: labels)
        walk(&registrar)
        self = registrar.layout
        return first
    }
}

// MARK: - One group per stage's counters

/// One venue connection as its ingest thread sees it: the feed's `FeedCounters` and the
/// adapter's `VenueCounters`, labelled `venue` and (per symbol) `symbol`. Published in one
/// call from the ingest thread's housekeeping (not per message).
public struct FeedMetrics: Sendable {
    public let venue: String
    private let first: Int
    /// Instrument index of each symbol, in registration order.
    private let instrumentIndices: [Int]

    public init(venue: String, symbols: [VenueSymbol], layout: inout CounterLayout) {
        self.venue = venue
        instrumentIndices = symbols.map(\.instrument.index)
        let venueLabel = MetricLabel("venue", venue)
        first = layout.registerGroup(labels: [venueLabel]) { Self.walk(FeedCounters(), unattributed: 0, control: 0, &$0) }
        for symbol in symbols {
            _ = layout.registerGroup(labels: [venueLabel, MetricLabel("symbol", symbol.name)], continuingGroup: true) {
                Self.walk(VenueCounters.Symbol(), &$0)
            }
        }
    }

    public func publish(_ feed: FeedCounters, adapter: VenueCounters, to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        Self.walk(feed, unattributed: adapter.unattributedParseErrors, control: adapter.controlMessages, &storer)
        for index in instrumentIndices { Self.walk(adapter.symbols[index], &storer) }
    }

    static func walk<Visitor: SlotVisitor>(_ c: FeedCounters, unattributed: UInt64, control: UInt64, _ v: inout Visitor) {
        v.counter("tickwire_feed_messages_total", "Text messages received from the venue.", c.messages)
        v.counter("tickwire_feed_parse_errors_total", "Venue messages refused by the adapter, by reason.", "reason", "malformed", c.malformed)
        v.counter("tickwire_feed_parse_errors_total", "Venue messages refused by the adapter, by reason.", "reason", "unknown_symbol", c.unknownSymbol)
        v.counter("tickwire_feed_parse_errors_total", "Venue messages refused by the adapter, by reason.", "reason", "unexpected", c.unexpected)
        v.counter("tickwire_feed_parse_errors_total", "Venue messages refused by the adapter, by reason.", "reason", "rejected", c.rejected)
        v.counter("tickwire_feed_unattributed_parse_errors_total", "Parse errors not attributable to one symbol.", unattributed)
        v.counter("tickwire_feed_control_messages_total", "Venue control messages (subscription acks, pongs, heartbeats).", control)
        v.counter("tickwire_feed_binary_messages_total", "Binary WebSocket messages (ignored).", c.binaryMessages)
        v.counter("tickwire_feed_connects_total", "Successful connects, the first one included.", c.connects)
        v.counter("tickwire_feed_connect_failures_total", "Connection attempts that failed.", c.connectFailures)
        v.counter("tickwire_feed_reconnects_total", "Connections re-established after one ended.", c.reconnects)
        v.counter("tickwire_feed_disconnects_total", "Connections that ended.", c.disconnects)
        v.counter("tickwire_feed_resyncs_total", "Book failures handed back to the adapter to resync.", c.resyncs)
        v.counter("tickwire_feed_oversize_messages_total", "Messages over max_message_bytes (connection renewed).", c.oversize)
        v.counter("tickwire_feed_snapshots_requested_total", "REST snapshots requested.", c.snapshotsRequested)
        v.counter("tickwire_feed_snapshots_delivered_total", "REST snapshots delivered to the adapter.", c.snapshotsDelivered)
        v.counter("tickwire_feed_snapshots_stale_total", "REST snapshots of an earlier connection, dropped.", c.snapshotsStale)
        v.counter("tickwire_feed_snapshot_rate_limits_total", "REST snapshot requests refused by the venue's rate limit.", c.snapshotRateLimits)
        v.counter("tickwire_feed_snapshot_retries_total", "REST snapshot requests retried.", c.snapshotRetries)
        v.counter("tickwire_feed_send_failures_total", "Requests to the venue that could not be sent.", c.sendFailures)
        v.counter("tickwire_feed_pongs_total", "Pongs received.", c.pongs)
        v.counter("tickwire_feed_idle_timeouts_total", "Connections renewed because nothing arrived for idle_timeout_ms.", c.idleTimeouts)
    }

    static func walk<Visitor: SlotVisitor>(_ s: VenueCounters.Symbol, _ v: inout Visitor) {
        v.counter("tickwire_symbol_messages_total", "Book messages received for the symbol.", s.messages)
        v.counter("tickwire_symbol_gaps_total", "Sequence gaps the adapter detected.", s.gaps)
        v.counter("tickwire_symbol_resyncs_total", "Resyncs of the symbol's book.", s.resyncs)
        v.counter("tickwire_symbol_parse_errors_total", "Messages of the symbol the adapter refused.", s.parseErrors)
    }
}

/// The book keeper's per-instrument counters, labelled `venue` and `symbol`: published from
/// the thread that owns the keeper (the book stage, or the feed thread when fused).
public struct BookMetrics: Sendable {
    private let first: Int
    /// Instrument index of each symbol, in registration order.
    private let instrumentIndices: [Int]

    public init(venue: String, symbols: [VenueSymbol], layout: inout CounterLayout) {
        instrumentIndices = symbols.map(\.instrument.index)
        var first = layout.slotCount
        for (position, symbol) in symbols.enumerated() {
            let slot = layout.registerGroup(labels: [MetricLabel("venue", venue), MetricLabel("symbol", symbol.name)], continuingGroup: position > 0) {
                Self.walk(checksumFailures: 0, crossedBooks: 0, invalidations: 0, updatesPublished: 0, &$0)
            }
            if position == 0 { first = slot }
        }
        self.first = first
    }

    public func publish<Observer>(_ books: [BookKeeper<Observer>.Counters], to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        for index in instrumentIndices {
            let book = books[index]
            Self.walk(checksumFailures: book.checksumFailures, crossedBooks: book.crossedBooks,
                      invalidations: book.invalidations, updatesPublished: book.updatesPublished, &storer)
        }
    }

    static func walk<Visitor: SlotVisitor>(checksumFailures: UInt64, crossedBooks: UInt64, invalidations: UInt64, updatesPublished: UInt64, _ v: inout Visitor) {
        v.counter("tickwire_book_checksum_failures_total", "Books that failed the venue's checksum.", checksumFailures)
        v.counter("tickwire_book_crossed_total", "Books found crossed after a message.", crossedBooks)
        v.counter("tickwire_book_invalidations_total", "Times the book turned invalid.", invalidations)
        v.counter("tickwire_book_updates_total", "Valid book updates handed to the publisher.", updatesPublished)
    }
}

/// One published channel's `ChannelCounters`, labelled `channel`.
public struct ChannelMetrics: Sendable {
    private let first: Int

    public init(channel: UInt16, layout: inout CounterLayout) {
        first = layout.registerGroup(labels: [MetricLabel("channel", "\(channel)")]) { Self.walk(ChannelCounters(), &$0) }
    }

    public func publish(_ counters: ChannelCounters, to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        Self.walk(counters, &storer)
    }

    static func walk<Visitor: SlotVisitor>(_ c: ChannelCounters, _ v: inout Visitor) {
        v.counter("tickwire_channel_packets_total", "Sequenced packets sent.", c.packets)
        v.counter("tickwire_channel_messages_total", "Messages in the sequenced packets.", c.messages)
        v.counter("tickwire_channel_bytes_total", "Bytes of the sequenced packets.", c.bytes)
        v.counter("tickwire_channel_heartbeats_total", "Heartbeats sent.", c.heartbeats)
        v.counter("tickwire_channel_end_of_sessions_total", "End-of-session packets sent.", c.endOfSessions)
        v.counter("tickwire_channel_send_errors_total", "Packets a line's sender refused with an error.", c.sendErrors)
        v.counter("tickwire_channel_send_would_block_total", "Packets not sent because the socket buffer or TX ring was full.", c.wouldBlock)
    }
}

/// The retransmission service's `RetransmissionCounters`.
public struct RetransmissionMetrics: Sendable {
    private let first: Int

    public init(layout: inout CounterLayout) {
        first = layout.registerGroup(labels: []) { Self.walk(RetransmissionCounters(), &$0) }
    }

    public func publish(_ counters: RetransmissionCounters, to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        Self.walk(counters, &storer)
    }

    static func walk<Visitor: SlotVisitor>(_ c: RetransmissionCounters, _ v: inout Visitor) {
        v.counter("tickwire_retransmit_requests_total", "Retransmit requests decoded.", c.requests)
        v.counter("tickwire_retransmit_packets_resent_total", "Packets resent.", c.packetsResent)
        v.counter("tickwire_retransmit_rejects_total", "Retransmit requests rejected, by reason.", "reason", "not_available", c.notAvailable)
        v.counter("tickwire_retransmit_rejects_total", "Retransmit requests rejected, by reason.", "reason", "rate_limited", c.rateLimited)
        v.counter("tickwire_retransmit_rejects_total", "Retransmit requests rejected, by reason.", "reason", "unknown_channel", c.unknownChannel)
        v.counter("tickwire_retransmit_rejects_total", "Retransmit requests rejected, by reason.", "reason", "session_mismatch", c.sessionMismatch)
        v.counter("tickwire_retransmit_rejects_total", "Retransmit requests rejected, by reason.", "reason", "invalid_request", c.invalidRequest)
        v.counter("tickwire_retransmit_malformed_total", "Datagrams that were not a well-formed request.", c.malformed)
        v.counter("tickwire_retransmit_send_errors_total", "Answers the kernel refused with an error.", c.sendErrors)
        v.counter("tickwire_retransmit_sends_dropped_total", "Answers dropped for a full socket buffer.", c.sendsDropped)
        v.counter("tickwire_retransmit_receive_errors_total", "Failed reads of the request socket.", c.receiveErrors)
    }
}

/// An SPSC ring between two stages, labelled `ring`: its capacity and the most items it held.
public struct RingMetrics: Sendable {
    private let first: Int
    public let capacity: Int

    public init(ring: String, capacity: Int, layout: inout CounterLayout) {
        self.capacity = capacity
        first = layout.registerGroup(labels: [MetricLabel("ring", ring)]) { Self.walk(highWater: 0, capacity: 0, &$0) }
    }

    /// Call from either end's thread (one of them, always the same).
    public func publish(highWater: Int, to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        Self.walk(highWater: highWater, capacity: capacity, &storer)
    }

    static func walk<Visitor: SlotVisitor>(highWater: Int, capacity: Int, _ v: inout Visitor) {
        v.gauge("tickwire_ring_high_water", "Most items the ring held at once.", highWater)
        v.gauge("tickwire_ring_capacity", "Slots in the ring.", capacity)
    }
}

/// An AF_XDP sender's rings, labelled `sender`: frames in flight and the kernel's TX counters.
public struct XdpSenderMetrics: Sendable {
    private let first: Int

    public init(sender: String, layout: inout CounterLayout) {
        first = layout.registerGroup(labels: [MetricLabel("sender", sender)]) {
            Self.walk(XdpSenderStatistics(), framesInFlight: 0, frameCount: 0, &$0)
        }
    }

    /// Call from the sending thread's housekeeping: it reads the kernel's counters with a
    /// getsockopt (kept at their last values when that fails).
    public func publish(_ sender: XdpUdpSender, to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        guard let statistics = try? sender.kernelStatistics() else { return }
        Self.walk(statistics, framesInFlight: sender.framesInFlight, frameCount: sender.frameCount, &storer)
    }

    static func walk<Visitor: SlotVisitor>(_ s: XdpSenderStatistics, framesInFlight: Int, frameCount: Int, _ v: inout Visitor) {
        v.counter("tickwire_xdp_tx_invalid_descriptors_total", "TX descriptors the kernel refused (bad UMEM address or length).", s.invalidDescriptors)
        v.counter("tickwire_xdp_tx_ring_empty_total", "Kicks that found the TX ring empty.", s.ringEmpty)
        v.gauge("tickwire_xdp_frames_in_flight", "UMEM frames in the TX or completion ring.", framesInFlight)
        v.gauge("tickwire_xdp_frames", "UMEM frames of the sender.", frameCount)
    }
}

/// The ingest side of a staged link (`EventRingSink.counters`), labelled `venue`: events the
/// full ring refused and the ring's high-water mark. Published from the ingest thread.
public struct IngestLinkMetrics: Sendable {
    private let first: Int

    public init(venue: String, layout: inout CounterLayout) {
        first = layout.registerGroup(labels: [MetricLabel("venue", venue)]) { Self.walk(IngestLinkCounters(), &$0) }
    }

    public func publish(_ counters: IngestLinkCounters, to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        Self.walk(counters, &storer)
    }

    static func walk<Visitor: SlotVisitor>(_ c: IngestLinkCounters, _ v: inout Visitor) {
        v.counter("tickwire_ingest_dropped_events_total", "Events the full ring to the book stage refused.", c.droppedEvents)
        v.counter("tickwire_ingest_overflowed_books_total", "Books invalidated (and resynced) because the ring was full.", c.overflowedBooks)
        v.gauge("tickwire_ingest_ring_high_water", "Most events seen waiting in the ring to the book stage.", c.highWater)
    }
}

/// The send stage's `SendStageCounters`, labelled `sender`. Published from the send thread.
public struct SendStageMetrics: Sendable {
    private let first: Int

    public init(sender: String, layout: inout CounterLayout) {
        first = layout.registerGroup(labels: [MetricLabel("sender", sender)]) { Self.walk(SendStageCounters(), &$0) }
    }

    public func publish(_ counters: SendStageCounters, to writer: CounterWriter) {
        var storer = SlotStorer(writer: writer, next: first)
        Self.walk(counters, &storer)
    }

    static func walk<Visitor: SlotVisitor>(_ c: SendStageCounters, _ v: inout Visitor) {
        v.counter("tickwire_send_packets_total", "Packets handed to the sender.", c.packets)
        v.counter("tickwire_send_bytes_total", "Bytes handed to the sender.", c.bytes)
        v.counter("tickwire_send_errors_total", "Packets the sender refused with an error.", c.errors)
        v.counter("tickwire_send_would_block_total", "Packets the socket buffer or TX ring could not take.", c.wouldBlock)
    }
}
