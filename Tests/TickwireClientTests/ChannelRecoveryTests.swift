import CTickwire
import Testing
import TickwireClient
import TickwireCore
import TickwireRuntime
import TickwireSystem
import TickwireTestSupport
import TickwireTransport

/// The publisher (ChannelPublisher, SnapshotCycler, RetransmissionService) in one network
/// namespace, the consumer (SocketUdpReceiver + FeedClient) in another, joined by veth with
/// 5 % random loss on the consumer's side: every gap is detected and recovered, and the
/// rebuilt books equal the publisher's.
@Suite(.serialized) struct ChannelRecoveryTests {
    enum Scenario: String, CaseIterable, CustomTestStringConvertible {
        /// One line losing 5 %: gaps filled by retransmission.
        case retransmission
        /// One line losing 5 %, no retransmission service: books rebuilt from the snapshot channel.
        case snapshotChannel
        /// Lines A and B, A losing 5 %: B fills every hole, no gap at all.
        case abLines
        var testDescription: String { rawValue }
    }

    static let session: UInt64 = 0x5EED_0000_0000_0001
    static let instruments = 4

    @Test(arguments: Scenario.allCases)
    func lossyChannelEndsWithBooksEqualToThePublishers(scenario: Scenario) throws {
        guard requireRoot("multicast and netem across veth namespaces") else { return }
        let pair = try VethNamespacePair()
        defer { pair.tearDown() }
        let subnet = pair.a.address.split(separator: ".")[2]
        let lineA = UdpEndpoint(address: IPv4Address("239.78.\(subnet).1")!, port: 31_001)
        let lineB = UdpEndpoint(address: IPv4Address("239.78.\(subnet).2")!, port: 31_002)
        let snapshotGroup = UdpEndpoint(address: IPv4Address("239.78.\(subnet).3")!, port: 31_003)
        // Loss on line A only (A/B), or on every datagram the consumer receives.
        try lossOnConsumerSide(pair, onlyTo: scenario == .abLines ? lineA : nil)

        let publisher = try Publisher(pair: pair, lines: scenario == .abLines ? [lineA, lineB] : [lineA],
                                      snapshot: snapshotGroup, retransmission: scenario == .retransmission)
        var configuration = FeedClientConfiguration()
        configuration.maxInstruments = 8
        configuration.levelsPerSide = 256
        configuration.lines = scenario == .abLines ? 2 : 1
        configuration.usesSnapshotChannel = true
        configuration.retransmissionTimeout = 100_000_000
        // B never loses here, so a hole is always settled by B passing it; the wait only
        // matters if the publisher thread is descheduled between its A and B sends (shared vCPUs).
        configuration.lineArbitrationTimeout = 1_000_000_000
        let receivers = try pair.run(in: pair.b) {
            (try join(lineA, pair), scenario == .abLines ? try join(lineB, pair) : nil, try join(snapshotGroup, pair),
             try UnicastUdpSocket(bindingTo: UdpEndpoint(address: IPv4Address(0), port: 0)))
        }
        var client = try FeedClient(
            configuration: configuration, handler: NoFeedHandler(),
            requester: TestSocketRequester(socket: receivers.3, service: publisher.retransmissionEndpoint))

        let answerBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 64)
        defer { answerBuffer.deallocate() }
        func consume() {
            _ = receivers.0.poll(limit: 256) { client.receiveIncremental($0.payload, line: .a, receiveTime: $0.receiveTime.nanoseconds) }
            _ = receivers.1?.poll(limit: 256) { client.receiveIncremental($0.payload, line: .b, receiveTime: $0.receiveTime.nanoseconds) }
            _ = receivers.2.poll(limit: 256) { client.receiveSnapshot($0.payload, receiveTime: $0.receiveTime.nanoseconds) }
            while let answer = try? receivers.3.receive(into: answerBuffer) {
                client.receiveRetransmission(UnsafeRawBufferPointer(rebasing: answerBuffer[..<answer.length]), receiveTime: ctw_realtime_ns())
            }
            client.tick(now: ctw_realtime_ns())
        }

