import TickwireClient
import TickwireCore

/// Builds the packets a publisher would send, with Core's PacketWriter, and keeps the
/// reference book each delta implies (the truth the client's book must equal).
struct TestPublisher {
    var session: UInt64 = 0x187A_5B2C_0000_0001
    var channel: UInt16 = 7
    var snapshotChannel: UInt16 = 8
    var maxPacketSize = 1400
    /// Sequence of the next sequenced incremental packet.
    var next: UInt64 = 1
    var nextSnapshot: UInt64 = 1
    var sendTime: UInt64 = 1_700_000_000_000_000_000
    var truth: [InstrumentId: [Side: [Int64: Int64]]] = [:]
    var updateId: UInt64 = 100

    static let btc = WireInstrumentDefinition(
        instrument: InstrumentId(0), venueCode: Venue.binanceSpot.rawValue, priceScale: Scale(2), quantityScale: Scale(5),
        symbol: WireSymbol("BTCUSDT")!)
    static let eth = WireInstrumentDefinition(
        instrument: InstrumentId(1), venueCode: Venue.bybitLinear.rawValue, priceScale: Scale(2), quantityScale: Scale(3),
        symbol: WireSymbol("ETHUSDT")!)

    /// One sequenced incremental packet holding `messages` (built by `body`).
    mutating func packet(_ body: (inout PacketWriter) -> Void) -> [UInt8] {
        defer { next += 1 }
        return Self.build(maxPacketSize: maxPacketSize) { writer in
            writer.begin(channel: channel, sequence: next, sendTime: sendTime, session: session)
            body(&writer)
        }
    }

    mutating func definitionPacket(_ definitions: WireInstrumentDefinition...) -> [UInt8] {
        packet { writer in for definition in definitions { precondition(writer.append(definition)) } }
    }

    /// One venue update of `levels` (side, price, quantity) on `instrument`, applied to the truth.
    mutating func updatePacket(_ instrument: InstrumentId, _ levels: [(Side, Int64, Int64)]) -> [UInt8] {
        updateId += 1
        let id = updateId
        for (side, price, quantity) in levels {
            truth[instrument, default: [:]][side, default: [:]][price] = quantity == 0 ? nil : quantity
        }
        let time = sendTime
        return packet { writer in
            for (index, (side, price, quantity)) in levels.enumerated() {
                precondition(writer.append(BookDelta(
                    instrument: instrument, side: side, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity),
                    venueUpdateId: id, eventTime: 0, receiveTime: time, isLastInUpdate: index == levels.count - 1)))
            }
        }
    }

    mutating func statusPacket(_ instrument: InstrumentId, _ state: BookStatus.State, _ reason: BookStatus.Reason = .none) -> [UInt8] {
        let (id, time) = (updateId, sendTime)
        return packet { writer in
            precondition(writer.append(BookStatus(instrument: instrument, state: state, reason: reason, venueUpdateId: id, changeTime: time)))
        }
    }

    mutating func tradePacket(_ instrument: InstrumentId) -> [UInt8] {
        let time = sendTime
        return packet { writer in
            precondition(writer.append(Trade(instrument: instrument, price: Price(mantissa: 100), quantity: Quantity(mantissa: 2),
                                             aggressor: .ask, tradeId: 9, eventTime: 0, receiveTime: time)))
        }
    }

    /// An unsequenced heartbeat or end of session carrying the next expected sequence.
    func heartbeatPacket() -> [UInt8] {
        Self.build(maxPacketSize: maxPacketSize) { writer in
            writer.begin(channel: channel, sequence: next, sendTime: sendTime, session: session, flags: .unsequenced)
            precondition(writer.append(Heartbeat(nextSequence: next)))
        }
    }

    func endOfSessionPacket() -> [UInt8] {
        Self.build(maxPacketSize: maxPacketSize) { writer in
            writer.begin(channel: channel, sequence: next, sendTime: sendTime, session: session, flags: .unsequenced)
            precondition(writer.append(EndOfSession(nextSequence: next)))
        }
    }

    /// The truth of `instrument` as snapshot chunks, best first, as packets of the incremental
    /// channel (inline) or of the snapshot channel (preceded by the definition). Several
    /// packets when the levels do not fit one.
    mutating func snapshotPackets(_ definition: WireInstrumentDefinition, inline: Bool, incrementalSequence: UInt64? = nil) -> [[UInt8]] {
        let instrument = definition.instrument
        let bids = (truth[instrument]?[.bid] ?? [:]).sorted { $0.key > $1.key }.map { (Side.bid, $0.key, $0.value) }
        let asks = (truth[instrument]?[.ask] ?? [:]).sorted { $0.key < $1.key }.map { (Side.ask, $0.key, $0.value) }
        var levels = ArraySlice(bids + asks)
        var packets: [[UInt8]] = []
        var chunk: UInt16 = 0
        let tagged = incrementalSequence ?? (inline ? next : next - 1)
        repeat {
            let sequence = inline ? next : nextSnapshot
            let bytes = Self.build(maxPacketSize: maxPacketSize) { writer in
                writer.begin(channel: inline ? channel : snapshotChannel, sequence: sequence, sendTime: sendTime, session: session)
                if !inline && chunk == 0 { precondition(writer.append(definition)) }
                precondition(writer.beginSnapshotChunk(instrument: instrument, chunkIndex: chunk, incrementalSequence: tagged, venueUpdateId: updateId))
                while let level = levels.first, writer.appendSnapshotLevel(level.0, price: Price(mantissa: level.1), quantity: Quantity(mantissa: level.2)) {
                    levels.removeFirst()
                }
                writer.finishSnapshotChunk(isLast: levels.isEmpty)
            }
            packets.append(bytes)
            if inline { next += 1 } else { nextSnapshot += 1 }
            chunk += 1
        } while !levels.isEmpty
        return packets
    }

    /// A reject from the retransmission service for `request`.
    func rejectPacket(for request: RetransmitRequest, reason: RetransmitReject.Reason) -> [UInt8] {
        Self.build(maxPacketSize: maxPacketSize) { writer in
            writer.begin(channel: channel, sequence: next, sendTime: sendTime, session: session, flags: .unsequenced)
            precondition(writer.append(RetransmitReject(
                reason: reason, firstSequence: request.firstSequence, count: request.count, requestId: request.requestId,
                oldestAvailable: 0, nextSequence: next)))
        }
    }

    static func build(maxPacketSize: Int, _ body: (inout PacketWriter) -> Void) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: maxPacketSize)
        let length = bytes.withUnsafeMutableBytes { buffer in
            var writer = PacketWriter(buffer: buffer, maxPacketSize: maxPacketSize)
            body(&writer)
            return writer.finish()
        }
        return Array(bytes.prefix(length))
    }

    /// The truth of one side, best first.
    func truthLevels(_ instrument: InstrumentId, _ side: Side) -> [BookLevel] {
        let levels = truth[instrument]?[side] ?? [:]
        return levels.sorted { side == .bid ? $0.key > $1.key : $0.key < $1.key }
            .map { BookLevel(price: Price(mantissa: $0.key), quantity: Quantity(mantissa: $0.value)) }
    }
}

