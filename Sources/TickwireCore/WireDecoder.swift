/// Why a packet was rejected. Offsets are from the start of the packet.
public enum WireDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Shorter than the 32-byte packet header.
    case packetTooShort(length: Int)
    /// Longer than the largest UDP payload: not one packet.
    case packetTooLong(length: Int)
    case badMagic(UInt16)
    case unsupportedVersion(UInt8)
    /// Fewer than the 4 bytes of a message header remain where a message should start.
    case truncatedMessageHeader(offset: Int, available: Int)
    /// Shorter than its header, or than the v1 size of its type.
    case messageTooShort(offset: Int, type: UInt8, length: Int)
    case messageOverrunsPacket(offset: Int, length: Int, available: Int)
    /// A snapshot chunk's levels start inside its fixed fields or run past its length.
    case snapshotLevelsOverrunMessage(offset: Int)
    /// A field holds a value v1 does not allow (side, book state, scale, symbol length).
    case invalidFieldValue(offset: Int, type: UInt8, field: Int, value: UInt8)
    /// The packet ended after `found` messages but its header declares `declared`.
    case messageCountMismatch(declared: Int, found: Int)
    /// Bytes remain after the declared number of messages.
    case trailingBytes(offset: Int, count: Int)

    public var description: String {
        switch self {
        case .packetTooShort(let length): "packet of \(length) bytes is shorter than its header"
        case .packetTooLong(let length): "packet of \(length) bytes is longer than a UDP payload"
        case .badMagic(let magic): "bad magic 0x\(String(magic, radix: 16))"
        case .unsupportedVersion(let version): "unsupported protocol version \(version)"
        case .truncatedMessageHeader(let offset, let available):
            "message header at \(offset) truncated: \(available) bytes left"
        case .messageTooShort(let offset, let type, let length):
            "message at \(offset) of type 0x\(String(type, radix: 16)) is too short: \(length) bytes"
        case .messageOverrunsPacket(let offset, let length, let available):
            "message at \(offset) of \(length) bytes overruns the packet: \(available) bytes left"
        case .snapshotLevelsOverrunMessage(let offset): "snapshot chunk at \(offset) has levels outside the message"
        case .invalidFieldValue(let offset, let type, let field, let value):
            "message at \(offset) of type 0x\(String(type, radix: 16)) has invalid value \(value) at field offset \(field)"
        case .messageCountMismatch(let declared, let found): "packet declares \(declared) messages but holds \(found)"
        case .trailingBytes(let offset, let count): "\(count) bytes after the last message at \(offset)"
        }
    }
}

/// Reads one packet in place, message by message, without allocating. Every length is
/// checked against the buffer before anything is read, so any input gives either messages
/// or a `WireDecodeError`. Messages of types this build does not know are skipped and
/// returned as `.unknown(type:)`.
///
///     var reader = try PacketReader(packet: datagram)
///     while let message = try reader.next() { … }
public struct PacketReader {
    public let header: PacketHeader
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let end: Int
    @usableFromInline var offset: Int
    @usableFromInline var decoded = 0

    /// Validates the packet header. The buffer must outlive the reader and the snapshot
    /// chunks it returns.
    @inlinable
    public init(packet: UnsafeRawBufferPointer) throws(WireDecodeError) {
        guard let base = packet.baseAddress, packet.count >= WireProtocol.packetHeaderSize else {
            throw .packetTooShort(length: packet.count)
        }
        guard packet.count <= WireProtocol.largestPacketSize else { throw .packetTooLong(length: packet.count) }
        let magic = Self.load(base, WirePacketHeaderLayout.magic, as: UInt16.self)
        guard magic == WireProtocol.magic else { throw .badMagic(magic) }
        let version = Self.load(base, WirePacketHeaderLayout.version, as: UInt8.self)
        guard version == WireProtocol.version else { throw .unsupportedVersion(version) }
        header = PacketHeader(
            channel: Self.load(base, WirePacketHeaderLayout.channel),
            flags: PacketFlags(rawValue: Self.load(base, WirePacketHeaderLayout.flags)),
            messageCount: Self.load(base, WirePacketHeaderLayout.messageCount),
            sequence: Self.load(base, WirePacketHeaderLayout.sequence),
            sendTime: Self.load(base, WirePacketHeaderLayout.sendTime),
            session: Self.load(base, WirePacketHeaderLayout.session))
        self.base = base
        end = packet.count
        offset = WireProtocol.packetHeaderSize
    }

