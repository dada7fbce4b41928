import Testing
import TickwireClient
import TickwireCore

/// The consumer algorithm of docs/PROTOCOL.md sections 2-3 and 8, on packets built by Core's
/// PacketWriter: sequencing, A/B arbitration, gaps, retransmission and snapshot recovery.
@Suite struct FeedClientTests {
    let btc = TestPublisher.btc.instrument
    let eth = TestPublisher.eth.instrument

    /// A session from sequence 1: definitions, an inline snapshot each, some updates.
    func startedFeed(_ publisher: inout TestPublisher, _ client: inout TestClient) {
        client.incremental(publisher.definitionPacket(TestPublisher.btc, TestPublisher.eth))
        _ = publisher.updatePacket(btc, [(.bid, 10_000, 5), (.bid, 9_990, 7), (.ask, 10_010, 3)])
        _ = publisher.updatePacket(eth, [(.bid, 2_000, 1), (.ask, 2_001, 2)])
        publisher.next -= 2  // those two only built the truth: the books start from inline snapshots
        for packet in publisher.snapshotPackets(TestPublisher.btc, inline: true) { client.incremental(packet) }
        for packet in publisher.snapshotPackets(TestPublisher.eth, inline: true) { client.incremental(packet) }
    }

    func expectBooksEqualTruth(_ client: TestClient, _ publisher: TestPublisher, sourceLocation: SourceLocation = #_sourceLocation) {
        for instrument in [btc, eth] {
            for side in Side.allCases {
                #expect(client.levels(instrument, side) == publisher.truthLevels(instrument, side), sourceLocation: sourceLocation)
            }
        }
    }