/// Records everything the client reports.
struct RecordingHandler: FeedHandler {
    var updates: [(InstrumentId, UInt64)] = []
    var invalidations: [(InstrumentId, BookStatus.Reason)] = []
    var definitions: [WireInstrumentDefinition] = []
    var trades: [Trade] = []
    var events: [ChannelEvent] = []
    var accepted: [UInt64] = []

    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        updates.append((instrument, venueUpdateId))
    }
    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        invalidations.append((instrument, reason))
    }
    mutating func instrumentDefined(_ definition: WireInstrumentDefinition) { definitions.append(definition) }
    mutating func trade(_ trade: Trade) { trades.append(trade) }
    mutating func packetAccepted(_ header: PacketHeader, receiveTime: UInt64) { accepted.append(header.sequence) }
    mutating func channelEvent(_ event: ChannelEvent) { events.append(event) }
}

/// Keeps the retransmission requests the client sends (decoded), and can refuse to send.
struct RecordingRequester: RetransmissionRequester {
    var requests: [(header: PacketHeader, request: RetransmitRequest)] = []
    var available = true

    mutating func sendRequest(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard available else { return false }
        var reader = try! PacketReader(packet: packet)
        if case .retransmitRequest(let request)? = try! reader.next() { requests.append((reader.header, request)) }
        return true
    }
}

typealias TestClient = FeedClient<RecordingHandler, RecordingRequester>

func makeClient(lines: Int = 1, snapshotChannel: Bool = true, retransmission: Bool = true) throws -> TestClient {
    var configuration = FeedClientConfiguration()
    configuration.maxInstruments = 8
    configuration.levelsPerSide = 64
    configuration.lines = lines
    configuration.usesSnapshotChannel = snapshotChannel
    configuration.reorderPackets = 64
    configuration.historyPackets = 256
    configuration.bookMemory = .init(attempts: [.normal], prefault: false)
    return try FeedClient(configuration: configuration, handler: RecordingHandler(),
                          requester: RecordingRequester(available: retransmission))
}

extension FeedClient {
    mutating func incremental(_ packet: [UInt8], line: FeedLine = .a, at time: UInt64 = 1) {
        packet.withUnsafeBytes { receiveIncremental($0, line: line, receiveTime: time) }
    }
    mutating func snapshot(_ packet: [UInt8], at time: UInt64 = 1) {
        packet.withUnsafeBytes { receiveSnapshot($0, receiveTime: time) }
    }
    mutating func retransmission(_ packet: [UInt8], at time: UInt64 = 1) {
        packet.withUnsafeBytes { receiveRetransmission($0, receiveTime: time) }
    }

    /// One side of a book, best first.
    func levels(_ instrument: InstrumentId, _ side: Side) -> [BookLevel] {
        books.withBook(instrument) { book in
            var levels: [BookLevel] = []
            book.forEachLevel(side) { levels.append($0) }
            return levels
        }
    }
}
