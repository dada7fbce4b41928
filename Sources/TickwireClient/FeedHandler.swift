import TickwireCore

/// What a `FeedClient` tells its caller. Every method has a default that does nothing, so a
/// caller implements only what it uses. Called on the receive thread, in stream order; the
/// book handle is valid only during the call. Implementations should not allocate.
public protocol FeedHandler {
    /// `instrument`'s book is usable (in sync with the publisher, which says it is valid) and
    /// changed: after the last delta of a venue update, a complete snapshot, or a `valid`
    /// status. `receiveTime` (ns): for a delta, when the publisher received the venue frame
    /// behind it (carried in the message); otherwise when the packet that completed it arrived.
    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64)
    /// `instrument`'s book stopped being usable (once per transition).
    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64)
    /// A new instrument of the session (or one whose definition changed).
    mutating func instrumentDefined(_ definition: WireInstrumentDefinition)
    mutating func trade(_ trade: Trade)
    mutating func bestBidOffer(_ quote: BestBidOffer)
    /// A book status from the incremental channel, as the publisher sent it.
    mutating func bookStatus(_ status: BookStatus)
    /// An incremental packet is being processed in sequence (first copy only, A/B duplicates
    /// excluded): for latency statistics (`header.sendTime` against `receiveTime`).
    mutating func packetAccepted(_ header: PacketHeader, receiveTime: UInt64)
    /// Session, gap and recovery events (rare: not per message).
    mutating func channelEvent(_ event: ChannelEvent)
}

extension FeedHandler {
    public mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {}
    public mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {}
    public mutating func instrumentDefined(_ definition: WireInstrumentDefinition) {}
    public mutating func trade(_ trade: Trade) {}
    public mutating func bestBidOffer(_ quote: BestBidOffer) {}
    public mutating func bookStatus(_ status: BookStatus) {}
    public mutating func packetAccepted(_ header: PacketHeader, receiveTime: UInt64) {}
    public mutating func channelEvent(_ event: ChannelEvent) {}
}

/// Where an incremental packet came from.
public enum FeedLine: Int, Sendable, CustomStringConvertible {
    case a = 0
    case b = 1
    /// Unicast from the retransmission service (not a line for A/B arbitration).
    case retransmission = 2

    public var description: String {
        switch self {
        case .a: "A"
        case .b: "B"
        case .retransmission: "retransmission"
        }
    }
}

/// The channel-level things a consumer may want to log or count.
public enum ChannelEvent: Equatable, Sendable {
    /// The first packet of a session (or of a new one: the publisher restarted). `sequence`
    /// above 1 means a late join: books come from the snapshot channel.
    case sessionStarted(session: UInt64, sequence: UInt64)
    /// Packets `firstMissing ..< firstMissing + count` did not arrive on any line (yet).
    case gap(firstMissing: UInt64, count: UInt64)
    case retransmissionRequested(firstSequence: UInt64, count: UInt32)
    case retransmissionRejected(RetransmitReject.Reason)
    case retransmissionTimedOut(firstSequence: UInt64)
    /// The packets of a gap arrived (from retransmission or the other line): no book was touched.
    case gapFilled(throughSequence: UInt64)
    /// Packets `firstMissing ..< firstMissing + count` are lost for good: every book waits for
    /// the snapshot channel (or an inline snapshot).
    case packetsLost(firstMissing: UInt64, count: UInt64)
    /// A book was rebuilt from the snapshot channel.
    case bookRecovered(InstrumentId)
    /// No packet on a line for three heartbeat intervals.
    case lineStale(FeedLine)
    case endOfSession(session: UInt64, nextSequence: UInt64)
}

/// Sends retransmission requests to the publisher's retransmission service (unicast UDP;
/// the answers come back to the same socket and go to `FeedClient.receiveRetransmission`).
public protocol RetransmissionRequester {
    /// Sends one request packet; false when it could not be sent (then the client falls back
    /// to the snapshot channel at once).
    mutating func sendRequest(_ packet: UnsafeRawBufferPointer) -> Bool
}

/// No retransmission service: gaps go straight to the snapshot channel.
public struct NoRetransmission: RetransmissionRequester {
    public init() {}
    public mutating func sendRequest(_ packet: UnsafeRawBufferPointer) -> Bool { false }
}

/// A handler that ignores everything (for callers that only read the books).
public struct NoFeedHandler: FeedHandler {
    public init() {}
}
