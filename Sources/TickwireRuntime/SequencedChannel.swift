import TickwireCore
import TickwireSystem
import TickwireTransport

/// One destination of a channel. A/B lines are two of these: two groups, or two senders on
/// different interfaces, or both; every packet goes to each, byte-identical.
public struct PublishLine<Sender: UdpSender> {
    public var sender: Sender
    public var destination: UdpEndpoint

    public init(sender: Sender, destination: UdpEndpoint) {
        self.sender = sender
        self.destination = destination
    }
}

/// How a channel is numbered, packed and paced. Defaults suit a 1500-byte-MTU link.
public struct ChannelConfiguration: Sendable {
    public var channel: UInt16
    /// The publisher run (docs/PROTOCOL.md section 2): differs from every earlier session.
    public var session: UInt64
    /// UDP payload limit: packets are packed up to it (1400 fits a 1500-byte MTU).
    public var maxPacketSize = WireProtocol.defaultMaxPacketSize
    /// A heartbeat goes out when the channel has sent nothing for this long (ns).
    public var heartbeatInterval: UInt64 = 1_000_000_000
    /// Sequenced packets kept for retransmission.
    public var historyCapacity = 65_536
    /// Packets handed to the senders in one call; a venue batch that fills more is sent in parts.
    public var packetsPerSend = 64
    /// End of session goes out this many times, for loss tolerance.
    public var endOfSessionRepeats = 3
    public var historyMemory: HotMemoryPolicy = .standard

    public init(channel: UInt16, session: UInt64) {
        self.channel = channel
        self.session = session
    }

    /// The smallest packet that holds every fixed-size v1 message and a snapshot chunk with a level.
    public static let smallestMaxPacketSize = 128

    /// The largest packet that leaves an interface of that MTU unfragmented: the MTU less
    /// the IPv4 (20) and UDP (8) headers; nil when the MTU is too small to carry a channel.
    public static func maxPacketSize(forInterfaceMTU mtu: Int) -> Int? {
        let payload = min(mtu - 28, WireProtocol.largestPacketSize)
        return payload >= smallestMaxPacketSize ? payload : nil
    }
}

/// What a channel has sent, for `stats` and tests.
public struct ChannelCounters: Equatable, Sendable {
    /// Sequenced packets, counted once however many lines carry them.
    public var packets = 0
    public var messages = 0
    public var bytes = 0
    public var heartbeats = 0
    public var endOfSessions = 0
    /// Packets a line's sender refused with an error (per line).
    public var sendErrors = 0
    /// Packets a line could not send because its socket buffer or TX ring was full (per
    /// line). They are not retried here: they stay in the history for retransmission.
    public var wouldBlock = 0

    public init() {}
}

/// Numbers, packs and sends the packets of one channel: each packet is built in place in
/// its history slot, finished packets wait in a preallocated batch and go to every line
/// together, stamped with the send time just before sending. Heartbeats and end of session
/// are unsequenced and built in a separate small buffer. Nothing here allocates after init.
final class SequencedChannel<Sender: UdpSender, Clock: PublisherClock> {
    let channel: UInt16
    let session: UInt64
    let history: PacketHistory
    let maxPacketSize: Int
    let heartbeatInterval: UInt64
    let endOfSessionRepeats: Int
    let clock: Clock
    var lines: [PublishLine<Sender>]

    /// What changes per message, behind a pointer: stored `var`s of a class pay a dynamic
    /// exclusivity check on every access, which cost more than encoding the message.
    private struct State {
        /// Writes the open packet, when `isOpen`.
        var writer: PacketWriter
        var isOpen = false
        var batchCount = 0
        var lastSendTime: UInt64
        var counters = ChannelCounters()
        var isEnded = false
    }

    private let state: UnsafeMutablePointer<State>
    private let batch: UnsafeMutableBufferPointer<OutgoingPacket>
    private let controlBuffer: UnsafeMutableRawBufferPointer

