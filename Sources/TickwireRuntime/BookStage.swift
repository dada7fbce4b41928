import TickwireCore
import TickwireTransport
import TickwireVenues

/// How the book stage takes its events (the seed's batching and prefetching, each switchable
/// so `scripts/bench-e2e.sh` can measure it).
public struct BookStageTuning: Sendable, Equatable {
    /// Events taken from a link's ring per pop (1 = no batching).
    public var batchSize = 256
    /// Prefetch the next event's book while the current one is applied.
    public var prefetch = true
    public init(batchSize: Int = 256, prefetch: Bool = true) {
        self.batchSize = batchSize
        self.prefetch = prefetch
    }
}

/// The book stage of the staged topology: drains every venue connection's event ring in
/// batches into the one book keeper of the channel, whose publishing observer encodes the
/// packets; books the keeper finds wrong go back to their connection's ingest thread for a
/// resync. Idle turns send heartbeats and serve the snapshot loop and retransmissions.
public struct BookStage<Sender: UdpSender, Clock: PublisherClock> {
    public private(set) var keeper: BookKeeper<PublishingObserver<Sender, Clock>>
    public let tuning: BookStageTuning
    private let events: [SpscRing<IngestEvent>.Consumer]
    private let resyncs: [SpscRing<InstrumentId>.Producer]
    /// Which link each instrument's events come from.
    private let linkOfInstrument: [Int]
    /// Resyncs whose ring back was full, retried every poll.
    private var unsentResyncs: [InstrumentId] = []
    // Keep the rings' memory alive as long as the stage.
    private let links: [IngestLink]

    /// - Parameter links: one per venue connection, with the instruments it feeds.
    public init(keeper: BookKeeper<PublishingObserver<Sender, Clock>>, links: [(link: IngestLink, instruments: [InstrumentId])],
                instrumentCapacity: Int, tuning: BookStageTuning = BookStageTuning()) {
        self.keeper = keeper
        self.tuning = tuning
        self.links = links.map(\.link)
        events = links.map(\.link.events.consumer)
        resyncs = links.map(\.link.resyncs.producer)
        var owner = Array(repeating: 0, count: instrumentCapacity)
        for (index, link) in links.enumerated() {
            for instrument in link.instruments { owner[instrument.index] = index }
        }
        linkOfInstrument = owner
        unsentResyncs.reserveCapacity(instrumentCapacity)
    }

    /// One pass over every link; returns the events applied. When none came, the observer's
    /// idle work runs (heartbeats, snapshot loop, retransmission).
    @inline(__always)
    public mutating func poll() -> Int {
        var applied = 0
        for index in events.indices {
            let ring = events[index]
            applied &+= ring.consume(upTo: tuning.batchSize) { run in self.apply(run) }
        }
        if _slowPath(keeper.hasPendingResyncs || !unsentResyncs.isEmpty) { sendResyncsBack() }
        if applied == 0 { keeper.observer.idle() }
        return applied
    }

    /// Whether any link still has events waiting.
    public var hasEvents: Bool { events.contains { $0.hasElements } }

    @inline(__always)
    private mutating func apply(_ run: UnsafeBufferPointer<IngestEvent>) {
        let prefetch = tuning.prefetch
        for position in run.indices {
            if prefetch, position &+ 1 < run.count, let next = run[position &+ 1].instrument {
                keeper.books.prefetch(next)
            }
            switch run[position] {
            case .delta(let delta):
                keeper.bookDelta(delta)
            case .updateComplete(let instrument, let updateId, let checksum, let eventTime, let receiveTime):
                keeper.updateComplete(instrument, venueUpdateId: updateId, checksum: checksum, eventTime: eventTime, receiveTime: receiveTime)
            case .snapshotBegins(let instrument, let receiveTime):
                keeper.snapshotBegins(instrument, receiveTime: receiveTime)
            case .trade(let trade):
                keeper.trade(trade)
            case .quote(let quote):
                keeper.bestBidOffer(quote)
            case .bookInvalid(let instrument, let reason, let receiveTime):
                keeper.bookInvalid(instrument, reason: reason, receiveTime: receiveTime)
            case .batchEnded(let readTime):
                keeper.batchEnded(readTime: readTime)
            }
        }
    }

    private mutating func sendResyncsBack() {
        while let instrument = keeper.popPendingResync() { unsentResyncs.append(instrument) }
        var kept = 0
        for position in unsentResyncs.indices {
            let instrument = unsentResyncs[position]
            if !resyncs[linkOfInstrument[instrument.index]].tryPush(instrument) {
                unsentResyncs[kept] = instrument
                kept &+= 1
            }
        }
        unsentResyncs.removeLast(unsentResyncs.count - kept)
    }

    /// Flushes, then end of session on the channel and its snapshot loop.
    public func endSession() { keeper.observer.endSession() }
}

extension IngestEvent {
    /// The book the event touches (nil for the end-of-read marker).
    @inline(__always)
    var instrument: InstrumentId? {
        switch self {
        case .delta(let delta): delta.instrument
        case .updateComplete(let instrument, _, _, _, _), .snapshotBegins(let instrument, _), .bookInvalid(let instrument, _, _): instrument
        case .trade(let trade): trade.instrument
        case .quote(let quote): quote.instrument
        case .batchEnded: nil
        }
    }
}
