import Testing
import TickwireCore
import TickwireRuntime
import TickwireSystem
import TickwireTransport

// The retransmission service over real loopback UDP: a consumer socket sends requests,
// the service answers from the publisher's history; every answer is decoded with PacketReader.

@Suite struct RetransmissionServiceTests {
    typealias F = PublisherFixture
    /// A publisher that sent `packets` one-delta packets with a history of `historyCapacity`,
    /// the service serving it on 127.0.0.1, and a consumer socket.
    struct Rig {
        let clock = ManualClock()
        let log = SendLog()
        let publisher: ChannelPublisher<RecordingSender, ManualClock>
        let service: RetransmissionService<ManualClock>
        let consumer: UnicastUdpSocket

        init(packets: Int, historyCapacity: Int = 64, packetsPerSecond: Int = 1000, burst: Int = 1024) throws {
            var configuration = F.configuration()
            configuration.historyCapacity = historyCapacity
            configuration.packetsPerSend = 2
            publisher = try F.publisher(configuration, log: log, clock: clock)
            for update in 1...packets {
                publisher.publish(F.delta(price: Int64(update), quantity: 1, update: UInt64(update)))
                publisher.flush()
            }
            var serviceConfiguration = RetransmissionConfiguration(endpoint: UdpEndpoint(address: F.loopback, port: 0))
            serviceConfiguration.packetsPerSecond = packetsPerSecond
            serviceConfiguration.burst = burst
            service = try RetransmissionService(configuration: serviceConfiguration, clock: clock)
            service.serve(publisher)
            consumer = try UnicastUdpSocket(bindingTo: UdpEndpoint(address: F.loopback, port: 0))
        }

        /// The packet as the publisher originally sent it.
        func original(_ sequence: UInt64) -> [UInt8] { log.sends[Int(sequence) - 1].bytes }

        func request(
            first: UInt64, count: UInt32, id: UInt64, channel: UInt16 = 1, session: UInt64 = F.session, flags: PacketFlags = .unsequenced
        ) throws {
            let request = RetransmitRequest(firstSequence: first, count: count, requestId: id)
            try sendRaw(requestPacket(request, channel: channel, session: session, flags: flags))
        }

        func sendRaw(_ bytes: [UInt8]) throws {
            let sent = try bytes.withUnsafeBytes { raw throws(SystemError) in try consumer.send(raw, to: service.endpoint) }
            #expect(sent)
        }

        /// Lets the service answer, then reads `count` datagrams, all from the service's port.
        func answers(_ count: Int) throws -> [[UInt8]] {
            let received = try receiveDatagrams(count, on: consumer) { service.poll() }
            #expect(received.allSatisfy { $0.source == service.endpoint }, "answers come from the service's port")
            return received.map(\.bytes)
        }

        /// Nothing more arrives after the service has handled everything waiting.
        func expectSilence() throws {
            service.poll()
            #expect(try !consumer.waitReadable(timeoutMilliseconds: 50))
        }
    }

