import TickwireCore
import TickwireSystem
import TickwireTransport

/// Publishes one incremental channel (docs/PROTOCOL.md): turns normalized events into
/// sequenced packets, packed up to the max packet size, and sends them to one line or to
/// A and B when the venue batch ends (`flush`). Call `heartbeatIfIdle` from the loop when
/// there is no venue data, and `endSession` on clean shutdown.
///
/// Each instrument's definition goes out before its first other message of the session.
/// The publisher remembers each book's last status, so the snapshot loop can tell valid
/// books from the others. Events for an instrument it was not given are counted and
/// dropped. After init nothing allocates; one thread owns it.
public final class ChannelPublisher<Sender: UdpSender, Clock: PublisherClock> {
    let output: SequencedChannel<Sender, Clock>
    /// Instruments of this channel, in definition order: the snapshot loop's order.
    public private(set) var instruments: [InstrumentId] = []
    /// Events for instruments without a definition on this channel (dropped).
    public private(set) var undefinedInstrumentEvents = 0

    /// Per instrument id, behind a pointer: read on every event, where a class's stored
    /// arrays would pay an exclusivity check and a bounds check each.
    private struct InstrumentState {
        var isDefined = false
        var isDefinitionSent = false
        var isBookValid = false
        var definition: WireInstrumentDefinition?
        var status: BookStatus
    }

    private let states: UnsafeMutableBufferPointer<InstrumentState>

    /// - Parameters:
    ///   - lines: one line, or two for A/B.
    ///   - instruments: the channel's instruments (more with `define`).
    ///   - instrumentCapacity: instrument ids `0..<instrumentCapacity` may be defined.
    public init(
        configuration: ChannelConfiguration, lines: [PublishLine<Sender>], clock: Clock,
        instruments: [InstrumentDefinition], instrumentCapacity: Int = InstrumentTable.defaultCapacity
    ) throws(SystemError) {
        precondition(instrumentCapacity > 0 && instrumentCapacity <= Int(UInt16.max) + 1, "instrument capacity must fit InstrumentId")
        output = try SequencedChannel(
            configuration: configuration, historyCapacity: configuration.historyCapacity, lines: lines, clock: clock)
        states = .allocate(capacity: instrumentCapacity)
        for index in 0..<instrumentCapacity {
            let pending = BookStatus(instrument: InstrumentId(UInt16(index)), state: .invalid, reason: .snapshotPending, venueUpdateId: 0, changeTime: 0)
            (states.baseAddress! + index).initialize(to: InstrumentState(status: pending))
        }
        self.instruments.reserveCapacity(instrumentCapacity)
        for definition in instruments { define(definition) }
    }

    deinit {
        states.deinitialize()
        states.deallocate()
    }

    /// Adds an instrument (set-up time). Redefining one replaces its definition, which goes
    /// out again before its next message.
    public func define(_ definition: InstrumentDefinition) {
        let index = definition.id.index
        precondition(index < states.count, "instrument id \(definition.id) beyond the instrument capacity")
        if !states[index].isDefined { instruments.append(definition.id) }
        states[index].isDefined = true
        states[index].definition = WireInstrumentDefinition(definition)
        states[index].isDefinitionSent = false
    }

    // MARK: events

    public func publish(_ delta: BookDelta) {
        guard announce(delta.instrument) else { return }
        output.append { $0.append(delta) }
    }

    public func publish(_ trade: Trade) {
        guard announce(trade.instrument) else { return }
        output.append { $0.append(trade) }
    }

    public func publish(_ quote: BestBidOffer) {
        guard announce(quote.instrument) else { return }
        output.append { $0.append(quote) }
    }

    public func publish(_ status: BookStatus) {
        guard announce(status.instrument) else { return }
        states[status.instrument.index].status = status
        states[status.instrument.index].isBookValid = status.state == .valid
        output.append { $0.append(status) }
    }

    /// The book after a rebuild (venue snapshot, reconnect, checksum failure), as an inline
    /// snapshot: consumers replace their book with it. The book counts as valid from here.
    public func publishSnapshot(of instrument: InstrumentId, book: OrderBook) {
        guard announce(instrument) else { return }
        states[instrument.index].isBookValid = true
        output.appendSnapshot(of: instrument, book: book, incrementalSequence: nil)
    }

    /// The venue batch is over: send every packet it filled.
    public func flush() { output.flush() }

    /// Sends a heartbeat if the channel has been idle for the heartbeat interval.
    @discardableResult
    public func heartbeatIfIdle() -> Bool { output.heartbeatIfIdle() }

    /// Sends what is pending, then end of session (a few times). Nothing may be published after.
    public func endSession() { output.endSession() }

    // MARK: state

    public var counters: ChannelCounters { output.counters }
    /// The packets sent this session, for the retransmission service.
    public var history: PacketHistory { output.history }
    public var channel: UInt16 { output.channel }
    public var session: UInt64 { output.session }
    /// The number the next sequenced packet will carry.
    public var nextSequence: UInt64 { output.nextSequence }
    /// Events were published since the last `flush`.
    public var hasUnsentPackets: Bool { output.hasUnsentPackets }
    public var isEnded: Bool { output.isEnded }
    /// The send time stamped into the last packet handed to the sender.
    public var lastSendTime: UInt64 { output.lastSendTime }

    public func definition(of instrument: InstrumentId) -> WireInstrumentDefinition? {
        instrument.index < states.count ? states[instrument.index].definition : nil
    }

    /// Valid from a `valid` status or an inline snapshot until the next other status.
    public func isBookValid(_ instrument: InstrumentId) -> Bool {
        instrument.index < states.count && states[instrument.index].isBookValid
    }

    /// The last status published for the book (`invalid`/`snapshotPending` before any).
    public func lastStatus(of instrument: InstrumentId) -> BookStatus { states[instrument.index].status }

    /// Sends the definition first if this is the instrument's first message of the session;
    /// false (counted) when the instrument is not on this channel.
    func announce(_ instrument: InstrumentId) -> Bool {
        let index = instrument.index
        guard index < states.count, states[index].isDefined else {
            undefinedInstrumentEvents += 1
            return false
        }
        if _slowPath(!states[index].isDefinitionSent), let definition = states[index].definition {
            states[index].isDefinitionSent = true
            output.append { $0.append(definition) }
        }
        return true
    }
}
