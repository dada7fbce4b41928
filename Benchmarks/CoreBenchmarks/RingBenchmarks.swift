import Benchmark
import Synchronization
import TickwireCore
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

// SPSC ring across two cores: the benchmark thread is the producer (pinned to core 0 while
// measuring), a peer thread pinned to core 1 consumes (or echoes back, for the round trip).
// Rings and peer threads are made in `setup` and stopped in `teardown`, so the measured part
// is only pushes, pops and spins: its malloc count must be 0.
func ringBenchmarks() {
    let capacity = 8192
    let batchSize = 256

    let single = RingPeer(mode: .drainSingle, capacity: capacity)
    Benchmark(
        "Ring_Throughput_Single_64B",
        configuration: ringConfiguration(scalingFactor: .mega),
        closure: { benchmark in
            let ring: SpscRing<RingPayload> = single.outbound
            let producer = ring.producer
            onCore0 {
                benchmark.startMeasurement()
                for index in benchmark.scaledIterations {
                    let item = RingPayload(index)
                    while !producer.tryPush(item) {}
                }
                while !ring.isEmpty {}  // the peer has taken everything
                benchmark.stopMeasurement()
            }
        },
        setup: { try single.start() },
        teardown: { single.stop() }
    )

    let batched = RingPeer(mode: .drainBatch(batchSize), capacity: capacity)
    Benchmark(
        "Ring_Throughput_Batch256_64B",
        configuration: ringConfiguration(scalingFactor: .mega),
        closure: { benchmark in
            let ring: SpscRing<RingPayload> = batched.outbound
            let producer = ring.producer
            let total = benchmark.scaledIterations.count
            onCore0 {
                benchmark.startMeasurement()
                var pushed = 0
                while pushed < total {
                    let first = pushed
                    pushed += producer.produce(upTo: min(batchSize, total - first)) { run in
                        for offset in run.indices { run[offset] = RingPayload(first + offset) }
                        return run.count
                    }
                }
                while !ring.isEmpty {}
                benchmark.stopMeasurement()
            }
        },
        setup: { try batched.start() },
        teardown: { batched.stop() }
    )

    let echo = RingPeer(mode: .echo, capacity: capacity)
    Benchmark(
        "Ring_RoundTrip_64B",
        configuration: ringConfiguration(scalingFactor: .kilo),
        closure: { benchmark in
            let producer = echo.outbound.producer
            let replies = echo.inbound.consumer
            onCore0 {
                benchmark.startMeasurement()
                for index in benchmark.scaledIterations {
                    while !producer.tryPush(RingPayload(index)) {}
                    var reply = replies.tryPop()
                    while reply == nil { reply = replies.tryPop() }
                    precondition(reply!.sequence == UInt64(index), "echo out of order")
                }
                benchmark.stopMeasurement()
            }
        },
        setup: { try echo.start() },
        teardown: { echo.stop() }
    )
}

/// `hotPathConfiguration` (0 mallocs) with `scalingFactor` items per sample, so the reported
/// time and throughput are per item.
private func ringConfiguration(scalingFactor: BenchmarkScalingFactor) -> Benchmark.Configuration {
    var configuration = hotPathConfiguration
    configuration.scalingFactor = scalingFactor
    return configuration
}

/// A 64-byte item, the size of the feeder's book events.
private struct RingPayload: BitwiseCopyable {
    var sequence: UInt64
    var fields: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    init(_ index: Int) {
        sequence = UInt64(truncatingIfNeeded: index)
        fields = (sequence, sequence, sequence, sequence, sequence, sequence, sequence)
    }
}

/// Runs `body` with the calling thread pinned to core 0, then restores its affinity
/// (the benchmark thread goes on to run the other suites).
private func onCore0(_ body: () -> Void) {
    let original = try! CPUSet.currentThread()
    try! CPUSet(cpu: 0).pinCurrentThread()
    body()
    try! original.pinCurrentThread()
}

/// The other end of a ring benchmark: a thread pinned to core 1 that drains `outbound`
/// (one item or one batch at a time) or echoes each item from `outbound` into `inbound`.
private final class RingPeer: @unchecked Sendable {
    // @unchecked: `outbound`, `inbound` and `thread` are set in `start()` and cleared in `stop()`,
    // both called from the benchmark runner before and after the measured closure.
    enum Mode: Sendable {
        case drainSingle
        case drainBatch(Int)
        case echo
    }

    let mode: Mode
    let capacity: Int
    private(set) var outbound: SpscRing<RingPayload>!
    private(set) var inbound: SpscRing<RingPayload>!
    private var thread: pthread_t?
    private let stopRequested = Atomic<Bool>(false)
    /// Sum of received sequence numbers, published on exit so the pops cannot be optimized away.
    let checksum = Atomic<UInt64>(0)

    init(mode: Mode, capacity: Int) {
        self.mode = mode
        self.capacity = capacity
    }

    func start() throws {
        outbound = try SpscRing(minimumCapacity: capacity)
        inbound = try SpscRing(minimumCapacity: capacity)
        stopRequested.store(false, ordering: .relaxed)
        var handle = pthread_t()
        let status = pthread_create(&handle, nil, { context in
            Unmanaged<RingPeer>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        precondition(status == 0, "pthread_create failed: \(status)")
        thread = handle
    }

    func stop() {
        guard let thread else { return }
        stopRequested.store(true, ordering: .releasing)
        pthread_join(thread, nil)
        self.thread = nil
        outbound = nil
        inbound = nil
    }

    private func run() {
        try! CPUSet(cpu: 1).pinCurrentThread()
        let consumer = outbound.consumer
        let replies = inbound.producer
        var sum: UInt64 = 0
        switch mode {
        case .drainSingle:
            while true {
                if let item = consumer.tryPop() {
                    sum &+= item.sequence
                } else if stopRequested.load(ordering: .acquiring) {
                    break
                }
            }
        case .drainBatch(let batchSize):
            while true {
                let taken = consumer.consume(upTo: batchSize) { run in
                    for item in run { sum &+= item.sequence }
                }
                if taken == 0 && stopRequested.load(ordering: .acquiring) { break }
            }
        case .echo:
            while true {
                if let item = consumer.tryPop() {
                    sum &+= item.sequence
                    while !replies.tryPush(item) {}
                } else if stopRequested.load(ordering: .acquiring) {
                    break
                }
            }
        }
        checksum.store(sum, ordering: .relaxed)
    }
}
