import Testing
import TickwireClient
import TickwireCore

/// Seeded random delivery: two lines each losing and delaying packets, duplicates, a
/// retransmission service that answers, loses answers or refuses, and a snapshot loop. Whatever
/// happened, once the loss stops the client converges to the publisher's books.
@Suite struct FeedClientRandomLossTests {
    @Test(arguments: [1, 2, 3, 4, 5])
    func anyMixOfLossDelayDuplicatesAndRefusalsConvergesToThePublishersBooks(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var publisher = TestPublisher()
        var client = try makeClient(lines: 2)
        let btc = TestPublisher.btc.instrument, eth = TestPublisher.eth.instrument
        client.incremental(publisher.definitionPacket(TestPublisher.btc, TestPublisher.eth))
        for packet in publisher.snapshotPackets(TestPublisher.btc, inline: true) + publisher.snapshotPackets(TestPublisher.eth, inline: true) {
            client.incremental(packet)
        }
        var sent: [UInt64: [UInt8]] = [:]
        var lineB: [(due: Int, packet: [UInt8])] = []
        var answered = 0
        var time: UInt64 = 1_000_000

        func serveRequests() {
            while answered < client.requester.requests.count {
                let request = client.requester.requests[answered].request
                answered += 1
                if Int.random(in: 0..<5, using: &random) == 0 {
                    client.retransmission(publisher.rejectPacket(for: request, reason: .notAvailable), at: time)
                    continue
                }
                for sequence in request.firstSequence..<(request.firstSequence + UInt64(request.count)) {
                    if let packet = sent[sequence], Int.random(in: 0..<10, using: &random) != 0 { client.retransmission(packet, at: time) }
                }
            }
        }
        func snapshotLoop() {
            for packet in publisher.snapshotPackets(TestPublisher.btc, inline: false) + publisher.snapshotPackets(TestPublisher.eth, inline: false) {
                client.snapshot(packet, at: time)
            }
        }

        for step in 0..<1_500 {
            time += 1_000_000  // 1 ms a step: retransmission and line timeouts do come
            let instrument = Bool.random(using: &random) ? btc : eth
            // Prices within 50 of the mid: a side never outgrows the client's 64 levels.
            let levels = (0..<Int.random(in: 1...4, using: &random)).map { _ in
                (Bool.random(using: &random) ? Side.bid : Side.ask, Int64.random(in: 9_950...10_050, using: &random),
                 Int64.random(in: 0...3, using: &random))
            }.map { side, price, quantity in (side, side == .bid ? min(price, 9_999) : max(price, 10_001), quantity) }
            let packet = publisher.updatePacket(instrument, levels)
            sent[packet.sequence] = packet
            if Int.random(in: 0..<10, using: &random) != 0 { client.incremental(packet, line: .a, at: time) }
            if Int.random(in: 0..<10, using: &random) != 0 { lineB.append((step + Int.random(in: 0...3, using: &random), packet)) }
            if Int.random(in: 0..<50, using: &random) == 0 { client.incremental(packet, line: .a, at: time) }
            while let first = lineB.first, first.due <= step {
                client.incremental(first.packet, line: .b, at: time)
                lineB.removeFirst()
            }
            serveRequests()
            client.tick(now: time)
            if step % 100 == 99 { snapshotLoop() }
        }
        // The loss stops: the rest of line B, heartbeats, answers, snapshot loops.
        for (_, packet) in lineB { client.incremental(packet, line: .b, at: time) }
        for _ in 0..<10 {
            time += 300_000_000
            client.incremental(publisher.heartbeatPacket(), at: time)
            serveRequests()
            client.tick(now: time)
            serveRequests()
            snapshotLoop()
            snapshotLoop()
        }
        #expect(client.expectedSequence == publisher.next && !client.isRecovering, "\(client.counters)")
        #expect(client.isUsable(btc) && client.isUsable(eth), "\(client.counters)")
        for instrument in [btc, eth] {
            for side in Side.allCases {
                #expect(client.levels(instrument, side) == publisher.truthLevels(instrument, side), "\(instrument) \(side) \(client.counters)")
            }
        }
        let counters = client.counters
        #expect(counters.malformedPackets == 0)
        // Every path was taken: the other line, retransmission, refusals, snapshot recovery.
        #expect(counters.filledByOtherLine > 0 && counters.gaps > 0 && counters.recoveredByRetransmission > 0, "\(counters)")
        #expect(counters.retransmissionRejects > 0 && counters.packetsLost > 0 && counters.booksRecovered > 0, "\(counters)")
    }
}
