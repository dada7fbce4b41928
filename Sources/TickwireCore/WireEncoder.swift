/// Builds one packet at a time in a caller-provided buffer (docs/PROTOCOL.md), without
/// allocating: `begin`, then `append` messages until one returns false (it would not fit in
/// `maxPacketSize`; nothing was written), then `finish` and send `length` bytes.
///
/// A snapshot chunk is written level by level: `beginSnapshotChunk`, `appendSnapshotLevel`
/// until it returns false or the book is done, `finishSnapshotChunk`. The caller then sends
/// the packet and continues the snapshot with the next chunk index in a new packet.
public struct PacketWriter {
    @usableFromInline let base: UnsafeMutableRawPointer
    /// The MTU setting: no packet grows beyond it.
    public let maxPacketSize: Int
    /// Bytes written so far in the current packet.
    @usableFromInline var end = 0
    @usableFromInline var count = 0
    @usableFromInline var isOpen = false
    /// Where the snapshot chunk being filled starts, while one is open.
    @usableFromInline var openChunk: Int?
    @usableFromInline var openChunkBids = 0
    @usableFromInline var openChunkAsks = 0

    /// The buffer must hold at least `maxPacketSize` bytes and outlive the writer.
    public init(buffer: UnsafeMutableRawBufferPointer, maxPacketSize: Int = WireProtocol.defaultMaxPacketSize) {
        precondition(
            maxPacketSize >= WireProtocol.packetHeaderSize && maxPacketSize <= WireProtocol.largestPacketSize,
            "packet size must be within 32...65507 bytes")
        guard let base = buffer.baseAddress, buffer.count >= maxPacketSize else {
            preconditionFailure("packet buffer smaller than maxPacketSize")
        }
        self.base = base
        self.maxPacketSize = maxPacketSize
    }

    /// Length of the packet so far (the whole packet after `finish`).
    @inlinable public var length: Int { end }
    @inlinable public var messageCount: Int { count }

    /// Starts a packet, discarding any unfinished one. Heartbeat and end-of-session packets
    /// pass `.unsequenced` and the next expected sequence number.
    @inlinable
    public mutating func begin(channel: UInt16, sequence: UInt64, sendTime: UInt64, session: UInt64, flags: PacketFlags = []) {
        store(WireProtocol.magic, at: WirePacketHeaderLayout.magic)
        store(WireProtocol.version, at: WirePacketHeaderLayout.version)
        store(flags.rawValue, at: WirePacketHeaderLayout.flags)
        store(channel, at: WirePacketHeaderLayout.channel)
        store(UInt16(0), at: WirePacketHeaderLayout.messageCount)
        store(sequence, at: WirePacketHeaderLayout.sequence)
        store(sendTime, at: WirePacketHeaderLayout.sendTime)
        store(session, at: WirePacketHeaderLayout.session)
        end = WireProtocol.packetHeaderSize
        count = 0
        isOpen = true
        openChunk = nil
    }

    /// Patches the message count (and the send time, when it is only known at flush time)
    /// and returns the packet length.
    @inlinable
    public mutating func finish(sendTime: UInt64? = nil) -> Int {
        precondition(isOpen, "finish without begin")
        precondition(openChunk == nil, "finish with a snapshot chunk still open")
        store(UInt16(count), at: WirePacketHeaderLayout.messageCount)
        if let sendTime { store(sendTime, at: WirePacketHeaderLayout.sendTime) }
        isOpen = false
        return end
    }

    /// Stamps the send time into a packet finished earlier: a publisher fills several packets
    /// in one venue batch and sends them together, so their time is known only then.
    @inlinable
    public static func stampSendTime(_ sendTime: UInt64, inPacketAt packet: UnsafeMutableRawPointer) {
        packet.storeBytes(of: sendTime.littleEndian, toByteOffset: WirePacketHeaderLayout.sendTime, as: UInt64.self)
    }