    /// The next message, or nil after the last one. After an error the rest of the packet
    /// cannot be trusted; messages already returned were valid.
    @inlinable @inline(__always)
    public mutating func next() throws(WireDecodeError) -> WireMessage? {
        let available = end - offset
        if decoded == Int(header.messageCount) {
            guard available == 0 else { throw .trailingBytes(offset: offset, count: available) }
            return nil
        }
        guard available >= WireProtocol.messageHeaderSize else {
            if available == 0 { throw .messageCountMismatch(declared: Int(header.messageCount), found: decoded) }
            throw .truncatedMessageHeader(offset: offset, available: available)
        }
        let message = base + offset
        let length = Int(Self.load(message, WireMessageHeaderLayout.length, as: UInt16.self))
        let typeCode = Self.load(message, WireMessageHeaderLayout.type, as: UInt8.self)
        let flags = Self.load(message, WireMessageHeaderLayout.flags, as: UInt8.self)
        guard length >= WireProtocol.messageHeaderSize else {
            throw .messageTooShort(offset: offset, type: typeCode, length: length)
        }
        guard length <= available else { throw .messageOverrunsPacket(offset: offset, length: length, available: available) }

        let decodedMessage = try Self.decode(typeCode, at: message, offset: offset, length: length, flags: flags)
        offset += length
        decoded += 1
        return decodedMessage
    }