    @Test func packetsInSequenceRebuildEveryBookAndReportEachCompletedUpdate() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        #expect(client.isUsable(btc) && client.isUsable(eth))
        client.incremental(publisher.updatePacket(btc, [(.bid, 10_000, 0), (.bid, 10_005, 1), (.ask, 10_011, 4)]))
        client.incremental(publisher.updatePacket(eth, [(.ask, 2_001, 0)]))
        client.incremental(publisher.tradePacket(btc))
        expectBooksEqualTruth(client, publisher)
        // Two inline snapshots, then one line per venue update.
        #expect(client.handler.updates.map(\.0) == [btc, eth, btc, eth])
        #expect(client.handler.updates[2].1 == publisher.updateId - 1)
        #expect(client.handler.trades.count == 1)
        #expect(client.handler.definitions.map(\.symbol.string) == ["BTCUSDT", "ETHUSDT"])
        #expect(client.counters.gaps == 0 && client.counters.duplicates == 0)
        #expect(client.handler.accepted == Array(1..<publisher.next))
    }

    @Test func aDuplicatePacketIsDroppedAndChangesNothing() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        let update = publisher.updatePacket(btc, [(.bid, 9_990, 8)])
        client.incremental(update)
        client.incremental(update)
        client.incremental(update, line: .b)
        #expect(client.counters.duplicates == 2)
        #expect(client.handler.updates.count == 3)
        expectBooksEqualTruth(client, publisher)
    }

    @Test func aGapIsAskedForByRetransmissionAndFilledWithoutTouchingTheBooks() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        let lost = publisher.updatePacket(btc, [(.bid, 9_995, 2)])
        let lostToo = publisher.updatePacket(eth, [(.bid, 1_999, 9)])
        client.incremental(publisher.updatePacket(btc, [(.ask, 10_010, 0)]))
        #expect(client.counters.gaps == 1)
        #expect(client.requester.requests.count == 1)
        let request = try #require(client.requester.requests.first)
        #expect(request.request.firstSequence == lost.sequence && request.request.count == 2)
        #expect(request.header.flags.contains(.unsequenced) && request.header.channel == publisher.channel)
        #expect(request.header.session == publisher.session && request.header.sequence == 0)
        #expect(client.handler.invalidations.isEmpty)

        client.retransmission(lost)
        client.retransmission(lostToo)
        #expect(client.counters.recoveredByRetransmission == 1)
        #expect(client.counters.packetsLost == 0 && client.handler.invalidations.isEmpty)
        #expect(client.expectedSequence == publisher.next)
        expectBooksEqualTruth(client, publisher)
        #expect(client.handler.events.contains(.gapFilled(throughSequence: publisher.next - 1)))
    }

    @Test func aRejectedRequestRecoversTheBooksFromTheSnapshotChannel() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        _ = publisher.updatePacket(btc, [(.bid, 9_995, 2), (.ask, 10_010, 0)])  // lost
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_980, 1)]))
        client.incremental(publisher.updatePacket(eth, [(.ask, 2_003, 5)]))
        let request = try #require(client.requester.requests.first?.request)
        client.retransmission(publisher.rejectPacket(for: request, reason: .notAvailable))
        #expect(client.counters.retransmissionRejects == 1 && client.counters.packetsLost == 1)
        #expect(Set(client.handler.invalidations.map(\.0)) == [btc, eth])
        #expect(client.handler.invalidations.allSatisfy { $0.1 == .sequenceGap })
        #expect(!client.isUsable(btc) && client.isRecovering)

        // A snapshot tagged before the last processed packet: the kept packets after it are replayed.
        let snapshotAt = publisher.next - 2
        let updatesBefore = client.handler.updates.count
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_970, 3)]))
        #expect(client.handler.updates.count == updatesBefore)  // not usable: nothing reported
        publisher.truth[btc]![.bid]![9_970] = nil  // the snapshot below is as of `snapshotAt`…
        publisher.truth[eth]![.ask]![2_003] = nil
        var snapshots = publisher.snapshotPackets(TestPublisher.btc, inline: false, incrementalSequence: snapshotAt - 1)
        snapshots += publisher.snapshotPackets(TestPublisher.eth, inline: false, incrementalSequence: snapshotAt - 1)
        publisher.truth[btc]![.bid]![9_970] = 3  // …and the replay brings it up to date
        publisher.truth[eth]![.ask]![2_003] = 5
        for packet in snapshots { client.snapshot(packet) }
        #expect(client.counters.booksRecovered == 2)
        #expect(client.isUsable(btc) && client.isUsable(eth))
        expectBooksEqualTruth(client, publisher)
        // The loop comes round: recovery ends, and live updates flow again.
        client.snapshot(publisher.snapshotPackets(TestPublisher.btc, inline: false)[0])
        #expect(!client.isRecovering)
        client.incremental(publisher.updatePacket(btc, [(.ask, 10_020, 1)]))
        expectBooksEqualTruth(client, publisher)
        #expect(client.handler.updates.last?.0 == btc)
        // An instrument announced after the recovery has its whole history in the stream.
        let sol = WireInstrumentDefinition(instrument: InstrumentId(2), venueCode: Venue.okx.rawValue, priceScale: Scale(3),
                                           quantityScale: Scale(2), symbol: WireSymbol("SOL-USDT")!)
        client.incremental(publisher.definitionPacket(sol))
        client.incremental(publisher.statusPacket(sol.instrument, .valid))
        client.incremental(publisher.updatePacket(sol.instrument, [(.bid, 150_000, 7)]))
        #expect(client.isUsable(sol.instrument) && client.levels(sol.instrument, .bid) == publisher.truthLevels(sol.instrument, .bid))
    }

    @Test func aSnapshotOlderThanTheLostPacketsIsNotUsedAndTheNextLoopIs() throws {
        var publisher = TestPublisher()
        var client = try makeClient(retransmission: false)
        startedFeed(&publisher, &client)
        let beforeLoss = publisher.next - 1
        _ = publisher.updatePacket(btc, [(.bid, 9_995, 2)])  // lost
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_980, 1)]))
        #expect(client.requester.requests.isEmpty && client.counters.packetsLost == 1)
        var stale = publisher.snapshotPackets(TestPublisher.btc, inline: false, incrementalSequence: beforeLoss)
        client.snapshot(stale.removeFirst())
        #expect(client.counters.snapshotsTooOld == 1 && !client.isUsable(btc))
        client.snapshot(publisher.snapshotPackets(TestPublisher.btc, inline: false)[0])
        #expect(client.isUsable(btc))
        #expect(client.levels(btc, .bid) == publisher.truthLevels(btc, .bid))
    }

    @Test func aRetransmissionThatNeverComesIsAskedAgainThenGivenUpToSnapshotRecovery() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        _ = publisher.updatePacket(btc, [(.bid, 9_995, 2)])
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_980, 1)]), at: 1_000)
        #expect(client.counters.retransmissionRequests == 1)
        let timeout = client.configuration.retransmissionTimeout
        client.tick(now: 1_000 + timeout - 1)
        #expect(client.counters.retransmissionTimeouts == 0)
        // The first timeout asks again with a new request id; the second gives the hole up.
        client.tick(now: 1_000 + timeout)
        #expect(client.counters.retransmissionTimeouts == 1 && client.counters.packetsLost == 0)
        #expect(client.requester.requests.count == 2)
        #expect(client.requester.requests[1].request.requestId != client.requester.requests[0].request.requestId)
        #expect(client.requester.requests[1].request.firstSequence == client.requester.requests[0].request.firstSequence)
        client.tick(now: 1_000 + 2 * timeout)
        #expect(client.counters.retransmissionTimeouts == 2 && client.counters.packetsLost == 1)
        #expect(!client.isUsable(btc) && client.isRecovering)
    }

    @Test func withTwoLinesAPacketLostOnOneLineIsTakenFromTheOtherWithoutAGap() throws {
        var publisher = TestPublisher()
        var client = try makeClient(lines: 2)
        startedFeed(&publisher, &client)
        var packets: [[UInt8]] = []
        for step in 0..<40 {
            packets.append(publisher.updatePacket(step % 2 == 0 ? btc : eth, [(.bid, 9_000 + Int64(step), Int64(step + 1))]))
        }
        // Each line loses every 6th packet (never the same one); B runs two packets behind A.
        for index in 0..<(packets.count + 2) {
            if index < packets.count && index % 6 != 1 { client.incremental(packets[index], line: .a) }
            if index >= 2 && (index - 2) % 6 != 4 { client.incremental(packets[index - 2], line: .b) }
        }
        #expect(client.counters.gaps == 0 && client.requester.requests.isEmpty)
        #expect(client.counters.filledByOtherLine > 0)
        #expect(client.handler.invalidations.isEmpty)
        expectBooksEqualTruth(client, publisher)
    }

    @Test func withTwoLinesAPacketMissingOnBothIsAGap() throws {
        var publisher = TestPublisher()
        var client = try makeClient(lines: 2)
        startedFeed(&publisher, &client)
        _ = publisher.updatePacket(btc, [(.bid, 9_995, 2)])  // lost on both
        let after = publisher.updatePacket(btc, [(.bid, 9_980, 1)])
        client.incremental(after, line: .a)
        #expect(client.counters.gaps == 0)  // B may still bring it
        client.incremental(after, line: .b)
        #expect(client.counters.gaps == 1 && client.requester.requests.count == 1)
    }

    @Test func withTwoLinesADeadLineTimesOutIntoAGap() throws {
        var publisher = TestPublisher()
        var client = try makeClient(lines: 2)
        startedFeed(&publisher, &client)
        _ = publisher.updatePacket(btc, [(.bid, 9_995, 2)])
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_980, 1)]), line: .a, at: 5_000)
        client.tick(now: 5_000 + client.configuration.lineArbitrationTimeout)
        #expect(client.counters.gaps == 1 && client.requester.requests.count == 1)
    }

    @Test func withTwoLinesTheWaitForTheOtherLineStartsWhenTheHoleIsNoticedNotWhenItsPacketArrived() throws {
        var publisher = TestPublisher()
        var client = try makeClient(lines: 2)
        startedFeed(&publisher, &client)
        let missing = publisher.updatePacket(btc, [(.bid, 9_995, 2)])
        let after = publisher.updatePacket(btc, [(.bid, 9_980, 1)])
        // A backlog: the consumer reads at 100 ms a packet the kernel stamped at 1 ms.
        let now: UInt64 = 100_000_000
        client.tick(now: now)
        client.incremental(after, line: .a, at: 1_000_000)
        client.tick(now: now + 1)
        #expect(client.counters.gaps == 0)
        client.incremental(missing, line: .b, at: 1_000_000)
        #expect(client.counters.gaps == 0 && client.counters.filledByOtherLine == 1)
        expectBooksEqualTruth(client, publisher)
    }

    @Test func aNewSessionDiscardsBooksAndDefinitions() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        var restarted = TestPublisher()
        restarted.session = publisher.session + 1
        client.incremental(restarted.definitionPacket(TestPublisher.eth))
        #expect(client.counters.sessionChanges == 1 && client.session == restarted.session)
        #expect(Set(client.handler.invalidations.map(\.0)) == [btc, eth])
        #expect(client.definition(of: btc) == nil && client.definition(of: eth) == TestPublisher.eth)
        #expect(client.levels(eth, .bid).isEmpty && !client.isUsable(eth))
        #expect(client.requester.requests.isEmpty && client.counters.gaps == 0)
        // Stragglers of the replaced session (the slower line) do not switch back to it.
        client.incremental(publisher.updatePacket(btc, [(.bid, 1, 1)]), line: .b)
        #expect(client.counters.otherSessionPackets == 1 && client.counters.sessionChanges == 1)
        #expect(client.session == restarted.session)
    }

    @Test func aLateJoinerBuildsItsBooksFromTheSnapshotChannel() throws {
        var publisher = TestPublisher()
        var early = try makeClient()
        startedFeed(&publisher, &early)
        for step in 0..<5 { early.incremental(publisher.updatePacket(btc, [(.ask, 10_100 + Int64(step), 1)])) }
        var client = try makeClient()
        // Joins here: the snapshot channel lags the stream by two packets.
        let snapshotSequence = publisher.next - 1
        let btcSnapshot = publisher.snapshotPackets(TestPublisher.btc, inline: false, incrementalSequence: snapshotSequence)
        let ethSnapshot = publisher.snapshotPackets(TestPublisher.eth, inline: false, incrementalSequence: snapshotSequence)
        client.incremental(publisher.updatePacket(btc, [(.ask, 10_100, 0)]))
        client.incremental(publisher.updatePacket(eth, [(.bid, 2_000, 4)]))
        #expect(client.handler.events.first == .sessionStarted(session: publisher.session, sequence: snapshotSequence + 1))
        #expect(client.handler.updates.isEmpty && client.isRecovering)
        for packet in btcSnapshot + ethSnapshot { client.snapshot(packet) }
        #expect(client.isUsable(btc) && client.isUsable(eth))
        expectBooksEqualTruth(client, publisher)
        #expect(client.counters.gaps == 0 && client.requester.requests.isEmpty)
    }

    /// The snapshot channel loses the packet that alone defines ETH: the loop that comes round
    /// without it is not whole, and recovery goes on until a whole loop came.
    @Test func aSnapshotLoopMissingAPacketDoesNotEndRecoveryWithoutTheBookItDefined() throws {
        var publisher = TestPublisher()
        var early = try makeClient()
        startedFeed(&publisher, &early)
        var client = try makeClient()
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_990, 1)]))  // joins here
        let tagged = publisher.next - 1
        func loop(_ definition: WireInstrumentDefinition) -> [[UInt8]] {
            publisher.snapshotPackets(definition, inline: false, incrementalSequence: tagged)
        }
        for packet in loop(TestPublisher.btc) { client.snapshot(packet) }
        _ = loop(TestPublisher.eth)  // lost
        for packet in loop(TestPublisher.btc) { client.snapshot(packet) }
        #expect(client.isUsable(btc) && client.isRecovering && client.definition(of: eth) == nil)
        for packet in loop(TestPublisher.eth) + loop(TestPublisher.btc) { client.snapshot(packet) }
        #expect(client.isUsable(btc) && client.isUsable(eth) && !client.isRecovering)
        expectBooksEqualTruth(client, publisher)
    }

    @Test func aSnapshotAheadOfTheStreamSkipsTheDeltasItAlreadyHolds() throws {
        var publisher = TestPublisher()
        var early = try makeClient()
        startedFeed(&publisher, &early)
        var client = try makeClient()
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_990, 1)]))  // joins here
        let pending = [publisher.updatePacket(btc, [(.bid, 9_991, 2)]), publisher.updatePacket(btc, [(.ask, 10_010, 0)])]
        // The snapshot channel is ahead: its snapshot includes both pending packets.
        for packet in publisher.snapshotPackets(TestPublisher.btc, inline: false) { client.snapshot(packet) }
        #expect(client.isUsable(btc) && client.handler.updates.count == 1)
        for packet in pending { client.incremental(packet) }
        #expect(client.handler.updates.count == 1)  // already in the book: not reported again
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_992, 3)]))
        #expect(client.handler.updates.count == 2)
        #expect(client.levels(btc, .bid) == publisher.truthLevels(btc, .bid))
        #expect(client.levels(btc, .ask) == publisher.truthLevels(btc, .ask))
    }

    @Test func anInlineSnapshotReplacesTheBookWhatEverItHeld() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        publisher.maxPacketSize = 32 + 32 + 16 * 3  // three levels per chunk: several chunks
        publisher.truth[btc] = [.bid: [500: 1, 499: 2, 498: 3, 497: 4], .ask: [501: 5, 502: 6, 503: 7]]
        let packets = publisher.snapshotPackets(TestPublisher.btc, inline: true)
        #expect(packets.count == 3)
        for packet in packets { client.incremental(packet) }
        expectBooksEqualTruth(client, publisher)
        #expect(client.counters.inlineSnapshots == 3)
    }

    @Test func aBookStatusTurnsTheBookUnusableAndValidAgain() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        client.incremental(publisher.statusPacket(btc, .resyncing, .checksumMismatch))
        #expect(!client.isUsable(btc) && client.handler.invalidations.last! == (btc, .checksumMismatch))
        let before = client.handler.updates.count
        client.incremental(publisher.updatePacket(btc, [(.bid, 9_990, 0)]))
        #expect(client.handler.updates.count == before)
        client.incremental(publisher.statusPacket(btc, .valid))
        #expect(client.isUsable(btc) && client.handler.updates.count == before + 1)
        expectBooksEqualTruth(client, publisher)
    }

    @Test func endOfSessionEndsTheSessionOnceEveryPacketBeforeItIsIn() throws {
        var publisher = TestPublisher()
        var client = try makeClient(retransmission: false)
        startedFeed(&publisher, &client)
        _ = publisher.updatePacket(btc, [(.bid, 9_995, 2)])  // lost at the tail
        client.incremental(publisher.endOfSessionPacket())
        client.incremental(publisher.endOfSessionPacket())
        #expect(client.counters.endOfSessions == 1)
        #expect(client.counters.packetsLost == 1)
        #expect(client.hasEnded)
        #expect(client.handler.events.contains(.endOfSession(session: publisher.session, nextSequence: publisher.next)))
    }

    @Test func aHeartbeatAnnouncingAnUnseenPacketIsATailGap() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        let tail = publisher.updatePacket(btc, [(.bid, 9_995, 2)])
        client.incremental(publisher.heartbeatPacket())
        #expect(client.counters.gaps == 1 && client.requester.requests.first?.request.firstSequence == tail.sequence)
        client.retransmission(tail)
        expectBooksEqualTruth(client, publisher)
        #expect(client.handler.invalidations.isEmpty)
    }

    @Test func aLineSilentForThreeHeartbeatIntervalsIsReportedStaleOnce() throws {
        var publisher = TestPublisher()
        var client = try makeClient(lines: 2)
        client.incremental(publisher.definitionPacket(TestPublisher.btc), line: .a, at: 1_000)
        client.incremental(publisher.heartbeatPacket(), line: .b, at: 1_000)
        let interval = client.configuration.heartbeatInterval
        client.tick(now: 1_000 + 3 * interval)
        #expect(client.counters.staleLines == 0)
        client.incremental(publisher.heartbeatPacket(), line: .a, at: 1_000 + 3 * interval)
        client.tick(now: 1_001 + 3 * interval)
        client.tick(now: 2_000 + 3 * interval)
        #expect(client.counters.staleLines == 1 && client.handler.events.last == .lineStale(.b))
        client.incremental(publisher.heartbeatPacket(), line: .b, at: 3_000 + 3 * interval)
        client.tick(now: 3_000 + 3 * interval)
        #expect(client.counters.staleLines == 1)
        // After end of session silence is expected: nothing is stale.
        client.incremental(publisher.endOfSessionPacket(), line: .a, at: 4_000 + 3 * interval)
        client.tick(now: 10 * interval)
        #expect(client.counters.staleLines == 1)
    }

    @Test func malformedAndForeignPacketsAreCountedAndNeverCrash() throws {
        var publisher = TestPublisher()
        var client = try makeClient()
        startedFeed(&publisher, &client)
        let good = publisher.updatePacket(btc, [(.bid, 9_995, 2)])
        var random = SystemRandomNumberGenerator()
        var malformed = 0
        for length in [0, 1, 31, 32, 33, good.count - 1] {
            client.incremental(Array(good.prefix(length)))
            malformed += 1
        }
        for _ in 0..<2_000 {
            var bytes = good
            for _ in 0..<3 { bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random) }
            client.incremental(bytes)
            client.snapshot(bytes)
            client.retransmission(bytes)
        }
        var foreign = TestPublisher()
        foreign.channel = 99
        client.incremental(foreign.definitionPacket(TestPublisher.btc))
        #expect(client.counters.malformedPackets >= UInt64(malformed))
        #expect(client.counters.foreignChannelPackets >= 1)
        // Still following its stream: the good packet is processed (or was, if a mutation kept it valid).
        client.incremental(good)
        #expect(client.expectedSequence >= good.sequence + 1)
    }
}

extension Array where Element == UInt8 {
    /// The packet header's sequence number.
    var sequence: UInt64 { withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) } }
}