    @inlinable
    public mutating func append(_ delta: BookDelta) -> Bool {
        let flags = delta.isLastInUpdate ? WireMessageFlag.lastInUpdate : 0
        guard let message = reserve(WireBookDeltaLayout.size, type: .bookDelta, flags: flags) else { return false }
        store(delta.instrument.rawValue, at: message + WireBookDeltaLayout.instrument)
        store(delta.side.rawValue, at: message + WireBookDeltaLayout.side)
        store(UInt8(0), at: message + WireBookDeltaLayout.side + 1)
        store(delta.price.mantissa, at: message + WireBookDeltaLayout.price)
        store(delta.quantity.mantissa, at: message + WireBookDeltaLayout.quantity)
        store(delta.venueUpdateId, at: message + WireBookDeltaLayout.venueUpdateId)
        store(delta.eventTime, at: message + WireBookDeltaLayout.eventTime)
        store(delta.receiveTime, at: message + WireBookDeltaLayout.receiveTime)
        return true
    }

    @inlinable
    public mutating func append(_ trade: Trade) -> Bool {
        let flags = trade.isTradeIdDigest ? WireMessageFlag.tradeIdDigest : 0
        guard let message = reserve(WireTradeLayout.size, type: .trade, flags: flags) else { return false }
        store(trade.instrument.rawValue, at: message + WireTradeLayout.instrument)
        store(trade.aggressor.rawValue, at: message + WireTradeLayout.aggressor)
        store(UInt8(0), at: message + WireTradeLayout.aggressor + 1)
        store(trade.price.mantissa, at: message + WireTradeLayout.price)
        store(trade.quantity.mantissa, at: message + WireTradeLayout.quantity)
        store(trade.tradeId, at: message + WireTradeLayout.tradeId)
        store(trade.eventTime, at: message + WireTradeLayout.eventTime)
        store(trade.receiveTime, at: message + WireTradeLayout.receiveTime)
        return true
    }

    @inlinable
    public mutating func append(_ quote: BestBidOffer) -> Bool {
        guard let message = reserve(WireBestBidOfferLayout.size, type: .bestBidOffer, flags: 0) else { return false }
        store(quote.instrument.rawValue, at: message + WireBestBidOfferLayout.instrument)
        store(UInt16(0), at: message + WireBestBidOfferLayout.instrument + 2)
        store(quote.bidPrice.mantissa, at: message + WireBestBidOfferLayout.bidPrice)
        store(quote.bidQuantity.mantissa, at: message + WireBestBidOfferLayout.bidQuantity)
        store(quote.askPrice.mantissa, at: message + WireBestBidOfferLayout.askPrice)
        store(quote.askQuantity.mantissa, at: message + WireBestBidOfferLayout.askQuantity)
        store(quote.venueUpdateId, at: message + WireBestBidOfferLayout.venueUpdateId)
        store(quote.eventTime, at: message + WireBestBidOfferLayout.eventTime)
        store(quote.receiveTime, at: message + WireBestBidOfferLayout.receiveTime)
        return true
    }

    @inlinable
    public mutating func append(_ status: BookStatus) -> Bool {
        guard let message = reserve(WireBookStatusLayout.size, type: .bookStatus, flags: 0) else { return false }
        store(status.instrument.rawValue, at: message + WireBookStatusLayout.instrument)
        store(status.state.rawValue, at: message + WireBookStatusLayout.state)
        store(status.reason.rawValue, at: message + WireBookStatusLayout.reason)
        store(status.venueUpdateId, at: message + WireBookStatusLayout.venueUpdateId)
        store(status.changeTime, at: message + WireBookStatusLayout.changeTime)
        return true
    }

    @inlinable
    public mutating func append(_ heartbeat: Heartbeat) -> Bool {
        guard let message = reserve(WireHeartbeatLayout.size, type: .heartbeat, flags: 0) else { return false }
        store(UInt32(0), at: message + WireProtocol.messageHeaderSize)
        store(heartbeat.nextSequence, at: message + WireHeartbeatLayout.nextSequence)
        return true
    }

    @inlinable
    public mutating func append(_ endOfSession: EndOfSession) -> Bool {
        guard let message = reserve(WireEndOfSessionLayout.size, type: .endOfSession, flags: 0) else { return false }
        store(UInt32(0), at: message + WireProtocol.messageHeaderSize)
        store(endOfSession.nextSequence, at: message + WireEndOfSessionLayout.nextSequence)
        return true
    }

