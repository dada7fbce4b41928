// Wire protocol v1: constants, type codes, byte layouts and the message values the codec
// reads and writes. docs/PROTOCOL.md is the contract; docs/tickwire_wire.h mirrors it in C.
// Any change here must change both, append-only (PROTOCOL.md section 5).

public enum WireProtocol {
    /// Bytes `54 57` ("TW") at the start of every packet.
    public static let magic: UInt16 = 0x5754
    public static let version: UInt8 = 1
    public static let packetHeaderSize = 32
    public static let messageHeaderSize = 4
    /// Fits a 1500-byte Ethernet MTU with IP/UDP headers and room for a VLAN or tunnel header.
    public static let defaultMaxPacketSize = 1400
    /// The largest UDP payload over IPv4.
    public static let largestPacketSize = 65507
}

public enum WireMessageType: UInt8, Sendable, CaseIterable {
    case heartbeat = 0x01
    case endOfSession = 0x02
    case instrumentDefinition = 0x03
    case bookStatus = 0x04
    case retransmitRequest = 0x05
    case retransmitReject = 0x06
    case bookDelta = 0x10
    case bookSnapshot = 0x11
    case bestBidOffer = 0x12
    case trade = 0x13

    /// The v1 length: shorter messages are rejected, longer ones carry fields added later.
    /// For snapshots, the length without levels.
    @inlinable
    public var minimumLength: Int {
        switch self {
        case .heartbeat: WireHeartbeatLayout.size
        case .endOfSession: WireEndOfSessionLayout.size
        case .instrumentDefinition: WireInstrumentDefinitionLayout.size
        case .bookStatus: WireBookStatusLayout.size
        case .retransmitRequest: WireRetransmitRequestLayout.size
        case .retransmitReject: WireRetransmitRejectLayout.size
        case .bookDelta: WireBookDeltaLayout.size
        case .bookSnapshot: WireBookSnapshotLayout.levels
        case .bestBidOffer: WireBestBidOfferLayout.size
        case .trade: WireTradeLayout.size
        }
    }
}

public struct PacketFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Heartbeat and end-of-session packets: they consume no sequence number, and their
    /// sequence field holds the next expected one.
    public static let unsequenced = PacketFlags(rawValue: 0x01)
}

/// Per-type message flag bits (the message header's flags byte).
@usableFromInline
enum WireMessageFlag {
    @inlinable static var lastInUpdate: UInt8 { 0x01 }
    @inlinable static var lastChunk: UInt8 { 0x01 }
    @inlinable static var tradeIdDigest: UInt8 { 0x01 }
}

public struct PacketHeader: Hashable, Sendable {
    public var channel: UInt16
    public var flags: PacketFlags
    public var messageCount: UInt16
    /// This packet's number, or the next expected one when `flags` has `.unsequenced`.
    public var sequence: UInt64
    /// ns since the Unix epoch.
    public var sendTime: UInt64
    /// Changes when the publisher restarts.
    public var session: UInt64

    @inlinable
    public init(channel: UInt16, flags: PacketFlags, messageCount: UInt16, sequence: UInt64, sendTime: UInt64, session: UInt64) {
        self.channel = channel
        self.flags = flags
        self.messageCount = messageCount
        self.sequence = sequence
        self.sendTime = sendTime
        self.session = session
    }
}

/// Sent alone in an unsequenced packet when a channel is idle.
public struct Heartbeat: Hashable, Sendable {
    public var nextSequence: UInt64
    @inlinable public init(nextSequence: UInt64) { self.nextSequence = nextSequence }
}

/// Sent alone in an unsequenced packet when the publisher stops.
public struct EndOfSession: Hashable, Sendable {
    /// The session's last sequence number + 1.
    public var nextSequence: UInt64
    @inlinable public init(nextSequence: UInt64) { self.nextSequence = nextSequence }
}

/// Asks a publisher's retransmission service for `count` packets of an incremental channel
/// from `firstSequence` on (docs/PROTOCOL.md section 8). Sent in an unsequenced packet whose
/// header names the channel and the session the consumer follows.
public struct RetransmitRequest: Hashable, Sendable {
    /// The most packets one request may ask for; larger counts are refused as `invalidRequest`.
    public static let maxCount: UInt32 = 1024

    public var firstSequence: UInt64
    public var count: UInt32
    /// Chosen by the requester, echoed in any reject.
    public var requestId: UInt64

    @inlinable
    public init(firstSequence: UInt64, count: UInt32, requestId: UInt64) {
        self.firstSequence = firstSequence
        self.count = count
        self.requestId = requestId
    }
}

