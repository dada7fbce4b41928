import Benchmark
import Histogram
import TickwireClient
import TickwireCore

// The consumer's receive path: FeedClient validating and decoding incremental packets,
// sequencing them and rebuilding the books, with a handler told of every completed update.
// Each iteration feeds 1000 book deltas (scalingFactor .kilo: times are per message), 28 to a
// default 1400-byte packet over 64 instruments, ten deltas per venue update, as the publisher
// sends them; the packets' sequence numbers are renumbered in place to continue the stream.

func consumerBenchmarks() {
    var perMessage = hotPathConfiguration
    perMessage.scalingFactor = .kilo
    let instruments = 64
    let stream = ConsumerStream(instruments: instruments, deltas: perMessage.scalingFactor.rawValue)

    Benchmark("ConsumerDecodeAndRebuildBooksPerMessage", configuration: perMessage) { _ in
        stream.feed()
        blackHole(stream.client.handler.updates)
    }

    // `listen --format stats` records every packet's send→receive latency in an HdrHistogram
    // on the receive thread: with a fixed range it must not allocate either.
    var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    Benchmark("ListenLatencyHistogramRecordPerValue", configuration: perMessage) { benchmark in
        for index in benchmark.scaledIterations { _ = latencies.record(UInt64(5_000 + index * 37)) }
        blackHole(latencies.totalCount)
    }
}

/// Counts completed updates (what a caller would act on), touching the book's top.
struct CountingHandler: FeedHandler {
    var updates = 0
    var bestBids: Int64 = 0

    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        updates &+= 1
        bestBids &+= book.bestBid?.price.mantissa ?? 0
    }
}

/// A client that followed a session from its start (definitions, an empty inline snapshot per
/// instrument), and the delta packets to feed it next.
final class ConsumerStream {
    var client: FeedClient<CountingHandler, NoRetransmission>
    let packets: [UnsafeMutableRawBufferPointer]
    private var nextSequence: UInt64

    init(instruments: Int, deltas: Int) {
        var configuration = FeedClientConfiguration()
        configuration.maxInstruments = instruments
        configuration.levelsPerSide = 256
        client = try! FeedClient(configuration: configuration, handler: CountingHandler(), requester: NoRetransmission())
        var sequence: UInt64 = 1
        for id in 0..<instruments {
            let instrument = InstrumentId(UInt16(id))
            let setUp = Self.packet(sequence: sequence) { writer in
                _ = writer.append(WireInstrumentDefinition(
                    instrument: instrument, venueCode: Venue.binanceSpot.rawValue, priceScale: Scale(2), quantityScale: Scale(5),
                    symbol: WireSymbol("SYM\(id)")!))
                _ = writer.beginSnapshotChunk(instrument: instrument, chunkIndex: 0, incrementalSequence: sequence, venueUpdateId: 1)
                writer.finishSnapshotChunk(isLast: true)
            }
            client.receiveIncremental(UnsafeRawBufferPointer(setUp), line: .a, receiveTime: 1)
            setUp.deallocate()
            sequence += 1
        }
        var packets: [UnsafeMutableRawBufferPointer] = []
        var remaining = (0..<deltas).map { (index: Int) -> BookDelta in
            let step = Int64(index)
            return BookDelta(
                instrument: InstrumentId(UInt16(index / 10 % instruments)), side: index % 2 == 0 ? .bid : .ask,
                price: Price(mantissa: (index % 2 == 0 ? 6_183_700 : 6_183_800) + step % 50 * (index % 2 == 0 ? -1 : 1)),
                quantity: Quantity(mantissa: (step % 7) * 125_000),
                venueUpdateId: 50_000_000_000 + UInt64(index / 10), eventTime: 1_723_161_255_342_000_000,
                receiveTime: 1_723_161_255_342_417_125, isLastInUpdate: index % 10 == 9)
        }[...]
        while !remaining.isEmpty {
            packets.append(Self.packet(sequence: 0) { writer in
                while let delta = remaining.first, writer.append(delta) { remaining.removeFirst() }
            })
        }
        self.packets = packets
        nextSequence = sequence
        // One round before measuring, checked: every packet in sequence, every update reported.
        let (before, updatesBefore) = (client.counters, client.handler.updates)
        feed()
        precondition(client.counters.packets == before.packets + UInt64(packets.count) && client.counters.duplicates == 0
                     && client.handler.updates == updatesBefore + deltas / 10, "the consumer benchmark stream is not processed in sequence")
    }

    /// Feeds every packet once, renumbered to continue the stream.
    @inline(__always)
    func feed() {
        for packet in packets {
            renumber(packet)
            client.receiveIncremental(UnsafeRawBufferPointer(packet), line: .a, receiveTime: 1)
        }
    }

    /// Gives `packet` the next sequence number of the stream.
    @inline(__always)
    private func renumber(_ packet: UnsafeMutableRawBufferPointer) {
        packet.storeBytes(of: nextSequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        nextSequence &+= 1
    }

    private static func packet(sequence: UInt64, _ body: (inout PacketWriter) -> Void) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: WireProtocol.defaultMaxPacketSize, alignment: 64)
        var writer = PacketWriter(buffer: buffer)
        writer.begin(channel: 1, sequence: sequence, sendTime: 0, session: 1)
        body(&writer)
        return UnsafeMutableRawBufferPointer(rebasing: buffer[..<writer.finish()])
    }
}
