import CTickwire
import Histogram
import TickwireCore
import TickwireTransport
import TickwireVenues

/// What the venue feed's books publish on one channel: the glue between the book keeper (the
/// judge of truth) and the channel publisher.
///
/// Deltas are held until the keeper has checked the message they belong to: an update that
/// fails (crossed book, checksum) never reaches the wire, only the book status saying so.
/// A book rebuilt from a venue snapshot goes out as an inline snapshot, not as thousands of
/// deltas. At the end of each read from the venue the packets go out, then the snapshot loop
/// and the retransmission service get their turn; `idle` sends heartbeats when nothing comes.
/// Several observers may share one publisher (one per venue connection of a channel in the
/// fused topology); the retransmission service must already serve the publisher's channel.
public struct PublishingObserver<Sender: UdpSender, Clock: PublisherClock>: BookObserver {
    public let publisher: ChannelPublisher<Sender, Clock>
    public let snapshots: SnapshotCycler<Sender, Clock>?
    public let retransmission: RetransmissionService<Clock>?
    public let books: BookTable
    /// Deltas of updates not yet judged, in arrival order.
    private var held: [BookDelta]
    private var heldCount = 0
    /// Instruments whose held deltas did not fit: their update goes out as an inline snapshot.
    private var overflowed: [Bool]
    private var rebuilding: [Bool]
    /// Updates published as inline snapshots because their deltas did not fit `held`.
    public private(set) var oversizeUpdates = 0
    /// One read from the venue can carry thousands of messages: the retransmission service is
    /// also served every `updatesPerServicePoll` updates, so answers do not wait for the batch,
    /// and after every update while requests are waiting (a poll answered as many as it may).
    private var updatesSinceServicePoll = 0
    static var updatesPerServicePoll: Int { 64 }
    /// Where each published update's venue receive → packet handed to the sender latency is
    /// counted (the metrics endpoint's histogram per instrument's venue; empty: not measured).
    /// Stored apart, not as an optional struct, so the flush reads them in place (no copy, no retain).
    private var latencyHistograms: [LatencyHistogramSlots] = []
    private var latencyWriter: CounterWriter?
    private var latencyRecorder: PublishLatencyRecorder?
    /// Receive times and instruments of the updates published since the last flush.
    private var unsentReceiveTimes: [UInt64]
    private var unsentInstruments: [InstrumentId]
    private var unsentCount = 0

    /// - Parameter maxDeltasPerUpdate: deltas one venue update may hold back before it is
    ///   sent as a whole snapshot instead.
    public init(
        publisher: ChannelPublisher<Sender, Clock>, snapshots: SnapshotCycler<Sender, Clock>?,
        retransmission: RetransmissionService<Clock>?, books: BookTable, instrumentCapacity: Int, maxDeltasPerUpdate: Int = 65_536
    ) {
        self.publisher = publisher
        self.snapshots = snapshots
        self.retransmission = retransmission
        self.books = books
        held = Array(repeating: BookDelta(instrument: InstrumentId(0), side: .bid, price: .zero, quantity: .zero,
                                          venueUpdateId: 0, eventTime: 0, receiveTime: 0, isLastInUpdate: false),
                     count: maxDeltasPerUpdate)
        overflowed = Array(repeating: false, count: instrumentCapacity)
        rebuilding = Array(repeating: false, count: instrumentCapacity)
        unsentReceiveTimes = Array(repeating: 0, count: 4096)
        unsentInstruments = Array(repeating: InstrumentId(0), count: 4096)
    }

    public mutating func snapshotBegan(_ instrument: InstrumentId) {
        drop(instrument)
        rebuilding[instrument.index] = true
    }

    public mutating func deltaApplied(_ delta: BookDelta) {
        let index = delta.instrument.index
        guard !rebuilding[index], !overflowed[index] else { return }
        guard _fastPath(heldCount < held.count) else {
            overflowed[index] = true
            drop(delta.instrument)
            return
        }
        held[heldCount] = delta
        heldCount &+= 1
    }