    /// Decodes a message (at `offset` in the packet) whose length was checked against the
    /// packet. Inlined into `next()` and `next()` into the receive loop, so the message is
    /// built in registers: returned through memory, its enum layout costs a store-forwarding
    /// stall per message. One switch on the raw code, as `WireMessageType(rawValue:)` is an
    /// opaque call from other modules.
    @inlinable @inline(__always)
    static func decode(
        _ typeCode: UInt8, at message: UnsafeRawPointer, offset: Int, length: Int, flags: UInt8
    ) throws(WireDecodeError) -> WireMessage {
        /// Rejects a message shorter than the v1 size of its type.
        func require(_ type: WireMessageType) throws(WireDecodeError) {
            guard length >= type.minimumLength else { throw .messageTooShort(offset: offset, type: typeCode, length: length) }
        }
        switch typeCode {
        case WireMessageType.bookDelta.rawValue:
            try require(.bookDelta)
            return .bookDelta(
                BookDelta(
                    instrument: InstrumentId(Self.load(message, WireBookDeltaLayout.instrument)),
                    side: try side(at: message, offset, WireBookDeltaLayout.side, .bookDelta),
                    price: Price(mantissa: Self.load(message, WireBookDeltaLayout.price)),
                    quantity: Quantity(mantissa: Self.load(message, WireBookDeltaLayout.quantity)),
                    venueUpdateId: Self.load(message, WireBookDeltaLayout.venueUpdateId),
                    eventTime: Self.load(message, WireBookDeltaLayout.eventTime),
                    receiveTime: Self.load(message, WireBookDeltaLayout.receiveTime),
                    isLastInUpdate: flags & WireMessageFlag.lastInUpdate != 0))
        case WireMessageType.trade.rawValue:
            try require(.trade)
            return .trade(
                Trade(
                    instrument: InstrumentId(Self.load(message, WireTradeLayout.instrument)),
                    price: Price(mantissa: Self.load(message, WireTradeLayout.price)),
                    quantity: Quantity(mantissa: Self.load(message, WireTradeLayout.quantity)),
                    aggressor: try side(at: message, offset, WireTradeLayout.aggressor, .trade),
                    tradeId: Self.load(message, WireTradeLayout.tradeId),
                    isTradeIdDigest: flags & WireMessageFlag.tradeIdDigest != 0,
                    eventTime: Self.load(message, WireTradeLayout.eventTime),
                    receiveTime: Self.load(message, WireTradeLayout.receiveTime)))
        case WireMessageType.bestBidOffer.rawValue:
            try require(.bestBidOffer)
            return .bestBidOffer(
                BestBidOffer(
                    instrument: InstrumentId(Self.load(message, WireBestBidOfferLayout.instrument)),
                    bidPrice: Price(mantissa: Self.load(message, WireBestBidOfferLayout.bidPrice)),
                    bidQuantity: Quantity(mantissa: Self.load(message, WireBestBidOfferLayout.bidQuantity)),
                    askPrice: Price(mantissa: Self.load(message, WireBestBidOfferLayout.askPrice)),
                    askQuantity: Quantity(mantissa: Self.load(message, WireBestBidOfferLayout.askQuantity)),
                    venueUpdateId: Self.load(message, WireBestBidOfferLayout.venueUpdateId),
                    eventTime: Self.load(message, WireBestBidOfferLayout.eventTime),
                    receiveTime: Self.load(message, WireBestBidOfferLayout.receiveTime)))
        case WireMessageType.bookSnapshot.rawValue:
            try require(.bookSnapshot)
            return .bookSnapshot(try snapshotChunk(at: message, offset: offset, length: length, flags: flags))
        case WireMessageType.bookStatus.rawValue:
            try require(.bookStatus)
            let stateCode = Self.load(message, WireBookStatusLayout.state, as: UInt8.self)
            guard let state = BookStatus.State(rawValue: stateCode) else {
                throw .invalidFieldValue(offset: offset, type: typeCode, field: WireBookStatusLayout.state, value: stateCode)
            }
            return .bookStatus(
                BookStatus(
                    instrument: InstrumentId(Self.load(message, WireBookStatusLayout.instrument)),
                    state: state,
                    reason: BookStatus.Reason(rawValue: Self.load(message, WireBookStatusLayout.reason)),
                    venueUpdateId: Self.load(message, WireBookStatusLayout.venueUpdateId),
                    changeTime: Self.load(message, WireBookStatusLayout.changeTime)))
        case WireMessageType.heartbeat.rawValue:
            try require(.heartbeat)
            return .heartbeat(Heartbeat(nextSequence: Self.load(message, WireHeartbeatLayout.nextSequence)))
        case WireMessageType.endOfSession.rawValue:
            try require(.endOfSession)
            return .endOfSession(EndOfSession(nextSequence: Self.load(message, WireEndOfSessionLayout.nextSequence)))
        case WireMessageType.retransmitRequest.rawValue:
            try require(.retransmitRequest)
            return .retransmitRequest(
                RetransmitRequest(
                    firstSequence: Self.load(message, WireRetransmitRequestLayout.firstSequence),
                    count: Self.load(message, WireRetransmitRequestLayout.count),
                    requestId: Self.load(message, WireRetransmitRequestLayout.requestId)))
        case WireMessageType.retransmitReject.rawValue:
            try require(.retransmitReject)
            return .retransmitReject(
                RetransmitReject(
                    reason: RetransmitReject.Reason(rawValue: Self.load(message, WireRetransmitRejectLayout.reason)),
                    firstSequence: Self.load(message, WireRetransmitRejectLayout.firstSequence),
                    count: Self.load(message, WireRetransmitRejectLayout.count),
                    requestId: Self.load(message, WireRetransmitRejectLayout.requestId),
                    oldestAvailable: Self.load(message, WireRetransmitRejectLayout.oldestAvailable),
                    nextSequence: Self.load(message, WireRetransmitRejectLayout.nextSequence)))
        case WireMessageType.instrumentDefinition.rawValue:
            try require(.instrumentDefinition)
            return .instrumentDefinition(try instrumentDefinition(at: message, offset: offset))
        default:
            return .unknown(type: typeCode)
        }
    }