/// The retransmission service's refusal of part of a request: packets
/// `firstSequence ..< firstSequence + count` will not come.
public struct RetransmitReject: Hashable, Sendable {
    /// Open set: consumers must accept codes newer than they know.
    public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: UInt8
        @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// Outside the history window (too old, or not sent yet): recover from the snapshot channel.
        public static let notAvailable = Reason(rawValue: 1)
        /// The requester asked for more packets than its rate allows; ask again later.
        public static let rateLimited = Reason(rawValue: 2)
        /// The service keeps no history for the channel in the request's header.
        public static let unknownChannel = Reason(rawValue: 3)
        /// The request names a session other than the one being published.
        public static let sessionMismatch = Reason(rawValue: 4)
        /// Count outside 1...1024, sequence 0, or a request packet without the UNSEQUENCED flag.
        public static let invalidRequest = Reason(rawValue: 5)

        public var description: String {
            switch self {
            case .notAvailable: "notAvailable"
            case .rateLimited: "rateLimited"
            case .unknownChannel: "unknownChannel"
            case .sessionMismatch: "sessionMismatch"
            case .invalidRequest: "invalidRequest"
            default: "reason(\(rawValue))"
            }
        }
    }

    public var reason: Reason
    /// First sequence of the refused part.
    public var firstSequence: UInt64
    /// How many packets are refused.
    public var count: UInt32
    public var requestId: UInt64
    /// First sequence the history still holds, 0 if none.
    public var oldestAvailable: UInt64
    /// The channel's next sequence number (the newest held + 1).
    public var nextSequence: UInt64

    @inlinable
    public init(
        reason: Reason, firstSequence: UInt64, count: UInt32, requestId: UInt64, oldestAvailable: UInt64, nextSequence: UInt64
    ) {
        self.reason = reason
        self.firstSequence = firstSequence
        self.count = count
        self.requestId = requestId
        self.oldestAvailable = oldestAvailable
        self.nextSequence = nextSequence
    }
}

/// A symbol as the wire holds it: up to 32 bytes of UTF-8, zero padded. A fixed-size value,
/// so decoding a definition allocates nothing.
public struct WireSymbol: Hashable, Sendable, CustomStringConvertible {
    public static let capacity = 32

    /// Bytes past `count` are zero, so equal symbols compare and hash equal.
    @usableFromInline var bytes: SIMD32<UInt8>
    public let count: Int

    /// Nil when the UTF-8 is longer than 32 bytes. Reads the string's UTF-8 in place (no allocation).
    public init?(_ symbol: String) {
        guard symbol.utf8.count <= Self.capacity else { return nil }
        var bytes = SIMD32<UInt8>()
        for (index, byte) in symbol.utf8.enumerated() { bytes[index] = byte }
        self.bytes = bytes
        self.count = symbol.utf8.count
    }

    /// `count` must be at most 32; bytes past it are cleared.
    @inlinable
    init(paddedBytes: SIMD32<UInt8>, count: Int) {
        var bytes = paddedBytes
        for index in count..<Self.capacity { bytes[index] = 0 }
        self.bytes = bytes
        self.count = count
    }

    /// The bytes as received, which need not be valid UTF-8.
    public func withUTF8<Result, Failure: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result {
        var bytes = bytes
        return try withUnsafeBytes(of: &bytes) { (raw) throws(Failure) -> Result in
            try body(UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self).prefix(count)))
        }
    }

    /// Allocates for symbols longer than 15 bytes (Swift's small-string limit).
    public var string: String { withUTF8 { String(decoding: $0, as: UTF8.self) } }

    public var description: String { string }
}

/// An instrument definition as carried on the wire. Unlike `InstrumentDefinition` it keeps
/// the raw venue code, so a definition from a newer publisher (unknown venue) still decodes.
public struct WireInstrumentDefinition: Hashable, Sendable {
    public var instrument: InstrumentId
    public var venueCode: UInt8
    public var priceScale: Scale
    public var quantityScale: Scale
    public var symbol: WireSymbol

    @inlinable
    public init(instrument: InstrumentId, venueCode: UInt8, priceScale: Scale, quantityScale: Scale, symbol: WireSymbol) {
        self.instrument = instrument
        self.venueCode = venueCode
        self.priceScale = priceScale
        self.quantityScale = quantityScale
        self.symbol = symbol
    }