        var random = SeededGenerator(seed: 42)
        // Venue batches of eight updates: a line's later packets overtake the other line's copy
        // of one it lost. (The consumer joined after the publisher's first packets: a late join.)
        for _ in 0..<400 {
            for _ in 0..<8 { publisher.publishRandomUpdate(using: &random) }
            publisher.poll()
            consume()
        }
        // Publishing stops: wait until the consumer caught up and every book is usable again.
        let giveUp = ctw_monotonic_ns() + 20_000_000_000
        func caughtUp() -> Bool {
            client.expectedSequence == publisher.channel.nextSequence && !client.isRecovering
                && (0..<Self.instruments).allSatisfy { client.isUsable(InstrumentId(UInt16($0))) }
        }
        while !caughtUp() && ctw_monotonic_ns() < giveUp {
            publisher.poll()
            consume()
            usleep(200)
        }
        #expect(caughtUp(), "\(client.counters)")
        for index in 0..<Self.instruments {
            let instrument = InstrumentId(UInt16(index))
            for side in Side.allCases {
                #expect(levels(client.books, instrument, side) == levels(publisher.books, instrument, side), "instrument \(index) \(side)")
            }
        }
        publisher.channel.endSession()
        while !client.hasEnded && ctw_monotonic_ns() < giveUp {
            consume()
            usleep(200)
        }
        #expect(client.hasEnded)

        let counters = client.counters
        switch scenario {
        case .retransmission:
            #expect(counters.gaps > 0 && counters.retransmissionRequests > 0 && counters.recoveredByRetransmission > 0, "\(counters)")
        case .snapshotChannel:
            #expect(counters.gaps > 0 && counters.packetsLost > 0 && counters.booksRecovered > 0, "\(counters)")
            #expect(counters.recoveredByRetransmission == 0, "\(counters)")
        case .abLines:
            #expect(counters.gaps == 0 && counters.filledByOtherLine > 0 && counters.duplicates > 0, "\(counters)")
        }
        #expect(counters.malformedPackets == 0)
    }

    private func join(_ group: UdpEndpoint, _ pair: VethNamespacePair) throws -> SocketUdpReceiver {
        try SocketUdpReceiver(configuration: SocketReceiverConfiguration(endpoint: group, interface: pair.b.interface))
    }

    /// 5 % random loss of what reaches the consumer's namespace: everything, or only one
    /// group. nftables' `numgen random` in prerouting (the kernel here has no netem qdisc);
    /// the namespace's rules go with it.
    private func lossOnConsumerSide(_ pair: VethNamespacePair, onlyTo group: UdpEndpoint?) throws {
        _ = try pair.execute(in: pair.b, ["nft", "add", "table", "ip", "loss"])
        _ = try pair.execute(in: pair.b, ["nft", "add", "chain", "ip", "loss", "in",
                                          "{ type filter hook prerouting priority -300 ; }"])
        let match = group.map { ["ip", "daddr", "\($0.address)"] } ?? ["udp", "dport", "1-65535"]
        _ = try pair.execute(in: pair.b, ["nft", "add", "rule", "ip", "loss", "in"] + match + ["numgen", "random", "mod", "100", "<", "5", "drop"])
    }

    private func levels(_ books: BookTable, _ instrument: InstrumentId, _ side: Side) -> [BookLevel] {
        books.withBook(instrument) { book in
            var levels: [BookLevel] = []
            book.forEachLevel(side) { levels.append($0) }
            return levels
        }
    }
}

/// The publisher's side, all created in the publisher's namespace.
final class Publisher {
    let channel: ChannelPublisher<StandardUdpSender, WallClock>
    let cycler: SnapshotCycler<StandardUdpSender, WallClock>
    let service: RetransmissionService<WallClock>?
    let books: BookTable
    let retransmissionEndpoint: UdpEndpoint
    private var updateId: UInt64 = 1_000