    @inlinable
    static func snapshotChunk(at message: UnsafeRawPointer, offset: Int, length: Int, flags: UInt8) throws(WireDecodeError) -> BookSnapshotChunk {
        let levelsOffset = Int(Self.load(message, WireBookSnapshotLayout.levelsOffset, as: UInt16.self))
        let bidCount = Int(Self.load(message, WireBookSnapshotLayout.bidCount, as: UInt16.self))
        let askCount = Int(Self.load(message, WireBookSnapshotLayout.askCount, as: UInt16.self))
        guard levelsOffset >= WireBookSnapshotLayout.levels,
            levelsOffset + (bidCount + askCount) * WireBookSnapshotLayout.levelSize <= length
        else { throw .snapshotLevelsOverrunMessage(offset: offset) }
        return BookSnapshotChunk(
            instrument: InstrumentId(Self.load(message, WireBookSnapshotLayout.instrument)),
            chunkIndex: Self.load(message, WireBookSnapshotLayout.chunkIndex),
            isLastChunk: flags & WireMessageFlag.lastChunk != 0,
            incrementalSequence: Self.load(message, WireBookSnapshotLayout.incrementalSequence),
            venueUpdateId: Self.load(message, WireBookSnapshotLayout.venueUpdateId),
            bidCount: bidCount,
            askCount: askCount,
            levels: message + levelsOffset)
    }

    @inlinable
    static func instrumentDefinition(at message: UnsafeRawPointer, offset: Int) throws(WireDecodeError) -> WireInstrumentDefinition {
        let symbolLength = Self.load(message, WireInstrumentDefinitionLayout.symbolLength, as: UInt8.self)
        guard Int(symbolLength) <= WireSymbol.capacity else {
            throw invalidDefinitionValue(symbolLength, offset: offset, field: WireInstrumentDefinitionLayout.symbolLength)
        }
        return WireInstrumentDefinition(
            instrument: InstrumentId(Self.load(message, WireInstrumentDefinitionLayout.instrument)),
            venueCode: Self.load(message, WireInstrumentDefinitionLayout.venue),
            priceScale: try scale(at: message, offset, WireInstrumentDefinitionLayout.priceScale),
            quantityScale: try scale(at: message, offset, WireInstrumentDefinitionLayout.quantityScale),
            symbol: WireSymbol(
                paddedBytes: message.loadUnaligned(fromByteOffset: WireInstrumentDefinitionLayout.symbol, as: SIMD32<UInt8>.self),
                count: Int(symbolLength)))
    }

    @inlinable @inline(__always)
    static func side(at message: UnsafeRawPointer, _ offset: Int, _ field: Int, _ type: WireMessageType) throws(WireDecodeError) -> Side {
        let code = Self.load(message, field, as: UInt8.self)
        guard let side = Side(rawValue: code) else {
            throw .invalidFieldValue(offset: offset, type: type.rawValue, field: field, value: code)
        }
        return side
    }

    @inlinable
    static func scale(at message: UnsafeRawPointer, _ offset: Int, _ field: Int) throws(WireDecodeError) -> Scale {
        let digits = Self.load(message, field, as: UInt8.self)
        guard let scale = Scale(digits: Int(digits)) else { throw invalidDefinitionValue(digits, offset: offset, field: field) }
        return scale
    }

    @inlinable
    static func invalidDefinitionValue(_ value: UInt8, offset: Int, field: Int) -> WireDecodeError {
        .invalidFieldValue(offset: offset, type: WireMessageType.instrumentDefinition.rawValue, field: field, value: value)
    }

    /// Unaligned little-endian load: the receive buffer and message offsets have no alignment.
    @inlinable @inline(__always)
    static func load<Value: FixedWidthInteger>(_ pointer: UnsafeRawPointer, _ offset: Int, as: Value.Type = Value.self) -> Value {
        Value(littleEndian: pointer.loadUnaligned(fromByteOffset: offset, as: Value.self))
    }
}