    public init(_ definition: InstrumentDefinition) {
        guard let symbol = WireSymbol(definition.symbol) else {
            preconditionFailure("InstrumentDefinition guarantees a symbol of at most 32 bytes")
        }
        self.init(
            instrument: definition.id, venueCode: definition.venue.rawValue,
            priceScale: definition.priceScale, quantityScale: definition.quantityScale, symbol: symbol)
    }

    /// Nil for a venue code this build does not know.
    public var venue: Venue? { Venue(rawValue: venueCode) }

    /// Nil for a venue code this build does not know.
    public var definition: InstrumentDefinition? {
        venue.map {
            InstrumentDefinition(id: instrument, venue: $0, symbol: symbol.string, priceScale: priceScale, quantityScale: quantityScale)
        }
    }
}

/// One chunk of a book snapshot, read in place from a received packet: the levels are not
/// copied, so it is valid only while the packet's buffer is. Bids come best (highest) first,
/// then asks best (lowest) first, continuing the previous chunk's levels.
public struct BookSnapshotChunk {
    public var instrument: InstrumentId
    /// 0 for the first chunk of a snapshot.
    public var chunkIndex: UInt16
    public var isLastChunk: Bool
    /// Sequence number of the last incremental-channel packet the snapshot includes.
    public var incrementalSequence: UInt64
    public var venueUpdateId: UInt64
    public let bidCount: Int
    public let askCount: Int
    /// `bidCount + askCount` little-endian (price, quantity) entries in the packet buffer.
    @usableFromInline let levels: UnsafeRawPointer

    @inlinable
    init(
        instrument: InstrumentId, chunkIndex: UInt16, isLastChunk: Bool, incrementalSequence: UInt64,
        venueUpdateId: UInt64, bidCount: Int, askCount: Int, levels: UnsafeRawPointer
    ) {
        self.instrument = instrument
        self.chunkIndex = chunkIndex
        self.isLastChunk = isLastChunk
        self.incrementalSequence = incrementalSequence
        self.venueUpdateId = venueUpdateId
        self.bidCount = bidCount
        self.askCount = askCount
        self.levels = levels
    }

    /// The level `index` places below the best bid of this chunk.
    @inlinable
    public func bid(at index: Int) -> (price: Price, quantity: Quantity) {
        precondition(index >= 0 && index < bidCount, "bid index out of range")
        return level(at: index)
    }

    /// The level `index` places above the best ask of this chunk.
    @inlinable
    public func ask(at index: Int) -> (price: Price, quantity: Quantity) {
        precondition(index >= 0 && index < askCount, "ask index out of range")
        return level(at: bidCount + index)
    }

    /// Bids and asks as the wire holds them, for copying into another packet.
    @inlinable
    var levelBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: levels, count: (bidCount + askCount) * WireBookSnapshotLayout.levelSize)
    }

    @inlinable
    func level(at entry: Int) -> (price: Price, quantity: Quantity) {
        let offset = entry * WireBookSnapshotLayout.levelSize
        return (
            Price(mantissa: Int64(littleEndian: levels.loadUnaligned(fromByteOffset: offset + WireBookSnapshotLayout.levelPrice, as: Int64.self))),
            Quantity(mantissa: Int64(littleEndian: levels.loadUnaligned(fromByteOffset: offset + WireBookSnapshotLayout.levelQuantity, as: Int64.self)))
        )
    }
}

extension BookSnapshotChunk: Equatable {
    /// Equal content; where the levels live does not matter.
    public static func == (a: BookSnapshotChunk, b: BookSnapshotChunk) -> Bool {
        a.instrument == b.instrument && a.chunkIndex == b.chunkIndex && a.isLastChunk == b.isLastChunk
            && a.incrementalSequence == b.incrementalSequence && a.venueUpdateId == b.venueUpdateId
            && a.bidCount == b.bidCount && a.askCount == b.askCount && a.levelBytes.elementsEqual(b.levelBytes)
    }
}

/// One decoded message. `.unknown` is a type this build does not know, already skipped.
public enum WireMessage: Equatable {
    case heartbeat(Heartbeat)
    case endOfSession(EndOfSession)
    case instrumentDefinition(WireInstrumentDefinition)
    case bookStatus(BookStatus)
    case retransmitRequest(RetransmitRequest)
    case retransmitReject(RetransmitReject)
    case bookDelta(BookDelta)
    case bookSnapshot(BookSnapshotChunk)
    case bestBidOffer(BestBidOffer)
    case trade(Trade)
    case unknown(type: UInt8)
}

// Byte offsets within the packet and each message, as tabled in docs/PROTOCOL.md.