    public mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        updatesSinceServicePoll &+= 1
        if _slowPath(updatesSinceServicePoll >= Self.updatesPerServicePoll), let retransmission {
            let backlog = retransmission.poll() >= retransmission.requestsPerPoll
            updatesSinceServicePoll = backlog ? Self.updatesPerServicePoll : 0
        }
        let index = instrument.index
        if latencyWriter != nil, unsentCount < unsentReceiveTimes.count {
            unsentReceiveTimes[unsentCount] = receiveTime
            unsentInstruments[unsentCount] = instrument
            unsentCount &+= 1
        }
        if _slowPath(rebuilding[index] || overflowed[index]) {
            if overflowed[index] { oversizeUpdates += 1 }
            rebuilding[index] = false
            overflowed[index] = false
            drop(instrument)
            publisher.publishSnapshot(of: instrument, book: book)
            return
        }
        // The update's deltas, its last one flagged; the others stay held.
        var last = -1
        for position in 0..<heldCount where held[position].instrument == instrument { last = position }
        var kept = 0
        for position in 0..<heldCount {
            var delta = held[position]
            if delta.instrument == instrument {
                delta.isLastInUpdate = position == last
                publisher.publish(delta)
            } else {
                held[kept] = delta
                kept &+= 1
            }
        }
        heldCount = kept
    }

    public mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        drop(instrument)
        rebuilding[instrument.index] = false
        overflowed[instrument.index] = false
        let updateId = books.withBook(instrument) { $0.updateId }
        publisher.publish(BookStatus(instrument: instrument, state: reason.isRecovering ? .resyncing : .invalid, reason: reason,
                                     venueUpdateId: updateId, changeTime: receiveTime))
    }

    public mutating func tradeReceived(_ trade: Trade) { publisher.publish(trade) }

    public mutating func quoteReceived(_ quote: BestBidOffer) { publisher.publish(quote) }

    public mutating func batchEnded(readTime: UInt64) {
        publisher.flush()
        if unsentCount > 0, let writer = latencyWriter, let recorder = latencyRecorder {
            let sent = publisher.lastSendTime
            for position in 0..<unsentCount where sent >= unsentReceiveTimes[position] {
                let nanoseconds = sent &- unsentReceiveTimes[position]
                latencyHistograms[unsentInstruments[position].index].record(nanoseconds: nanoseconds, to: writer)
                _ = recorder.fromReceiveStamp.record(nanoseconds)
            }
            if sent >= readTime { _ = recorder.fromRead.record(sent &- readTime, count: UInt64(unsentCount)) }
        }
        unsentCount = 0
        serveLoops()
    }

    /// Counts each published update's receive → send latency from now on.
    public mutating func measureLatency(_ latency: PublishLatency) {
        precondition(latency.histograms.count >= rebuilding.count, "a histogram per instrument")
        latencyHistograms = latency.histograms
        latencyWriter = latency.writer
        latencyRecorder = latency.recorder
    }

    /// Nothing came from the venue: heartbeat when due, and the loops' turn.
    public func idle() {
        publisher.heartbeatIfIdle()
        serveLoops()
    }

    /// Flushes, then end of session on the incremental and snapshot channels.
    public func endSession() {
        publisher.flush()
        publisher.endSession()
        snapshots?.endSession()
    }

    private func serveLoops() {
        snapshots?.poll(publisher: publisher, books: books)
        _ = retransmission?.poll()
    }

    /// Forgets `instrument`'s held deltas.
    private mutating func drop(_ instrument: InstrumentId) {
        var kept = 0
        for position in 0..<heldCount where held[position].instrument != instrument {
            held[kept] = held[position]
            kept &+= 1
        }
        heldCount = kept
    }
}

/// The histograms (one per instrument, usually its venue's) that `PublishingObserver` counts
/// receive → send latency into, the writer of the thread it runs on, and the exact record
/// behind the run's summary.
public struct PublishLatency {
    public let histograms: [LatencyHistogramSlots]
    public let writer: CounterWriter
    public let recorder: PublishLatencyRecorder

    public init(histograms: [LatencyHistogramSlots], writer: CounterWriter, recorder: PublishLatencyRecorder) {
        self.histograms = histograms
        self.writer = writer
        self.recorder = recorder
    }
}

/// Every published update's latency to the send time stamped in its packet, at 3 significant
/// digits (the metrics endpoint's buckets are powers of two: too coarse for microseconds),
/// measured two ways: from the kernel's receive stamp of the venue's bytes (the socket's
/// time included) and from when the read that returned them came back (the process's own
/// time: parse, book, encode). Written by one stage thread; read once it has stopped.
public final class PublishLatencyRecorder: @unchecked Sendable {
    public var fromReceiveStamp = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    public var fromRead = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    public init() {}
}

extension BookStatus.Reason {
    /// Reasons after which the venue feed is already recovering the book by itself (a
    /// resync or a reconnect follows at once), as opposed to waiting on something outside.
    var isRecovering: Bool {
        switch self {
        case .sequenceGap, .checksumMismatch, .crossedBook, .malformedMessage, .venueReset, .snapshotPending: true
        default: false
        }
    }
}
