import Synchronization
import Testing
import TickwireCore
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// A 64-byte element, the size of the feeder's book events; every field is derived from one
/// sequence number so a torn or stale slot shows up as a mismatch.
private struct Event64: BitwiseCopyable, Equatable {
    var sequence: UInt64
    var price: UInt64
    var quantity: UInt64
    var instrument: UInt64
    var exchangeTime: UInt64
    var receiveTime: UInt64
    var flags: UInt64
    var checksum: UInt64

    init(_ sequence: UInt64) {
        self.sequence = sequence
        price = sequence &* 3
        quantity = sequence &* 5
        instrument = sequence & 0xFFFF
        exchangeTime = sequence &+ 1_000_000
        receiveTime = sequence &+ 2_000_000
        flags = ~sequence
        checksum = sequence ^ 0xA5A5_A5A5_A5A5_A5A5
    }
}

@Suite struct SpscRingSingleThread {
    @Test(arguments: [(1, 1), (2, 2), (3, 4), (1000, 1024), (1024, 1024), (1025, 2048)])
    func capacityRoundsUpToAPowerOfTwo(requested: Int, expected: Int) throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: requested)
        #expect(ring.capacity == expected)
        #expect(ring.producer.capacity == expected)
        #expect(ring.consumer.capacity == expected)
    }

    @Test func zeroCapacityIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            _ = try SpscRing<UInt64>(minimumCapacity: 0)
        }
    }

    @Test func capacityAboveTheMaximumIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            _ = try SpscRing<UInt64>(minimumCapacity: SpscRing<UInt64>.maximumCapacity + 1)
        }
    }

    @Test func storageComesFromHotMemoryWithTheRequestedPolicy() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 64, policy: HotMemoryPolicy(attempts: [.normal]))
        #expect(ring.memory.kind == .normal)
        #expect(ring.memory.size >= 64 * MemoryLayout<UInt64>.stride)
    }

    @Test func emptyRingPopsNothingInEveryForm() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 8)
        #expect(ring.isEmpty)
        #expect(ring.count == 0)
        #expect(ring.consumer.tryPop() == nil)
        var destination = [UInt64](repeating: 7, count: 4)
        #expect(destination.withUnsafeMutableBufferPointer { ring.consumer.pop(into: $0) } == 0)
        #expect(destination == [7, 7, 7, 7])
        var visited = 0
        #expect(ring.consumer.consume(upTo: 4) { visited += $0.count } == 0)
        #expect(visited == 0)
    }

    @Test func fullRingRefusesPushesAndKeepsItsContents() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 8)
        for value in 0..<8 as Range<UInt64> { #expect(ring.producer.tryPush(value)) }
        #expect(ring.count == 8)
        #expect(!ring.producer.tryPush(99))
        #expect([UInt64](arrayLiteral: 99, 100).withUnsafeBufferPointer { ring.producer.push(contentsOf: $0) } == 0)
        var fillCalls = 0
        #expect(ring.producer.produce(upTo: 4) { _ in fillCalls += 1; return 0 } == 0)
        #expect(fillCalls == 0)
        for value in 0..<8 as Range<UInt64> { #expect(ring.consumer.tryPop() == value) }
        #expect(ring.consumer.tryPop() == nil)
    }

    @Test func batchPushIntoANearlyFullRingReportsHowManyFit() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 8)
        let first: [UInt64] = [0, 1, 2, 3, 4, 5]
        let second: [UInt64] = [6, 7, 8, 9]
        #expect(first.withUnsafeBufferPointer { ring.producer.push(contentsOf: $0) } == 6)
        #expect(second.withUnsafeBufferPointer { ring.producer.push(contentsOf: $0) } == 2)
        var destination = [UInt64](repeating: 0, count: 16)
        let popped = destination.withUnsafeMutableBufferPointer { ring.consumer.pop(into: $0) }
        #expect(popped == 8)
        #expect(Array(destination[0..<8]) == [0, 1, 2, 3, 4, 5, 6, 7])
    }

    @Test func batchPopTakesNoMoreThanTheDestinationHolds() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 8)
        for value in 0..<5 as Range<UInt64> { #expect(ring.producer.tryPush(value)) }
        var destination = [UInt64](repeating: 0, count: 3)
        #expect(destination.withUnsafeMutableBufferPointer { ring.consumer.pop(into: $0) } == 3)
        #expect(destination == [0, 1, 2])
        #expect(ring.count == 2)
        #expect(ring.consumer.tryPop() == 3)
    }

    @Test func batchesSplitAtTheEndOfStorageAndStayInOrder() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 8)
        // Move both indices to slot 6 so the next batch of 5 covers slots 6, 7, 0, 1, 2.
        for value in 0..<6 as Range<UInt64> { #expect(ring.producer.tryPush(value)) }
        for value in 0..<6 as Range<UInt64> { #expect(ring.consumer.tryPop() == value) }

        var fillRuns: [Int] = []
        var next: UInt64 = 100
        let published = ring.producer.produce(upTo: 5) { run in
            fillRuns.append(run.count)
            for index in run.indices { run[index] = next; next += 1 }
            return run.count
        }
        #expect(published == 5)
        #expect(fillRuns == [2, 3])

        var readRuns: [[UInt64]] = []
        #expect(ring.consumer.consume(upTo: 8) { readRuns.append(Array($0)) } == 5)
        #expect(readRuns == [[100, 101], [102, 103, 104]])
        #expect(ring.isEmpty)
    }

    @Test func shortFillStopsTheBatchAndPublishesOnlyWhatWasWritten() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 8)
        for value in 0..<6 as Range<UInt64> { #expect(ring.producer.tryPush(value)) }
        for _ in 0..<6 { _ = ring.consumer.tryPop() }

        var fillCalls = 0
        let published = ring.producer.produce(upTo: 5) { run in
            fillCalls += 1
            run[0] = 42
            return 1
        }
        #expect(published == 1)
        #expect(fillCalls == 1)
        #expect(ring.count == 1)
        #expect(ring.consumer.tryPop() == 42)
        #expect(ring.consumer.tryPop() == nil)
    }

    @Test func manyLapsOfMixedBatchesKeepOrder() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 16)
        var nextPushed: UInt64 = 0
        var nextExpected: UInt64 = 0
        var scratch = [UInt64](repeating: 0, count: 16)
        // Batch sizes that are coprime with the capacity land the split on every slot.
        for round in 0..<1_000 {
            let pushCount = 1 + round % 13
            let source = (0..<pushCount).map { nextPushed + UInt64($0) }
            nextPushed += UInt64(source.withUnsafeBufferPointer { ring.producer.push(contentsOf: $0) })
            let popCount = 1 + round % 11
            let popped = scratch.withUnsafeMutableBufferPointer {
                ring.consumer.pop(into: UnsafeMutableBufferPointer(rebasing: $0[0..<popCount]))
            }
            for value in scratch[0..<popped] {
                #expect(value == nextExpected)
                nextExpected += 1
            }
            #expect(ring.count == Int(nextPushed - nextExpected))
        }
        #expect(nextExpected > 5_000)
    }

    @Test func sixtyFourByteElementsSurviveSingleAndBatchTransfersAcrossTheWrap() throws {
        #expect(MemoryLayout<Event64>.stride == 64)
        let ring = try SpscRing<Event64>(minimumCapacity: 4)
        var next: UInt64 = 0
        var expected: UInt64 = 0
        for _ in 0..<10 {
            #expect(ring.producer.tryPush(Event64(next)))
            next += 1
            let batch = [Event64(next), Event64(next + 1)]
            #expect(batch.withUnsafeBufferPointer { ring.producer.push(contentsOf: $0) } == 2)
            next += 2
            #expect(ring.consumer.tryPop() == Event64(expected))
            expected += 1
            var destination = [Event64](repeating: Event64(0), count: 2)
            #expect(destination.withUnsafeMutableBufferPointer { ring.consumer.pop(into: $0) } == 2)
            #expect(destination == [Event64(expected), Event64(expected + 1)])
            expected += 2
        }
        #expect(ring.isEmpty)
    }
}