@usableFromInline
enum WirePacketHeaderLayout {
    @inlinable static var magic: Int { 0 }
    @inlinable static var version: Int { 2 }
    @inlinable static var flags: Int { 3 }
    @inlinable static var channel: Int { 4 }
    @inlinable static var messageCount: Int { 6 }
    @inlinable static var sequence: Int { 8 }
    @inlinable static var sendTime: Int { 16 }
    @inlinable static var session: Int { 24 }
}

@usableFromInline
enum WireMessageHeaderLayout {
    @inlinable static var length: Int { 0 }
    @inlinable static var type: Int { 2 }
    @inlinable static var flags: Int { 3 }
}

@usableFromInline
enum WireHeartbeatLayout {
    @inlinable static var nextSequence: Int { 8 }
    @inlinable static var size: Int { 16 }
}

@usableFromInline
enum WireEndOfSessionLayout {
    @inlinable static var nextSequence: Int { 8 }
    @inlinable static var size: Int { 16 }
}

@usableFromInline
enum WireInstrumentDefinitionLayout {
    @inlinable static var instrument: Int { 4 }
    @inlinable static var venue: Int { 6 }
    @inlinable static var priceScale: Int { 7 }
    @inlinable static var quantityScale: Int { 8 }
    @inlinable static var symbolLength: Int { 9 }
    @inlinable static var symbol: Int { 16 }
    @inlinable static var size: Int { 48 }
}

@usableFromInline
enum WireBookStatusLayout {
    @inlinable static var instrument: Int { 4 }
    @inlinable static var state: Int { 6 }
    @inlinable static var reason: Int { 7 }
    @inlinable static var venueUpdateId: Int { 8 }
    @inlinable static var changeTime: Int { 16 }
    @inlinable static var size: Int { 24 }
}

@usableFromInline
enum WireRetransmitRequestLayout {
    @inlinable static var count: Int { 4 }
    @inlinable static var firstSequence: Int { 8 }
    @inlinable static var requestId: Int { 16 }
    @inlinable static var size: Int { 24 }
}

@usableFromInline
enum WireRetransmitRejectLayout {
    @inlinable static var reason: Int { 4 }
    @inlinable static var firstSequence: Int { 8 }
    @inlinable static var count: Int { 16 }
    @inlinable static var requestId: Int { 24 }
    @inlinable static var oldestAvailable: Int { 32 }
    @inlinable static var nextSequence: Int { 40 }
    @inlinable static var size: Int { 48 }
}

@usableFromInline
enum WireBookDeltaLayout {
    @inlinable static var instrument: Int { 4 }
    @inlinable static var side: Int { 6 }
    @inlinable static var price: Int { 8 }
    @inlinable static var quantity: Int { 16 }
    @inlinable static var venueUpdateId: Int { 24 }
    @inlinable static var eventTime: Int { 32 }
    @inlinable static var receiveTime: Int { 40 }
    @inlinable static var size: Int { 48 }
}

@usableFromInline
enum WireBookSnapshotLayout {
    @inlinable static var instrument: Int { 4 }
    @inlinable static var chunkIndex: Int { 6 }
    @inlinable static var incrementalSequence: Int { 8 }
    @inlinable static var venueUpdateId: Int { 16 }
    @inlinable static var bidCount: Int { 24 }
    @inlinable static var askCount: Int { 26 }
    @inlinable static var levelsOffset: Int { 28 }
    /// Where v1 puts the first level; later versions may add fields before it.
    @inlinable static var levels: Int { 32 }
    @inlinable static var levelSize: Int { 16 }
    @inlinable static var levelPrice: Int { 0 }
    @inlinable static var levelQuantity: Int { 8 }
}

@usableFromInline
enum WireBestBidOfferLayout {
    @inlinable static var instrument: Int { 4 }
    @inlinable static var bidPrice: Int { 8 }
    @inlinable static var bidQuantity: Int { 16 }
    @inlinable static var askPrice: Int { 24 }
    @inlinable static var askQuantity: Int { 32 }
    @inlinable static var venueUpdateId: Int { 40 }
    @inlinable static var eventTime: Int { 48 }
    @inlinable static var receiveTime: Int { 56 }
    @inlinable static var size: Int { 64 }
}

@usableFromInline
enum WireTradeLayout {
    @inlinable static var instrument: Int { 4 }
    @inlinable static var aggressor: Int { 6 }
    @inlinable static var price: Int { 8 }
    @inlinable static var quantity: Int { 16 }
    @inlinable static var tradeId: Int { 24 }
    @inlinable static var eventTime: Int { 32 }
    @inlinable static var receiveTime: Int { 40 }
    @inlinable static var size: Int { 48 }
}
