import Benchmark
import TickwireCore
import TickwireRuntime
import TickwireSystem
import TickwireTransport

// The publish path: normalized book deltas → packed, numbered packets in the history →
// the sender, flushed at the end of each 10-delta venue update as the feed loop does.
// The sender only counts (no syscall), so this times the publisher's own work per message;
// with A/B lines each packet goes to two senders.

func publisherBenchmarks() {
    var perMessage = hotPathConfiguration
    perMessage.scalingFactor = .kilo
    let deltas = sampleDeltas(count: perMessage.scalingFactor.rawValue)
    let instruments = (0..<64).map {
        InstrumentDefinition(id: InstrumentId(UInt16($0)), venue: .binanceSpot, symbol: "SYM\($0)USDT", priceScale: Scale(2), quantityScale: Scale(5))
    }

    for abLines in [false, true] {
        let destinations = [UdpEndpoint(address: IPv4Address(0xEF01_0101), port: 30001), UdpEndpoint(address: IPv4Address(0xEF01_0102), port: 30001)]
        var configuration = ChannelConfiguration(channel: 1, session: 1)
        configuration.historyCapacity = 4096
        nonisolated(unsafe) let publisher = try! ChannelPublisher(
            configuration: configuration,
            lines: destinations.prefix(abLines ? 2 : 1).map { PublishLine(sender: CountingSender(), destination: $0) },
            clock: WallClock(), instruments: instruments)
        // Definitions go out once per session: send them before measuring the steady state.
        for delta in deltas { publisher.publish(delta) }
        publisher.flush()

        Benchmark(abLines ? "PublishBookDeltaPerMessageABLines" : "PublishBookDeltaPerMessage", configuration: perMessage) { benchmark in
            deltas.withUnsafeBufferPointer { deltas in
                for index in benchmark.scaledIterations {
                    publisher.publish(deltas[index])
                    if deltas[index].isLastInUpdate { publisher.flush() }
                }
            }
            blackHole(publisher.nextSequence)
        }
    }
}

/// A sender that only counts what it is handed.
struct CountingSender: UdpSender {
    var packets = 0
    var bytes = 0

    mutating func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport {
        for packet in packets { bytes &+= packet.bytes.count }
        self.packets &+= packets.count
        return SendReport(packets: packets.count, bytes: bytes)
    }

    var modeDescription: String { "counting" }
}
