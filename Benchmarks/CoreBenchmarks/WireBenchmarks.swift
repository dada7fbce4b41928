import Benchmark
import TickwireCore

// Wire codec on the send and receive hot paths. Each iteration encodes or decodes 1000 book
// deltas (scalingFactor .kilo, so reported times are per message), packed 28 to a default
// 1400-byte packet as the publisher sends them: packet begin/finish and header checks are
// included, amortized. The FullPacket benchmarks time one 28-delta packet per iteration.

func wireBenchmarks() {
    var perMessage = hotPathConfiguration
    perMessage.scalingFactor = .kilo

    let deltas = sampleDeltas(count: perMessage.scalingFactor.rawValue)
    let fullPacketDeltas = Array(deltas.prefix(deltasPerFullPacket))
    let packetSize = WireProtocol.defaultMaxPacketSize
    let sendBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: packetSize, alignment: 64)
    let encoded = encodePackets(deltas)
    let fullPacket = encodePackets(fullPacketDeltas)

    Benchmark("WireEncodeBookDeltaPerMessage", configuration: perMessage) { benchmark in
        deltas.withUnsafeBufferPointer { deltas in
            var writer = PacketWriter(buffer: sendBuffer)
            var sequence: UInt64 = 1
            writer.begin(channel: 1, sequence: sequence, sendTime: 0, session: 1)
            for index in benchmark.scaledIterations {
                if !writer.append(deltas[index]) {
                    blackHole(writer.finish(sendTime: UInt64(index)))
                    sequence += 1
                    writer.begin(channel: 1, sequence: sequence, sendTime: 0, session: 1)
                    _ = writer.append(deltas[index])
                }
            }
            blackHole(writer.finish(sendTime: 0))
        }
    }

    Benchmark("WireDecodeBookDeltaPerMessage", configuration: perMessage) { _ in
        for packet in encoded { blackHole(decodeAll(packet)) }
    }

    Benchmark("WireEncodeFullPacketOf28BookDeltas", configuration: hotPathConfiguration) { _ in
        fullPacketDeltas.withUnsafeBufferPointer { deltas in
            var writer = PacketWriter(buffer: sendBuffer)
            writer.begin(channel: 1, sequence: 1, sendTime: 0, session: 1)
            for delta in deltas { _ = writer.append(delta) }
            blackHole(writer.finish(sendTime: 0))
        }
    }

    Benchmark("WireDecodeFullPacketOf28BookDeltas", configuration: hotPathConfiguration) { _ in
        blackHole(decodeAll(fullPacket[0]))
    }
}

private let deltasPerFullPacket = (WireProtocol.defaultMaxPacketSize - WireProtocol.packetHeaderSize) / WireMessageType.bookDelta.minimumLength

/// Deltas around one price, as a busy venue update would send them.
func sampleDeltas(count: Int) -> [BookDelta] {
    (0..<count).map { (index: Int) -> BookDelta in
        let step = Int64(index)
        return BookDelta(
            instrument: InstrumentId(UInt16(index % 64)), side: index % 2 == 0 ? .bid : .ask,
            price: Price(mantissa: 6_183_763 + step % 50), quantity: Quantity(mantissa: (step % 7) * 125_000),
            venueUpdateId: 50_000_000_000 + UInt64(index / 10), eventTime: 1_723_161_255_342_000_000,
            receiveTime: 1_723_161_255_342_417_125 + UInt64(index), isLastInUpdate: index % 10 == 9)
    }
}

/// Encodes the deltas into as many default-size packets as they need, each in its own buffer.
private func encodePackets(_ deltas: [BookDelta]) -> [UnsafeRawBufferPointer] {
    var packets: [UnsafeRawBufferPointer] = []
    var remaining = deltas[...]
    while !remaining.isEmpty {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: WireProtocol.defaultMaxPacketSize, alignment: 64)
        var writer = PacketWriter(buffer: buffer)
        writer.begin(channel: 1, sequence: UInt64(packets.count + 1), sendTime: 0, session: 1)
        while let delta = remaining.first, writer.append(delta) { remaining.removeFirst() }
        packets.append(UnsafeRawBufferPointer(rebasing: buffer[..<writer.finish()]))
    }
    return packets
}

/// Reads every field of every delta, as a consumer applying them would.
@inline(__always)
private func decodeAll(_ packet: UnsafeRawBufferPointer) -> Int64 {
    var checksum: Int64 = 0
    do throws(WireDecodeError) {
        var reader = try PacketReader(packet: packet)
        while let message = try reader.next() {
            if case .bookDelta(let delta) = message {
                checksum &+= delta.price.mantissa &+ delta.quantity.mantissa &+ Int64(delta.instrument.rawValue)
                checksum &+= Int64(bitPattern: delta.venueUpdateId &+ delta.eventTime &+ delta.receiveTime)
                checksum &+= delta.isLastInUpdate ? 1 : Int64(delta.side.rawValue)
            }
        }
    } catch {
        fatalError("benchmark packet failed to decode: \(error)")
    }
    return checksum
}