/// Two real threads, the producer and the consumer, hammering one small ring: every sequence
/// number must arrive exactly once and in order.
///
/// Serialized so the suite's own stress tests do not share the two cores with each other;
/// waits yield the CPU so the test stays quick even when other suites run alongside.
///
/// ThreadSanitizer: a debug build shows TSan the index atomics but not the slot copies (at
/// -Onone generic element copies run inside the Swift runtime, which is not instrumented), so
/// a broken acquire/release goes unnoticed there. A release build sees both and did flag a
/// deliberately relaxed tail load:
/// `swift test -c release -Xswiftc -enable-testing --sanitize=thread --filter SpscRing`.
@Suite(.serialized) struct SpscRingTwoThreads {
    // 10M + 10M + 1M items: about 1 s in a debug build on the 2-vCPU VM, 10-20 s under TSan.
    static let singleItemTotal: UInt64 = 10_000_000
    static let batchTotal: UInt64 = 10_000_000
    static let wideElementTotal: UInt64 = 1_000_000

    @Test func singleItemPushAndPopDeliverEverySequenceNumberOnceInOrder() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 1024)
        let total = Self.singleItemTotal
        let producer = ring.producer
        let consumer = ring.consumer
        let report = runProducerAndConsumer(
            produce: { finished in
                var next: UInt64 = 0
                while next < total {
                    if producer.tryPush(next) { next += 1 } else { sched_yield() }
                }
                finished.store(true, ordering: .releasing)
            },
            consume: { producerFinished in
                var check = SequenceCheck()
                while check.received < total {
                    if let value = consumer.tryPop() {
                        check.saw(value)
                    } else if producerFinished.load(ordering: .acquiring) {
                        // Everything was published before the flag: one more look decides.
                        guard let value = consumer.tryPop() else { break }
                        check.saw(value)
                    } else {
                        sched_yield()
                    }
                }
                return check
            }
        )
        #expect(report.received == total)
        #expect(report.outOfOrder == 0, "first wrong value \(String(describing: report.firstWrong))")
        #expect(ring.isEmpty)
    }

    @Test func batchPushAndPopDeliverEverySequenceNumberOnceInOrder() throws {
        let ring = try SpscRing<UInt64>(minimumCapacity: 1024)
        let total = Self.batchTotal
        let producer = ring.producer
        let consumer = ring.consumer
        let report = runProducerAndConsumer(
            produce: { finished in
                var source = [UInt64](repeating: 0, count: 300)
                var next: UInt64 = 0
                var round = 0
                while next < total {
                    round += 1
                    // Batch sizes vary (1...300, coprime-ish with 1024) so splits land everywhere.
                    let wanted = Int(min(UInt64(1 + (round * 37) % 300), total - next))
                    let pushed: Int
                    if round % 2 == 0 {
                        for index in 0..<wanted { source[index] = next + UInt64(index) }
                        pushed = source.withUnsafeBufferPointer {
                            producer.push(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<wanted]))
                        }
                    } else {
                        var value = next
                        pushed = producer.produce(upTo: wanted) { run in
                            for index in run.indices { run[index] = value; value += 1 }
                            return run.count
                        }
                    }
                    next += UInt64(pushed)
                    if pushed == 0 { sched_yield() }
                }
                finished.store(true, ordering: .releasing)
            },
            consume: { producerFinished in
                var check = SequenceCheck()
                var destination = [UInt64](repeating: 0, count: 256)
                var round = 0
                while check.received < total {
                    round += 1
                    let producerWasFinished = producerFinished.load(ordering: .acquiring)
                    let wanted = 1 + (round * 29) % 256
                    let taken: Int
                    switch round % 3 {
                    case 0:
                        taken = destination.withUnsafeMutableBufferPointer {
                            consumer.pop(into: UnsafeMutableBufferPointer(rebasing: $0[0..<wanted]))
                        }
                        for value in destination[0..<taken] { check.saw(value) }
                    case 1:
                        taken = consumer.consume(upTo: wanted) { run in
                            for value in run { check.saw(value) }
                        }
                    default:
                        if let value = consumer.tryPop() { check.saw(value); taken = 1 } else { taken = 0 }
                    }
                    if taken == 0 {
                        if producerWasFinished { break }
                        sched_yield()
                    }
                }
                return check
            }
        )
        #expect(report.received == total)
        #expect(report.outOfOrder == 0, "first wrong value \(String(describing: report.firstWrong))")
        #expect(ring.isEmpty)
    }

    @Test func sixtyFourByteElementsArriveWholeUnderConcurrency() throws {
        let ring = try SpscRing<Event64>(minimumCapacity: 64)
        let total = Self.wideElementTotal
        let producer = ring.producer
        let consumer = ring.consumer
        let report = runProducerAndConsumer(
            produce: { finished in
                var next: UInt64 = 0
                while next < total {
                    if producer.tryPush(Event64(next)) { next += 1 } else { sched_yield() }
                }
                finished.store(true, ordering: .releasing)
            },
            consume: { producerFinished in
                var check = SequenceCheck()
                while check.received < total {
                    let producerWasFinished = producerFinished.load(ordering: .acquiring)
                    let taken = consumer.consume(upTo: 16) { run in
                        for event in run {
                            // A whole, current element has every field matching its sequence.
                            check.saw(event == Event64(event.sequence) ? event.sequence : .max)
                        }
                    }
                    if taken == 0 {
                        if producerWasFinished { break }
                        sched_yield()
                    }
                }
                return check
            }
        )
        #expect(report.received == total)
        #expect(report.outOfOrder == 0, "first wrong value \(String(describing: report.firstWrong))")
        #expect(ring.isEmpty)
    }
}