    init(configuration: ChannelConfiguration, historyCapacity: Int, lines: [PublishLine<Sender>], clock: Clock) throws(SystemError) {
        precondition((1...2).contains(lines.count), "a channel has one line, or two for A/B")
        precondition(
            configuration.maxPacketSize >= ChannelConfiguration.smallestMaxPacketSize
                && configuration.maxPacketSize <= WireProtocol.largestPacketSize,
            "max packet size must be within \(ChannelConfiguration.smallestMaxPacketSize)...\(WireProtocol.largestPacketSize)")
        precondition(configuration.packetsPerSend > 0, "packetsPerSend must be positive")
        precondition(historyCapacity > configuration.packetsPerSend, "the history must hold a whole send batch")
        channel = configuration.channel
        session = configuration.session
        maxPacketSize = configuration.maxPacketSize
        heartbeatInterval = configuration.heartbeatInterval
        endOfSessionRepeats = configuration.endOfSessionRepeats
        history = try PacketHistory(capacity: historyCapacity, packetCapacity: maxPacketSize, policy: configuration.historyMemory)
        self.lines = lines
        self.clock = clock
        batch = .allocate(capacity: configuration.packetsPerSend)
        batch.initialize(repeating: OutgoingPacket(UnsafeRawBufferPointer(start: nil, count: 0)))
        controlBuffer = .allocate(byteCount: Self.controlPacketSize, alignment: 64)
        state = .allocate(capacity: 1)
        state.initialize(to: State(writer: PacketWriter(buffer: controlBuffer, maxPacketSize: Self.controlPacketSize), lastSendTime: clock.now()))
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        batch.deallocate()
        controlBuffer.deallocate()
    }

    var counters: ChannelCounters { state.pointee.counters }
    var isEnded: Bool { state.pointee.isEnded }

    /// Header plus one heartbeat or end-of-session message.
    private static var controlPacketSize: Int { 64 }

    /// The number the next sequenced packet carries.
    var nextSequence: UInt64 { history.nextSequence }

    /// Messages appended since the last `flush` that no line has seen yet.
    var hasUnsentPackets: Bool { state.pointee.isOpen || state.pointee.batchCount > 0 }

    /// Appends one message to the open packet, or to a new packet when it does not fit.
    @inline(__always)
    func append(_ encode: (inout PacketWriter) -> Bool) {
        precondition(!state.pointee.isEnded, "publishing after end of session")
        if !state.pointee.isOpen { openPacket() }
        if encode(&state.pointee.writer) { return }
        closePacket()
        openPacket()
        guard encode(&state.pointee.writer) else { preconditionFailure("a message larger than an empty packet") }
    }

    /// Writes the book as a snapshot: chunk 0 in the open packet when it fits, each further
    /// chunk at the start of a new packet. `incrementalSequence` nil tags it with the
    /// sequence of the packet carrying chunk 0 (an inline snapshot, docs/PROTOCOL.md section 3).
    func appendSnapshot(of instrument: InstrumentId, book: OrderBook, incrementalSequence: UInt64?) {
        precondition(!state.pointee.isEnded, "publishing after end of session")
        if !state.pointee.isOpen { openPacket() }
        let venueUpdateId = book.updateId
        var tag = incrementalSequence ?? nextSequence
        if !state.pointee.writer.beginSnapshotChunk(instrument: instrument, chunkIndex: 0, incrementalSequence: tag, venueUpdateId: venueUpdateId) {
            closePacket()
            openPacket()
            tag = incrementalSequence ?? nextSequence
            let opened = state.pointee.writer.beginSnapshotChunk(instrument: instrument, chunkIndex: 0, incrementalSequence: tag, venueUpdateId: venueUpdateId)
            precondition(opened, "an empty packet holds a snapshot chunk")
        }
        var chunkIndex: UInt16 = 0
        func appendLevels(_ side: Side) {
            book.forEachLevel(side) { level in
                if state.pointee.writer.appendSnapshotLevel(side, price: level.price, quantity: level.quantity) { return }
                state.pointee.writer.finishSnapshotChunk(isLast: false)
                closePacket()
                openPacket()
                chunkIndex += 1
                let continued =
                    state.pointee.writer.beginSnapshotChunk(instrument: instrument, chunkIndex: chunkIndex, incrementalSequence: tag, venueUpdateId: venueUpdateId)
                    && state.pointee.writer.appendSnapshotLevel(side, price: level.price, quantity: level.quantity)
                precondition(continued, "an empty packet holds a snapshot chunk with a level")
            }
        }
        appendLevels(.bid)
        appendLevels(.ask)
        state.pointee.writer.finishSnapshotChunk(isLast: true)
    }

