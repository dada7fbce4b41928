import TickwireCore
import TickwireSystem
import TickwireTransport

/// The snapshot channel of one incremental channel (docs/PROTOCOL.md section 3): loops over
/// the incremental channel's instruments, sending for each its definition, then its book as
/// snapshot chunks tagged with the last incremental sequence the book includes, or its last
/// book status when the book is not valid. Paced to `packetsPerSecond`.
///
/// Call `poll` on the publisher's thread between venue batches: a snapshot is only taken
/// while the publisher has nothing unsent, so the books hold exactly the effect of packets
/// up to `nextSequence - 1`. One instrument's snapshot goes out whole within one poll, so
/// the book cannot change between its chunks.
public final class SnapshotCycler<Sender: UdpSender, Clock: PublisherClock> {
    let output: SequencedChannel<Sender, Clock>
    private let nanosecondsPerPacket: UInt64
    /// No snapshot before this time (the pacing).
    private var nextDue: UInt64 = 0
    private var cursor = 0
    /// Passes over every instrument completed.
    public private(set) var loopsCompleted = 0

    /// - Parameters:
    ///   - configuration: the snapshot channel's id (and the incremental channel's session).
    ///     Its history only needs to hold one send batch: snapshot channels have no retransmission.
    ///   - packetsPerSecond: the loop's average rate.
    public init(configuration: ChannelConfiguration, packetsPerSecond: Int, lines: [PublishLine<Sender>], clock: Clock) throws(SystemError) {
        precondition(packetsPerSecond > 0 && packetsPerSecond <= 1_000_000_000, "packetsPerSecond must be 1...1e9")
        output = try SequencedChannel(
            configuration: configuration, historyCapacity: configuration.packetsPerSend + 1, lines: lines, clock: clock)
        nanosecondsPerPacket = 1_000_000_000 / UInt64(packetsPerSecond)
    }

    /// Sends the next instrument of the loop when the pacing allows and the publisher's
    /// books are consistent with its sent packets; a heartbeat when there is nothing to
    /// loop over. True when it sent a snapshot.
    @discardableResult
    public func poll<IncrementalSender, IncrementalClock>(
        publisher: ChannelPublisher<IncrementalSender, IncrementalClock>, books: BookTable
    ) -> Bool {
        guard !publisher.instruments.isEmpty else {
            output.heartbeatIfIdle()
            return false
        }
        guard !publisher.hasUnsentPackets, !output.isEnded else { return false }
        let now = output.clock.now()
        guard now >= nextDue else {
            output.heartbeatIfIdle()
            return false
        }
        if cursor >= publisher.instruments.count { cursor = 0 }
        let instrument = publisher.instruments[cursor]
        let packetsBefore = output.counters.packets
        sendState(of: instrument, publisher: publisher, books: books)
        output.flush()
        nextDue = max(nextDue, now) &+ UInt64(output.counters.packets - packetsBefore) &* nanosecondsPerPacket
        cursor += 1
        if cursor == publisher.instruments.count {
            cursor = 0
            loopsCompleted += 1
        }
        return true
    }

    /// Sends end of session on the snapshot channel.
    public func endSession() { output.endSession() }

    public var counters: ChannelCounters { output.counters }
    public var channel: UInt16 { output.channel }

    private func sendState<IncrementalSender, IncrementalClock>(
        of instrument: InstrumentId, publisher: ChannelPublisher<IncrementalSender, IncrementalClock>, books: BookTable
    ) {
        guard let definition = publisher.definition(of: instrument) else { return }
        output.append { $0.append(definition) }
        if publisher.isBookValid(instrument) && books.isActive(instrument) {
            let included = publisher.nextSequence - 1
            books.withBook(instrument) { output.appendSnapshot(of: instrument, book: $0, incrementalSequence: included) }
        } else {
            let status = publisher.lastStatus(of: instrument)
            output.append { $0.append(status) }
        }
    }
}