/// What the consumer saw: expects 0, 1, 2, ... and counts every value that breaks the sequence.
private struct SequenceCheck: Sendable {
    var received: UInt64 = 0
    var outOfOrder = 0
    var firstWrong: (index: UInt64, value: UInt64)?

    mutating func saw(_ value: UInt64) {
        if value != received {
            outOfOrder += 1
            if firstWrong == nil { firstWrong = (received, value) }
        }
        received += 1
    }
}

/// Runs `produce` and `consume` on two fresh pthreads (joined, so ThreadSanitizer sees the
/// hand-back) and returns the consumer's report. `produce` sets the flag once it has
/// published everything, so a consumer that lost items stops instead of waiting forever.
private func runProducerAndConsumer(
    produce: @escaping @Sendable (borrowing Atomic<Bool>) -> Void,
    consume: @escaping @Sendable (borrowing Atomic<Bool>) -> SequenceCheck
) -> SequenceCheck {
    let producerFinished = FinishedFlag()
    let producerThread = JoinableThread { produce(producerFinished.value) }
    let consumerThread = JoinableThread { consume(producerFinished.value) }
    producerThread.join()
    return consumerThread.join()
}

private final class FinishedFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// A pthread whose result is handed back by `join` (Foundation's Thread cannot be joined).
private struct JoinableThread<Result: Sendable> {
    private let handle: pthread_t
    private let outcome = ThreadOutcome<Result>()

    init(_ body: @escaping @Sendable () -> Result) {
        let outcome = self.outcome
        handle = startPthread { outcome.result = body() }
    }

    @discardableResult
    func join() -> Result {
        pthread_join(handle, nil)
        return outcome.result!
    }
}

private final class ThreadOutcome<Result: Sendable>: @unchecked Sendable {
    // @unchecked: written by the thread before it exits, read after pthread_join.
    var result: Result?
}

private final class ThreadEntry {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

private func startPthread(_ run: @escaping @Sendable () -> Void) -> pthread_t {
    var handle = pthread_t()
    let entry = Unmanaged.passRetained(ThreadEntry(run)).toOpaque()
    let status = pthread_create(&handle, nil, { context in
        Unmanaged<ThreadEntry>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, entry)
    precondition(status == 0, "pthread_create failed: \(status)")
    return handle
}