    /// Sends everything appended so far: the end of a venue batch.
    func flush() {
        if state.pointee.isOpen { closePacket() }
        if state.pointee.batchCount > 0 { sendBatch() }
    }

    /// Sends a heartbeat when nothing went out for the heartbeat interval and nothing waits
    /// to be flushed; true when it did.
    @discardableResult
    func heartbeatIfIdle() -> Bool {
        guard !state.pointee.isEnded, !hasUnsentPackets else { return false }
        let now = clock.now()
        guard now >= state.pointee.lastSendTime, now - state.pointee.lastSendTime >= heartbeatInterval else { return false }
        sendControl(now: now) { $0.append(Heartbeat(nextSequence: $1)) }
        state.pointee.counters.heartbeats += 1
        return true
    }

    /// Flushes, then sends end of session; nothing may be published afterwards.
    /// When the last packet was stamped and handed to the sender (or a heartbeat sent).
    var lastSendTime: UInt64 { state.pointee.lastSendTime }

    func endSession() {
        guard !state.pointee.isEnded else { return }
        flush()
        for _ in 0..<endOfSessionRepeats {
            sendControl(now: clock.now()) { $0.append(EndOfSession(nextSequence: $1)) }
            state.pointee.counters.endOfSessions += 1
        }
        state.pointee.isEnded = true
    }

    private func openPacket() {
        state.pointee.writer = PacketWriter(buffer: history.openNextSlot(), maxPacketSize: maxPacketSize)
        state.pointee.writer.begin(channel: channel, sequence: nextSequence, sendTime: 0, session: session)
        state.pointee.isOpen = true
    }

    private func closePacket() {
        state.pointee.counters.messages += state.pointee.writer.messageCount
        let packet = history.commitNextSlot(length: state.pointee.writer.finish())
        state.pointee.isOpen = false
        batch[state.pointee.batchCount] = OutgoingPacket(UnsafeRawBufferPointer(packet))
        state.pointee.batchCount += 1
        if state.pointee.batchCount == batch.count { sendBatch() }
    }

    private func sendBatch() {
        let now = clock.now()
        for index in 0..<state.pointee.batchCount {
            let packet = batch[index].bytes
            PacketWriter.stampSendTime(now, inPacketAt: UnsafeMutableRawPointer(mutating: packet.baseAddress!))
            state.pointee.counters.bytes += packet.count
        }
        state.pointee.counters.packets += state.pointee.batchCount
        transmit(UnsafeBufferPointer(rebasing: batch[..<state.pointee.batchCount]))
        state.pointee.batchCount = 0
        state.pointee.lastSendTime = now
    }

    /// An unsequenced packet carrying one message, whose sequence field and message hold
    /// the next sequence number.
    private func sendControl(now: UInt64, _ encode: (inout PacketWriter, UInt64) -> Bool) {
        var control = PacketWriter(buffer: controlBuffer, maxPacketSize: Self.controlPacketSize)
        control.begin(channel: channel, sequence: nextSequence, sendTime: now, session: session, flags: .unsequenced)
        let appended = encode(&control, nextSequence)
        precondition(appended, "a control message fits its buffer")
        let length = control.finish()
        batch[0] = OutgoingPacket(UnsafeRawBufferPointer(rebasing: controlBuffer[..<length]))
        transmit(UnsafeBufferPointer(rebasing: batch[..<1]))
        state.pointee.lastSendTime = now
    }

    private func transmit(_ packets: UnsafeBufferPointer<OutgoingPacket>) {
        for index in lines.indices {
            let report = lines[index].sender.send(packets, to: lines[index].destination)
            state.pointee.counters.sendErrors += report.errors
            state.pointee.counters.wouldBlock += report.wouldBlock
        }
    }
}
