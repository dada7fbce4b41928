import Testing
import TickwireClient
import TickwireCore

/// A consumer behind its socket buffer finds the holes of a lossy channel long before the
/// answers to its requests can come: it must ask for each hole as it finds it, and ask again
/// when a later answer overtakes a lost one, so that every hole is filled while the reorder
/// window still holds the packets after it.
extension FeedClientTests {
    /// The listen loop working through a backlog: 48 packets read, then the answers to the
    /// requests sent while reading them (an answer to a request sent while answers are being
    /// processed comes with the next read). One packet in 16 is lost; the window holds 64.
    @Test func aConsumerBehindItsSocketAsksForEveryHoleAtOnceAndFillsThemAllWithinItsWindow() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        #expect(client.configuration.reorderPackets == 64)
        startedFeed(&publisher, &client)
        var sent: [UInt64: [UInt8]] = [:]
        var backlog: [[UInt8]] = []
        for index in 0..<400 {
            let packet = publisher.updatePacket(index % 2 == 0 ? btc : eth, [(.bid, 1_000 + Int64(index % 50), Int64(index % 7))])
            sent[packet.sequence] = packet
            if index % 16 != 5 { backlog.append(packet) }
        }
        var answered = 0
        for start in stride(from: 0, to: backlog.count, by: 48) {
            for packet in backlog[start..<min(start + 48, backlog.count)] { client.incremental(packet) }
            let due = client.requester.requests.count
            while answered < due {
                let request = client.requester.requests[answered].request
                answered += 1
                for sequence in request.firstSequence..<(request.firstSequence + UInt64(request.count)) {
                    client.retransmission(try #require(sent[sequence]))
                }
            }
        }
        #expect(client.counters.packetsLost == 0 && client.counters.reorderOverflows == 0, "\(client.counters)")
        #expect(client.counters.gaps == 25 && client.counters.retransmissionRequests == 25, "\(client.counters)")
        #expect(client.counters.recoveredByRetransmission == 25 && client.counters.duplicates == 0, "\(client.counters)")
        #expect(client.handler.invalidations.isEmpty)
        #expect(client.expectedSequence == publisher.next)
        expectBooksEqualTruth(client, publisher)
    }

    /// The service answers in request order: the answer to a later request arriving first means
    /// the earlier answer was lost, and waiting for the timeout would let the window fill up.
    @Test func anAnswerOvertakenByALaterOneIsAskedForAgainAtOnce() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        let lost = publisher.updatePacket(btc, [(.bid, 9_995, 2)])
        client.incremental(publisher.updatePacket(btc, [(.ask, 10_020, 1)]))
        let lostToo = publisher.updatePacket(eth, [(.bid, 1_999, 9)])
        client.incremental(publisher.updatePacket(eth, [(.ask, 2_004, 4)]))
        #expect(client.requester.requests.map(\.request.firstSequence) == [lost.sequence, lostToo.sequence])

        client.retransmission(lostToo)  // the answer to the first request was lost on the way
        #expect(client.requester.requests.map(\.request.firstSequence) == [lost.sequence, lostToo.sequence, lost.sequence])
        #expect(client.counters.retransmissionTimeouts == 0 && client.counters.packetsLost == 0)

        client.retransmission(lost)
        #expect(client.counters.packetsLost == 0 && client.handler.invalidations.isEmpty)
        #expect(client.expectedSequence == publisher.next)
        expectBooksEqualTruth(client, publisher)
    }
}
