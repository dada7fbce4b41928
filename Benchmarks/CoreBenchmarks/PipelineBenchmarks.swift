import Benchmark
import TickwireCore
import TickwireRuntime
import TickwireSystem
import TickwireTransport
import TickwireVenues

// The book → send path of each topology, per book delta, on one thread (the stages' own
// work; the cross-core hand-off is the ring benchmarks' subject): 10-delta venue updates over
// 64 books, each validated by the keeper and published.
//  - fused: the keeper's observer publishes straight to the sender;
//  - staged: the ingest sink pushes events into the ring, the book stage pops them in
//    batches (with and without prefetching the next event's book), encodes packets into the
//    packet ring, and the send stage hands them to the sender.
// The sender only counts (no syscall).

func pipelineBenchmarks() {
    var perDelta = hotPathConfiguration
    perDelta.scalingFactor = .kilo
    let deltas = nonCrossingUpdates(count: perDelta.scalingFactor.rawValue, books: 64)
    let destination = UdpEndpoint(address: IPv4Address(0xEF01_0101), port: 30001)

    do {
        let (books, instruments) = validBooks(64)
        let publisher = try! ChannelPublisher(configuration: channelConfiguration(), lines: [PublishLine(sender: CountingSender(), destination: destination)],
                                              clock: WallClock(), instruments: instruments.definitions)
        // With the metrics endpoint's receive → send histogram, as the daemon runs it.
        var layout = CounterLayout()
        let histogram = layout.registerHistogram("latency", help: "", labels: [])
        let block = CounterBlock(layout: layout)
        var observer = PublishingObserver(publisher: publisher, snapshots: nil, retransmission: nil, books: books, instrumentCapacity: 64)
        observer.measureLatency(PublishLatency(histograms: Array(repeating: histogram, count: 64), writer: block.writer, recorder: PublishLatencyRecorder()))
        nonisolated(unsafe) var keeper = BookKeeper(books: books, instruments: instruments, observer: observer)
        makeValid(&keeper, books: 64)
        Benchmark("FusedBookToSendPerDelta", configuration: perDelta) { benchmark in
            deltas.withUnsafeBufferPointer { deltas in
                for index in benchmark.scaledIterations {
                    let delta = deltas[index]
                    keeper.bookDelta(delta)
                    if delta.isLastInUpdate {
                        keeper.updateComplete(delta.instrument, venueUpdateId: delta.venueUpdateId, checksum: .none,
                                              eventTime: delta.eventTime, receiveTime: delta.receiveTime)
                        keeper.batchEnded()
                    }
                }
            }
            blackHole(publisher.nextSequence)
            blackHole(block)
        }
    }

    for prefetch in [true, false] {
        let (books, instruments) = validBooks(64)
        let ring = try! PacketRing(capacity: 8192, slotSize: WireProtocol.defaultMaxPacketSize)
        let publisher = try! ChannelPublisher(configuration: channelConfiguration(),
                                              lines: [PublishLine(sender: ring.sender(describing: "counting"), destination: destination)],
                                              clock: WallClock(), instruments: instruments.definitions)
        let link = try! IngestLink(eventCapacity: 65_536, instrumentCapacity: 64, policy: .standard)
        nonisolated(unsafe) var sink = EventRingSink(link: link, instrumentCapacity: 64)
        var keeper = BookKeeper(
            books: books, instruments: instruments,
            observer: PublishingObserver(publisher: publisher, snapshots: nil, retransmission: nil, books: books, instrumentCapacity: 64))
        makeValid(&keeper, books: 64)
        nonisolated(unsafe) var stage = BookStage(keeper: keeper, links: [(link, instruments.definitions.map(\.id))], instrumentCapacity: 64,
                                                  tuning: BookStageTuning(prefetch: prefetch))
        nonisolated(unsafe) var send = SendStage(ring: ring, sender: CountingSender())
        while stage.poll() > 0 {}
        while send.poll() > 0 {}
        Benchmark(prefetch ? "StagedBookToSendPerDelta" : "StagedBookToSendPerDeltaNoPrefetch", configuration: perDelta) { benchmark in
            deltas.withUnsafeBufferPointer { deltas in
                for index in benchmark.scaledIterations {
                    let delta = deltas[index]
                    sink.bookDelta(delta)
                    if delta.isLastInUpdate {
                        sink.updateComplete(delta.instrument, venueUpdateId: delta.venueUpdateId, checksum: .none,
                                            eventTime: delta.eventTime, receiveTime: delta.receiveTime)
                        sink.batchEnded()
                        while stage.poll() > 0 {}
                        while send.poll() > 0 {}
                    }
                }
            }
            blackHole(send.counters.packets)
        }
    }
}

private func channelConfiguration() -> ChannelConfiguration {
    var configuration = ChannelConfiguration(channel: 1, session: 1)
    configuration.historyCapacity = 4096
    return configuration
}

/// `count` books with 100 levels a side.
private func validBooks(_ count: Int) -> (BookTable, InstrumentTable) {
    var instruments = InstrumentTable(capacity: count)
    let books = try! BookTable(capacity: count, levelBudget: BookTable.levelBudget(books: count, levelsPerSide: 100))
    for index in 0..<count {
        let id = try! instruments.add(venue: .bybitLinear, symbol: "SYM\(index)USDT", priceScale: Scale(2), quantityScale: Scale(3))
        try! books.activate(id, levelsPerSide: 100)
    }
    return (books, instruments)
}

/// A one-level snapshot on every book, so the keeper publishes what follows.
private func makeValid<Observer: BookObserver>(_ keeper: inout BookKeeper<Observer>, books: Int) {
    for index in 0..<books {
        let id = InstrumentId(UInt16(index))
        keeper.snapshotBegins(id, receiveTime: 1)
        for (side, price) in [(Side.bid, Int64(6_183_000)), (.ask, 6_184_000)] {
            keeper.bookDelta(BookDelta(instrument: id, side: side, price: Price(mantissa: price), quantity: Quantity(mantissa: 1_000),
                                       venueUpdateId: 1, eventTime: 1, receiveTime: 1, isLastInUpdate: side == .ask))
        }
        keeper.updateComplete(id, venueUpdateId: 1, checksum: .none, eventTime: 1, receiveTime: 1)
    }
    keeper.batchEnded()
}

/// Updates of 10 deltas each, book after book; bids below the asks, so no book crosses.
private func nonCrossingUpdates(count: Int, books: Int) -> [BookDelta] {
    (0..<count).map { index in
        let update = index / 10, step = Int64(index % 10)
        let side: Side = index % 2 == 0 ? .bid : .ask
        let price = side == .bid ? 6_183_000 - step * 10 : 6_184_000 + step * 10
        return BookDelta(instrument: InstrumentId(UInt16(update % books)), side: side, price: Price(mantissa: price),
                         quantity: Quantity(mantissa: Int64(1 + (index % 7)) * 125), venueUpdateId: 2 + UInt64(update),
                         eventTime: 1_723_161_255_342_000_000, receiveTime: 1_723_161_255_342_417_125 + UInt64(index),
                         isLastInUpdate: index % 10 == 9)
    }
}