    init(pair: VethNamespacePair, lines: [UdpEndpoint], snapshot: UdpEndpoint, retransmission: Bool) throws {
        let count = ChannelRecoveryTests.instruments
        books = try BookTable(capacity: 8, levelBudget: BookTable.levelBudget(books: 8, levelsPerSide: 256),
                              policy: HotMemoryPolicy(attempts: [.normal]))
        let definitions = (0..<count).map {
            InstrumentDefinition(id: InstrumentId(UInt16($0)), venue: .bybitLinear, symbol: "SYM\($0)USDT", priceScale: Scale(1), quantityScale: Scale(3))
        }
        for definition in definitions { try books.activate(definition.id, levelsPerSide: 256) }
        let address = IPv4Address(pair.a.address)!
        (channel, cycler, service) = try pair.run(in: pair.a) {
            func sender() throws -> StandardUdpSender {
                try StandardUdpSender(configuration: SenderConfiguration(kind: .standard, interface: pair.a.interface))
            }
            var configuration = ChannelConfiguration(channel: 1, session: ChannelRecoveryTests.session)
            configuration.historyMemory = HotMemoryPolicy(attempts: [.normal])
            let channel = try ChannelPublisher(
                configuration: configuration, lines: try lines.map { PublishLine(sender: try sender(), destination: $0) },
                clock: WallClock(), instruments: definitions, instrumentCapacity: 8)
            var snapshotConfiguration = ChannelConfiguration(channel: 2, session: ChannelRecoveryTests.session)
            snapshotConfiguration.historyMemory = HotMemoryPolicy(attempts: [.normal])
            let cycler = try SnapshotCycler(configuration: snapshotConfiguration, packetsPerSecond: 5_000,
                                            lines: [PublishLine(sender: try sender(), destination: snapshot)], clock: WallClock())
            let service = retransmission
                ? try RetransmissionService(configuration: RetransmissionConfiguration(endpoint: UdpEndpoint(address: address, port: 0)), clock: WallClock())
                : nil
            return (channel, cycler, service)
        }
        service?.serve(channel)
        // Nobody listens there when the service is off: requests go unanswered and time out.
        retransmissionEndpoint = service?.endpoint ?? UdpEndpoint(address: address, port: 9)
        // Each book starts from a venue snapshot, sent inline.
        for index in 0..<count {
            let instrument = InstrumentId(UInt16(index))
            books.withBook(instrument) { book in
                for step in 1...10 {
                    book.set(.bid, price: Price(mantissa: 10_000 - Int64(step)), quantity: Quantity(mantissa: Int64(step * 100)))
                    book.set(.ask, price: Price(mantissa: 10_000 + Int64(step)), quantity: Quantity(mantissa: Int64(step * 100)))
                }
                channel.publishSnapshot(of: instrument, book: book)
            }
        }
        channel.flush()
    }

    /// One venue update of 1-5 deltas on a random instrument, applied to the book and published.
    func publishRandomUpdate(using random: inout SeededGenerator) {
        let instrument = InstrumentId(UInt16(Int.random(in: 0..<ChannelRecoveryTests.instruments, using: &random)))
        let deltas = Int.random(in: 1...5, using: &random)
        updateId += 1
        books.withBook(instrument) { book in
            for index in 0..<deltas {
                let side: Side = Bool.random(using: &random) ? .bid : .ask
                let distance = Int64.random(in: 1...30, using: &random)
                let price = Price(mantissa: side == .bid ? 10_000 - distance : 10_000 + distance)
                let quantity = Quantity(mantissa: Int64.random(in: 0...5, using: &random) * 100)
                book.set(side, price: price, quantity: quantity)
                channel.publish(BookDelta(instrument: instrument, side: side, price: price, quantity: quantity, venueUpdateId: updateId,
                                          eventTime: 0, receiveTime: ctw_realtime_ns(), isLastInUpdate: index == deltas - 1))
            }
        }
        channel.flush()
    }

    /// The publisher's loop between venue batches: heartbeats, the snapshot loop, requests.
    func poll() {
        channel.heartbeatIfIdle()
        cycler.poll(publisher: channel, books: books)
        service?.poll()
    }
}

/// Sends the client's requests from the socket the answers come back to.
struct TestSocketRequester: RetransmissionRequester {
    let socket: UnicastUdpSocket
    let service: UdpEndpoint
    mutating func sendRequest(_ packet: UnsafeRawBufferPointer) -> Bool { (try? socket.send(packet, to: service)) ?? false }
}

/// xorshift64*: the same updates every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
