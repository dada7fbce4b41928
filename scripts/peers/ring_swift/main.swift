// Swift side of the ring head-to-head (scripts/bench-peers.sh): Tickwire's SpscRing with
// 64-byte items, capacity 8192, producer on core 0, consumer on core 1. The same protocol,
// item and checks as ring_peer.cpp (boost::lockfree::spsc_queue), so only the rings differ.
//
// Prints one `name value` line per figure:
//   throughput_single  M items/s, tryPush / tryPop one item at a time
//   throughput_batch   M items/s, push(contentsOf:) / pop(into:) 256 items at a time
//   roundtrip          ns, one item through two rings and back
//
// Usage: ring_swift [items] [round_trips]
import Synchronization
import TickwireCore
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

let capacity = 8192
let batchSize = 256
let arguments = CommandLine.arguments
let items = arguments.count > 1 ? Int(arguments[1])! : 30_000_000
let roundTrips = arguments.count > 2 ? Int(arguments[2])! : 1_000_000
// Untimed lead-in: first-touch, frequency ramp-up and the threads meeting up.
let warmupItems = items / 20
let warmupRoundTrips = roundTrips / 20

struct Item: BitwiseCopyable {
    var sequence: UInt64
    var payload: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    init(_ sequence: UInt64) {
        self.sequence = sequence
        payload = (sequence, sequence, sequence, sequence, sequence, sequence, sequence)
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func pin(toCore core: Int) {
    do { try CPUSet(cpu: core).pinCurrentThread() } catch { fatalError("pinning to core \(core): \(error)") }
}

func outOfOrder(expected: UInt64, got: UInt64) -> Never {
    fatalError("ring delivered \(got), expected \(expected)")
}

final class ThreadEntry {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts `body` on a pthread pinned to core 1.
func startOnCore1(_ body: @escaping () -> Void) -> pthread_t {
    var handle = pthread_t()
    let entry = Unmanaged.passRetained(ThreadEntry { pin(toCore: 1); body() }).toOpaque()
    let status = pthread_create(&handle, nil, { context in
        Unmanaged<ThreadEntry>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, entry)
    precondition(status == 0, "pthread_create failed: \(status)")
    return handle
}

/// Staging buffers on cache-line boundaries, like the C++ side's `alignas(64)` items.
func allocateLineAligned(_ count: Int) -> UnsafeMutableBufferPointer<Item> {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Item>.stride, alignment: 64)
    return UnsafeMutableBufferPointer(start: raw.bindMemory(to: Item.self, capacity: count), count: count)
}

/// M items/s for `items` items after `warmupItems` untimed ones, one item per call.
func throughputSingle(_ ring: SpscRing<Item>) -> Double {
    let total = UInt64(warmupItems + items)
    let consumer = ring.consumer
    let thread = startOnCore1 {
        var expected: UInt64 = 0
        while expected < total {
            guard let item = consumer.tryPop() else { continue }
            if item.sequence != expected { outOfOrder(expected: expected, got: item.sequence) }
            expected += 1
        }
    }
    let producer = ring.producer
    var start: UInt64 = 0
    for sequence in 0..<total {
        if sequence == UInt64(warmupItems) { start = monotonicNanoseconds() }
        let item = Item(sequence)
        while !producer.tryPush(item) {}
    }
    pthread_join(thread, nil)
    return Double(items) * 1e3 / Double(monotonicNanoseconds() - start)
}

/// M items/s moving batches of up to `batchSize` through staging arrays on both sides.
func throughputBatch(_ ring: SpscRing<Item>) -> Double {
    let total = UInt64(warmupItems + items)
    let consumer = ring.consumer
    let thread = startOnCore1 {
        let received = allocateLineAligned(batchSize)
        defer { received.deallocate() }
        var expected: UInt64 = 0
        while expected < total {
            let count = consumer.pop(into: received)
            for index in 0..<count {
                if received[index].sequence != expected { outOfOrder(expected: expected, got: received[index].sequence) }
                expected += 1
            }
        }
    }
    let producer = ring.producer
    let staged = allocateLineAligned(batchSize)
    defer { staged.deallocate() }
    var start: UInt64 = 0
    var timedFrom: UInt64?
    var next: UInt64 = 0
    while next < total {
        if timedFrom == nil && next >= UInt64(warmupItems) {
            timedFrom = next
            start = monotonicNanoseconds()
        }
        let count = Int(min(UInt64(batchSize), total - next))
        for index in 0..<count { staged[index] = Item(next + UInt64(index)) }
        var pushed = 0
        while pushed < count {
            pushed += producer.push(contentsOf: UnsafeBufferPointer(rebasing: staged[pushed..<count]))
        }
        next += UInt64(count)
    }
    pthread_join(thread, nil)
    return Double(total - timedFrom!) * 1e3 / Double(monotonicNanoseconds() - start)
}

/// Mean ns for one item to go out through `outbound` and come back through `inbound`.
func roundTrip(_ outbound: SpscRing<Item>, _ inbound: SpscRing<Item>) -> Double {
    let total = UInt64(warmupRoundTrips + roundTrips)
    let echoIn = outbound.consumer
    let echoOut = inbound.producer
    let thread = startOnCore1 {
        for _ in 0..<total {
            var item = echoIn.tryPop()
            while item == nil { item = echoIn.tryPop() }
            while !echoOut.tryPush(item!) {}
        }
    }
    let producer = outbound.producer
    let replies = inbound.consumer
    var start: UInt64 = 0
    for sequence in 0..<total {
        if sequence == UInt64(warmupRoundTrips) { start = monotonicNanoseconds() }
        while !producer.tryPush(Item(sequence)) {}
        var reply = replies.tryPop()
        while reply == nil { reply = replies.tryPop() }
        if reply!.sequence != sequence { outOfOrder(expected: sequence, got: reply!.sequence) }
    }
    let elapsed = monotonicNanoseconds() - start
    pthread_join(thread, nil)
    return Double(elapsed) / Double(roundTrips)
}

func makeRing() -> SpscRing<Item> {
    do { return try SpscRing<Item>(minimumCapacity: capacity) } catch { fatalError("ring memory: \(error)") }
}

pin(toCore: 0)
print("throughput_single", throughputSingle(makeRing()))
print("throughput_batch", throughputBatch(makeRing()))
print("roundtrip", roundTrip(makeRing(), makeRing()))
