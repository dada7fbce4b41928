import Testing
import TickwireCore
import TickwireRuntime
import TickwireSystem

// The retransmission window: the last N packets, each exactly as sent.

@Suite struct PacketHistoryTests {
    typealias F = PublisherFixture

    @Test func historyKeepsTheLastCapacityPacketsExactlyAsSent() throws {
        var configuration = F.configuration()
        configuration.historyCapacity = 4
        configuration.packetsPerSend = 1
        let log = SendLog()
        let publisher = try F.publisher(configuration, log: log, clock: ManualClock())
        let history = publisher.history
        #expect(history.oldestSequence == 0 && history.nextSequence == 1 && !history.contains(1))
        for update in 1...10 as ClosedRange<UInt64> {
            publisher.publish(F.delta(price: Int64(update), quantity: 1, update: update))
            publisher.flush()
        }
        #expect(history.oldestSequence == 7 && history.nextSequence == 11)
        for sequence in 0...12 as ClosedRange<UInt64> {
            #expect(history.contains(sequence) == (7...10).contains(sequence), "sequence \(sequence)")
        }
        for sequence in 7...10 as ClosedRange<UInt64> {
            let held = try #require(history.packet(sequence))
            #expect(Array(held) == log.sends[Int(sequence) - 1].bytes)
        }
        #expect(history.packet(6) == nil && history.packet(11) == nil)
    }

    @Test func historyBeforeItWrapsHoldsEverything() throws {
        let history = try PacketHistory(capacity: 8, packetCapacity: 1400, policy: HotMemoryPolicy(attempts: [.normal]))
        #expect(history.capacity == 8 && history.packetCapacity == 1400)
        var configuration = F.configuration()
        configuration.historyCapacity = 8
        configuration.packetsPerSend = 2
        let publisher = try F.publisher(configuration, log: SendLog(), clock: ManualClock())
        for update in 1...3 as ClosedRange<UInt64> {
            publisher.publish(F.delta(price: 1, quantity: 1, update: update))
            publisher.flush()
        }
        #expect(publisher.history.oldestSequence == 1 && publisher.history.nextSequence == 4)
    }
}
