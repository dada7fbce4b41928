import TickwireCore
import TickwireSystem

/// How a `FeedClient` is sized and timed. Everything is allocated once, at creation.
public struct FeedClientConfiguration: Sendable {
    /// Instrument ids 0..<maxInstruments get books; definitions beyond are counted and ignored.
    public var maxInstruments = 256
    /// Levels kept per book side (deeper levels are dropped and counted by the book).
    public var levelsPerSide = 1000
    /// 1, or 2 for an A/B pair: a packet missing on one line is then awaited on the other.
    public var lines = 1
    /// The incremental channel's id; nil takes the id of the first valid packet.
    public var incrementalChannel: UInt16?
    /// The snapshot channel's id; nil takes the id of its first valid packet.
    public var snapshotChannel: UInt16?
    /// Whether a snapshot channel is joined: without one, books that lost packets wait for
    /// an inline snapshot, and no history is kept for recovery.
    public var usesSnapshotChannel = false
    /// Packets held while a gap is being filled (arrivals beyond it force the gap to be given up).
    public var reorderPackets = 1024
    /// Packets kept, while books recover, to bring an older snapshot up to date.
    public var historyPackets = 8192
    /// Largest packet the client can hold (the publisher's packet size limit is 1400 by default).
    public var packetSlotSize = 2048
    /// With two lines: how long (ns) a packet missing on one line is awaited on the other.
    public var lineArbitrationTimeout: UInt64 = 5_000_000
    /// How long (ns) a retransmission request is awaited before it is sent again or, after
    /// `retransmissionAttempts`, the snapshot channel takes over.
    public var retransmissionTimeout: UInt64 = 200_000_000
    /// Requests sent for one hole (UDP may lose a request or its answer) before giving it up.
    public var retransmissionAttempts = 2
    /// The publisher's heartbeat interval (ns): a line is stale after three without a packet.
    public var heartbeatInterval: UInt64 = 1_000_000_000
    /// Where the books live (huge pages when available).
    public var bookMemory: HotMemoryPolicy = .standard

    public init() {}
}

/// What a `FeedClient` has seen and done, since creation.
public struct FeedClientCounters: Equatable, Sendable {
    /// Incremental packets processed in sequence (each sequence number once).
    public var packets: UInt64 = 0
    public var messages: UInt64 = 0
    /// Copies of packets already processed (the other line's copy, a late retransmission).
    public var duplicates: UInt64 = 0
    /// Packets missing on one line that the other line delivered in time.
    public var filledByOtherLine: UInt64 = 0
    /// Gaps: packets missing on every line.
    public var gaps: UInt64 = 0
    public var retransmissionRequests: UInt64 = 0
    public var retransmissionRejects: UInt64 = 0
    public var retransmissionTimeouts: UInt64 = 0
    /// Gaps filled completely by retransmission.
    public var recoveredByRetransmission: UInt64 = 0
    /// Packets given up (their books recover from a snapshot).
    public var packetsLost: UInt64 = 0
    /// Books rebuilt from the snapshot channel.
    public var booksRecovered: UInt64 = 0
    /// Complete snapshots older than the kept history (the next loop is awaited).
    public var snapshotsTooOld: UInt64 = 0
    public var inlineSnapshots: UInt64 = 0
    /// Packets that failed validation (header or any message): treated as lost.
    public var malformedPackets: UInt64 = 0
    /// Packets of another channel id than the one followed.
    public var foreignChannelPackets: UInt64 = 0
    /// Packets of a session other than the one followed (an ended one, or a stale retransmission).
    public var otherSessionPackets: UInt64 = 0
    /// Messages for instruments without a definition.
    public var unknownInstrumentMessages: UInt64 = 0
    /// Definitions beyond `maxInstruments` or the level budget.
    public var instrumentsOverCapacity: UInt64 = 0
    /// Arrivals too far ahead of a gap to hold.
    public var reorderOverflows: UInt64 = 0
    public var sessionChanges: UInt64 = 0
    public var staleLines: UInt64 = 0
    public var endOfSessions: UInt64 = 0

    public init() {}
}