    @inlinable
    public mutating func append(_ request: RetransmitRequest) -> Bool {
        guard let message = reserve(WireRetransmitRequestLayout.size, type: .retransmitRequest, flags: 0) else { return false }
        store(request.count, at: message + WireRetransmitRequestLayout.count)
        store(request.firstSequence, at: message + WireRetransmitRequestLayout.firstSequence)
        store(request.requestId, at: message + WireRetransmitRequestLayout.requestId)
        return true
    }

    @inlinable
    public mutating func append(_ reject: RetransmitReject) -> Bool {
        guard let message = reserve(WireRetransmitRejectLayout.size, type: .retransmitReject, flags: 0) else { return false }
        store(reject.reason.rawValue, at: message + WireRetransmitRejectLayout.reason)
        store(UInt8(0), at: message + WireRetransmitRejectLayout.reason + 1)
        store(UInt16(0), at: message + WireRetransmitRejectLayout.reason + 2)
        store(reject.firstSequence, at: message + WireRetransmitRejectLayout.firstSequence)
        store(reject.count, at: message + WireRetransmitRejectLayout.count)
        store(UInt32(0), at: message + WireRetransmitRejectLayout.count + 4)
        store(reject.requestId, at: message + WireRetransmitRejectLayout.requestId)
        store(reject.oldestAvailable, at: message + WireRetransmitRejectLayout.oldestAvailable)
        store(reject.nextSequence, at: message + WireRetransmitRejectLayout.nextSequence)
        return true
    }

    public mutating func append(_ definition: WireInstrumentDefinition) -> Bool {
        guard let message = reserve(WireInstrumentDefinitionLayout.size, type: .instrumentDefinition, flags: 0) else { return false }
        store(definition.instrument.rawValue, at: message + WireInstrumentDefinitionLayout.instrument)
        store(definition.venueCode, at: message + WireInstrumentDefinitionLayout.venue)
        store(definition.priceScale.digits, at: message + WireInstrumentDefinitionLayout.priceScale)
        store(definition.quantityScale.digits, at: message + WireInstrumentDefinitionLayout.quantityScale)
        store(UInt8(definition.symbol.count), at: message + WireInstrumentDefinitionLayout.symbolLength)
        store(UInt16(0), at: message + WireInstrumentDefinitionLayout.symbolLength + 1)
        store(UInt32(0), at: message + WireInstrumentDefinitionLayout.symbolLength + 3)
        base.storeBytes(of: definition.symbol.bytes, toByteOffset: message + WireInstrumentDefinitionLayout.symbol, as: SIMD32<UInt8>.self)
        return true
    }

    /// Reads the symbol's UTF-8 in place: no allocation.
    public mutating func append(_ definition: InstrumentDefinition) -> Bool {
        append(WireInstrumentDefinition(definition))
    }

    /// Copies a received chunk whole (relaying); false when it does not fit.
    @inlinable
    public mutating func append(_ chunk: BookSnapshotChunk) -> Bool {
        let levels = chunk.levelBytes
        let flags = chunk.isLastChunk ? WireMessageFlag.lastChunk : 0
        guard let message = reserve(WireBookSnapshotLayout.levels + levels.count, type: .bookSnapshot, flags: flags) else { return false }
        storeSnapshotFields(
            at: message, instrument: chunk.instrument, chunkIndex: chunk.chunkIndex,
            incrementalSequence: chunk.incrementalSequence, venueUpdateId: chunk.venueUpdateId,
            bidCount: chunk.bidCount, askCount: chunk.askCount)
        if levels.count > 0 {
            (base + message + WireBookSnapshotLayout.levels).copyMemory(from: chunk.levels, byteCount: levels.count)
        }
        return true
    }

    /// Encodes any decoded message; `.unknown` has no body to encode and is a programming error.
    @inlinable
    public mutating func append(_ message: WireMessage) -> Bool {
        switch message {
        case .heartbeat(let heartbeat): append(heartbeat)
        case .endOfSession(let endOfSession): append(endOfSession)
        case .instrumentDefinition(let definition): append(definition)
        case .bookStatus(let status): append(status)
        case .retransmitRequest(let request): append(request)
        case .retransmitReject(let reject): append(reject)
        case .bookDelta(let delta): append(delta)
        case .bookSnapshot(let chunk): append(chunk)
        case .bestBidOffer(let quote): append(quote)
        case .trade(let trade): append(trade)
        case .unknown(let type): preconditionFailure("cannot encode a message of unknown type \(type)")
        }
    }