    static func requestPacket(_ request: RetransmitRequest, channel: UInt16, session: UInt64, flags: PacketFlags) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBytes { raw in
            var writer = PacketWriter(buffer: raw, maxPacketSize: 64)
            writer.begin(channel: channel, sequence: 0, sendTime: 1, session: session, flags: flags)
            _ = writer.append(request)
            return writer.finish()
        }
        return Array(buffer[..<length])
    }

    static func reject(_ bytes: [UInt8]) -> (header: PacketHeader, reject: RetransmitReject)? {
        guard let packet = decode(bytes), case .plain(.retransmitReject(let reject))? = packet.messages.first, packet.messages.count == 1 else {
            return nil
        }
        return (packet.header, reject)
    }

    @Test func inWindowRequestIsAnsweredByteIdenticalInOrder() throws {
        let rig = try Rig(packets: 20)
        try rig.request(first: 5, count: 4, id: 1)
        let answers = try rig.answers(4)
        #expect(answers == (5...8).map(rig.original))
        #expect(answers.compactMap { decode($0)?.header.sequence } == [5, 6, 7, 8])
        try rig.expectSilence()
        #expect(rig.service.counters.packetsResent == 4 && rig.service.counters.requests == 1)
    }

    /// After the end of a session: consumers behind their socket buffers still ask for its packets.
    @Test func servingUntilQuietAnswersEveryRequestWaitingThenReturns() throws {
        let rig = try Rig(packets: 20)
        for id in 1...6 { try rig.request(first: UInt64(id), count: 1, id: UInt64(id)) }
        rig.service.serveUntilQuiet(quietMilliseconds: 50, shouldStop: { false })
        #expect(rig.service.counters.requests == 6, "more than one poll's worth (\(rig.service.requestsPerPoll))")
        let answers = try receiveDatagrams(6, on: rig.consumer).map(\.bytes)
        #expect(answers == (1...6).map(rig.original))

        try rig.request(first: 7, count: 1, id: 7)
        rig.service.serveUntilQuiet(quietMilliseconds: 50, shouldStop: { true })
        #expect(rig.service.counters.requests == 6, "a stop request ends it at once")
    }

    @Test func requestOlderThanTheWindowIsRejectedNotAvailable() throws {
        let rig = try Rig(packets: 10, historyCapacity: 4)
        try rig.request(first: 1, count: 3, id: 77)
        let answer = try #require(try rig.answers(1).first.flatMap(Self.reject))
        #expect(answer.header.flags == .unsequenced && answer.header.channel == 1 && answer.header.sequence == 11)
        #expect(answer.header.session == F.session)
        #expect(answer.reject == RetransmitReject(reason: .notAvailable, firstSequence: 1, count: 3, requestId: 77, oldestAvailable: 7, nextSequence: 11))
        try rig.expectSilence()
    }

    @Test func rangeAcrossTheWindowsStartGetsARejectThenThePackets() throws {
        let rig = try Rig(packets: 10, historyCapacity: 4)
        try rig.request(first: 5, count: 4, id: 3)
        let answers = try rig.answers(3)
        #expect(Self.reject(answers[0])?.reject == RetransmitReject(reason: .notAvailable, firstSequence: 5, count: 2, requestId: 3, oldestAvailable: 7, nextSequence: 11))
        #expect(Array(answers.dropFirst()) == [rig.original(7), rig.original(8)])
        try rig.expectSilence()
    }

    @Test func rangePastTheNewestPacketGetsThePacketsThenAReject() throws {
        let rig = try Rig(packets: 10)
        try rig.request(first: 9, count: 5, id: 4)
        let answers = try rig.answers(3)
        #expect(Array(answers.prefix(2)) == [rig.original(9), rig.original(10)])
        #expect(Self.reject(answers[2])?.reject == RetransmitReject(reason: .notAvailable, firstSequence: 11, count: 3, requestId: 4, oldestAvailable: 1, nextSequence: 11))
        try rig.expectSilence()
    }

    @Test func requesterOverItsRateGetsWhatItsTokensAllowThenRateLimited() throws {
        let rig = try Rig(packets: 30, packetsPerSecond: 1000, burst: 5)
        try rig.request(first: 1, count: 8, id: 10)
        let first = try rig.answers(6)
        #expect(Array(first.prefix(5)) == (1...5).map(rig.original))
        #expect(Self.reject(first[5])?.reject == RetransmitReject(reason: .rateLimited, firstSequence: 6, count: 3, requestId: 10, oldestAvailable: 1, nextSequence: 31))
        try rig.request(first: 6, count: 3, id: 11)
        #expect(Self.reject(try rig.answers(1)[0])?.reject.reason == .rateLimited, "no tokens left while the clock stands still")
        rig.clock.advance(by: 2_000_000)  // 2 ms at 1000 packets/s: two tokens
        try rig.request(first: 6, count: 3, id: 12)
        let later = try rig.answers(3)
        #expect(Array(later.prefix(2)) == [rig.original(6), rig.original(7)])
        #expect(Self.reject(later[2])?.reject == RetransmitReject(reason: .rateLimited, firstSequence: 8, count: 1, requestId: 12, oldestAvailable: 1, nextSequence: 31))
        #expect(rig.service.counters.rateLimited == 3)
        try rig.expectSilence()
    }

    @Test func unknownChannelIsRejected() throws {
        let rig = try Rig(packets: 3)
        try rig.request(first: 1, count: 2, id: 5, channel: 99)
        let answer = try #require(try rig.answers(1).first.flatMap(Self.reject))
        #expect(answer.header.channel == 99 && answer.header.sequence == 0 && answer.header.flags == .unsequenced)
        #expect(answer.reject == RetransmitReject(reason: .unknownChannel, firstSequence: 1, count: 2, requestId: 5, oldestAvailable: 0, nextSequence: 0))
    }

    @Test func otherSessionIsRejected() throws {
        let rig = try Rig(packets: 3)
        try rig.request(first: 1, count: 2, id: 6, session: 12345)
        let answer = try #require(try rig.answers(1).first.flatMap(Self.reject))
        #expect(answer.header.session == F.session)
        #expect(answer.reject == RetransmitReject(reason: .sessionMismatch, firstSequence: 1, count: 2, requestId: 6, oldestAvailable: 1, nextSequence: 4))
    }

    @Test(arguments: [(UInt64(1), UInt32(0), PacketFlags.unsequenced), (1, 1025, .unsequenced), (0, 1, .unsequenced), (1, 1, PacketFlags())])
    func invalidRequestIsRejected(first: UInt64, count: UInt32, flags: PacketFlags) throws {
        let rig = try Rig(packets: 3)
        try rig.request(first: first, count: count, id: 8, flags: flags)
        let answer = try #require(try rig.answers(1).first.flatMap(Self.reject))
        #expect(answer.reject == RetransmitReject(reason: .invalidRequest, firstSequence: first, count: count, requestId: 8, oldestAvailable: 1, nextSequence: 4))
        try rig.expectSilence()
    }

    @Test func malformedDatagramsAreCountedAndNeverAnswered() throws {
        let rig = try Rig(packets: 3)
        let valid = Self.requestPacket(RetransmitRequest(firstSequence: 2, count: 1, requestId: 9), channel: 1, session: F.session, flags: .unsequenced)
        var truncated = Array(valid.dropLast(4))
        truncated[32] = UInt8(truncated.count - 32)  // message length says 20: shorter than a request
        var heartbeat = [UInt8](repeating: 0, count: 48)
        let heartbeatLength = heartbeat.withUnsafeMutableBytes { raw in
            var writer = PacketWriter(buffer: raw, maxPacketSize: 48)
            writer.begin(channel: 1, sequence: 4, sendTime: 1, session: F.session, flags: .unsequenced)
            _ = writer.append(Heartbeat(nextSequence: 4))
            return writer.finish()
        }
        var twoRequests = valid
        twoRequests[6] = 2
        twoRequests += valid[32...]
        let malformed: [[UInt8]] = [
            [], [0x54, 0x57, 0x01], [UInt8](repeating: 0xFF, count: 56), truncated, Array(heartbeat[..<heartbeatLength]),
            twoRequests, [UInt8](repeating: 0, count: 3000),
        ]
        for datagram in malformed { try rig.sendRaw(datagram) }
        try rig.sendRaw(valid)
        let answers = try rig.answers(1)
        #expect(answers == [rig.original(2)], "the service keeps answering after bad input")
        #expect(rig.service.counters.malformed == malformed.count)
        #expect(rig.service.counters.requests == 1)
        try rig.expectSilence()
    }
}
