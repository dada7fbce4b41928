import Testing
import TickwireCore
import TickwireRuntime
import TickwireSystem
import TickwireTransport

// Shared by the publisher, snapshot and retransmission tests: a clock moved by hand, a
// sender that keeps what it was given, and packets decoded with the Core PacketReader.

final class ManualClock: PublisherClock {
    var time: UInt64
    init(_ time: UInt64 = 1_700_000_000_000_000_000) { self.time = time }
    func now() -> UInt64 { time }
    func advance(by nanoseconds: UInt64) { time += nanoseconds }
}

/// Every packet handed to any sender sharing this log, in send order, with its destination.
final class SendLog {
    var sends: [(destination: UdpEndpoint, bytes: [UInt8])] = []
    var calls = 0

    func packets(to destination: UdpEndpoint) -> [[UInt8]] { sends.filter { $0.destination == destination }.map(\.bytes) }
}

/// Keeps a copy of each packet; the wire side of these tests is the bytes, decoded by PacketReader.
struct RecordingSender: UdpSender {
    let log: SendLog

    mutating func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport {
        log.calls += 1
        var report = SendReport()
        for packet in packets {
            log.sends.append((destination, Array(packet.bytes)))
            report.packets += 1
            report.bytes += packet.bytes.count
        }
        return report
    }

    var modeDescription: String { "recording" }
}

/// A snapshot chunk with its levels copied out of the packet.
struct DecodedChunk: Equatable {
    var instrument: InstrumentId
    var chunkIndex: UInt16
    var isLastChunk: Bool
    var incrementalSequence: UInt64
    var venueUpdateId: UInt64
    var bids: [BookLevel]
    var asks: [BookLevel]
}

enum DecodedMessage: Equatable {
    case plain(WireMessage)
    case snapshot(DecodedChunk)
}

struct DecodedPacket {
    var header: PacketHeader
    var messages: [DecodedMessage]
}

/// Decodes a packet with the Core reader; a decode error fails the test.
func decode(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> DecodedPacket? {
    bytes.withUnsafeBytes { raw in
        do throws(WireDecodeError) {
            var reader = try PacketReader(packet: raw)
            var messages: [DecodedMessage] = []
            while let message = try reader.next() {
                if case .bookSnapshot(let chunk) = message {
                    messages.append(.snapshot(DecodedChunk(
                        instrument: chunk.instrument, chunkIndex: chunk.chunkIndex, isLastChunk: chunk.isLastChunk,
                        incrementalSequence: chunk.incrementalSequence, venueUpdateId: chunk.venueUpdateId,
                        bids: (0..<chunk.bidCount).map { BookLevel(price: chunk.bid(at: $0).price, quantity: chunk.bid(at: $0).quantity) },
                        asks: (0..<chunk.askCount).map { BookLevel(price: chunk.ask(at: $0).price, quantity: chunk.ask(at: $0).quantity) })))
                } else {
                    messages.append(.plain(message))
                }
            }
            return DecodedPacket(header: reader.header, messages: messages)
        } catch {
            Issue.record("packet does not decode: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}

/// Reads `count` datagrams from the socket, calling `between` before each wait (e.g. to let
/// a service answer). Each wait is a guard against hanging, never an assertion on time.
func receiveDatagrams(
    _ count: Int, on socket: UnicastUdpSocket, between: () -> Void = {}
) throws -> [(bytes: [UInt8], source: UdpEndpoint)] {
    var received: [(bytes: [UInt8], source: UdpEndpoint)] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    var waits = 0
    while received.count < count, waits < 2000 {
        waits += 1
        between()
        guard try socket.waitReadable(timeoutMilliseconds: 1) else { continue }
        while let datagram = try buffer.withUnsafeMutableBytes({ raw throws(SystemError) in try socket.receive(into: raw) }) {
            received.append((Array(buffer[..<datagram.length]), datagram.source))
        }
    }
    return received
}

enum PublisherFixture {
    static let loopback = IPv4Address(0x7F00_0001)

    static let lineA = UdpEndpoint(address: IPv4Address(0xEF01_0101), port: 30001)  // 239.1.1.1
    static let lineB = UdpEndpoint(address: IPv4Address(0xEF01_0102), port: 30001)  // 239.1.1.2
    static let snapshotLine = UdpEndpoint(address: IPv4Address(0xEF01_0201), port: 30002)
    static let session: UInt64 = 0x187A_5B2C_0000_0001

    static let btc = InstrumentDefinition(id: InstrumentId(0), venue: .binanceSpot, symbol: "BTCUSDT", priceScale: Scale(2), quantityScale: Scale(5))
    static let eth = InstrumentDefinition(id: InstrumentId(1), venue: .binanceSpot, symbol: "ETHUSDT", priceScale: Scale(2), quantityScale: Scale(4))

    static func configuration(channel: UInt16 = 1, maxPacketSize: Int = WireProtocol.defaultMaxPacketSize) -> ChannelConfiguration {
        var configuration = ChannelConfiguration(channel: channel, session: session)
        configuration.maxPacketSize = maxPacketSize
        configuration.historyMemory = HotMemoryPolicy(attempts: [.normal])
        return configuration
    }

    static func publisher(
        _ configuration: ChannelConfiguration = configuration(), log: SendLog, clock: ManualClock, abLines: Bool = false,
        instruments: [InstrumentDefinition] = [btc, eth]
    ) throws -> ChannelPublisher<RecordingSender, ManualClock> {
        var lines = [PublishLine(sender: RecordingSender(log: log), destination: lineA)]
        if abLines { lines.append(PublishLine(sender: RecordingSender(log: log), destination: lineB)) }
        return try ChannelPublisher(configuration: configuration, lines: lines, clock: clock, instruments: instruments, instrumentCapacity: 16)
    }

    static func delta(_ instrument: InstrumentId = btc.id, side: Side = .bid, price: Int64, quantity: Int64, update: UInt64, last: Bool = true) -> BookDelta {
        BookDelta(
            instrument: instrument, side: side, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity),
            venueUpdateId: update, eventTime: 1_723_161_255_342_000_000, receiveTime: 1_723_161_255_342_417_125, isLastInUpdate: last)
    }
}