    /// Opens a snapshot chunk with no levels yet; false when even that does not fit.
    @inlinable
    public mutating func beginSnapshotChunk(
        instrument: InstrumentId, chunkIndex: UInt16, incrementalSequence: UInt64, venueUpdateId: UInt64
    ) -> Bool {
        guard let message = reserve(WireBookSnapshotLayout.levels, type: .bookSnapshot, flags: 0) else { return false }
        storeSnapshotFields(
            at: message, instrument: instrument, chunkIndex: chunkIndex,
            incrementalSequence: incrementalSequence, venueUpdateId: venueUpdateId, bidCount: 0, askCount: 0)
        openChunk = message
        openChunkBids = 0
        openChunkAsks = 0
        return true
    }

    /// Adds the next level of the open chunk: all bids best first, then all asks best first.
    /// False when the level does not fit; finish the chunk and continue in the next packet.
    @inlinable
    public mutating func appendSnapshotLevel(_ side: Side, price: Price, quantity: Quantity) -> Bool {
        precondition(openChunk != nil, "appendSnapshotLevel without beginSnapshotChunk")
        precondition(side == .ask || openChunkAsks == 0, "snapshot bids must precede asks")
        guard end + WireBookSnapshotLayout.levelSize <= maxPacketSize else { return false }
        store(price.mantissa, at: end + WireBookSnapshotLayout.levelPrice)
        store(quantity.mantissa, at: end + WireBookSnapshotLayout.levelQuantity)
        end += WireBookSnapshotLayout.levelSize
        switch side {
        case .bid: openChunkBids += 1
        case .ask: openChunkAsks += 1
        }
        return true
    }

    /// Closes the open chunk; `isLast` marks the end of the snapshot.
    @inlinable
    public mutating func finishSnapshotChunk(isLast: Bool) {
        guard let message = openChunk else { preconditionFailure("finishSnapshotChunk without beginSnapshotChunk") }
        store(UInt16(end - message), at: message + WireMessageHeaderLayout.length)
        store(isLast ? WireMessageFlag.lastChunk : 0, at: message + WireMessageHeaderLayout.flags)
        store(UInt16(openChunkBids), at: message + WireBookSnapshotLayout.bidCount)
        store(UInt16(openChunkAsks), at: message + WireBookSnapshotLayout.askCount)
        openChunk = nil
    }

    /// Writes a message header and claims `size` bytes; nil when they would exceed the packet size.
    @inlinable
    mutating func reserve(_ size: Int, type: WireMessageType, flags: UInt8) -> Int? {
        precondition(isOpen, "append without begin")
        precondition(openChunk == nil, "append while a snapshot chunk is open")
        guard end + size <= maxPacketSize else { return nil }
        let message = end
        store(UInt16(size), at: message + WireMessageHeaderLayout.length)
        store(type.rawValue, at: message + WireMessageHeaderLayout.type)
        store(flags, at: message + WireMessageHeaderLayout.flags)
        end += size
        count += 1
        return message
    }

    @inlinable
    func storeSnapshotFields(
        at message: Int, instrument: InstrumentId, chunkIndex: UInt16, incrementalSequence: UInt64,
        venueUpdateId: UInt64, bidCount: Int, askCount: Int
    ) {
        store(instrument.rawValue, at: message + WireBookSnapshotLayout.instrument)
        store(chunkIndex, at: message + WireBookSnapshotLayout.chunkIndex)
        store(incrementalSequence, at: message + WireBookSnapshotLayout.incrementalSequence)
        store(venueUpdateId, at: message + WireBookSnapshotLayout.venueUpdateId)
        store(UInt16(bidCount), at: message + WireBookSnapshotLayout.bidCount)
        store(UInt16(askCount), at: message + WireBookSnapshotLayout.askCount)
        store(UInt16(WireBookSnapshotLayout.levels), at: message + WireBookSnapshotLayout.levelsOffset)
        store(UInt16(0), at: message + WireBookSnapshotLayout.levelsOffset + 2)
    }

    /// Unaligned little-endian store: messages sit at any offset of any buffer.
    @inlinable @inline(__always)
    func store<Value: FixedWidthInteger>(_ value: Value, at offset: Int) {
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: Value.self)
    }
}
