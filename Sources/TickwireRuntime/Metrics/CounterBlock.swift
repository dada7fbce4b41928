import Synchronization

/// How the exporter presents a slot: a counter only grows (a drop means its owner restarted),
/// a gauge is a level (a ring's high-water mark, frames in flight).
public enum MetricKind: Sendable, Equatable {
    case counter
    case gauge
}

/// One Prometheus label (`venue="okx"`).
public struct MetricLabel: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Where one value lives in a `CounterBlock`.
public struct CounterSlot: Hashable, Sendable {
    public let index: Int

    @inlinable
    public init(index: Int) { self.index = index }
}

/// A registered counter or gauge: its series and the slot holding its value.
public struct CounterDescriptor: Sendable, Equatable {
    public var name: String
    public var help: String
    public var kind: MetricKind
    public var labels: [MetricLabel]
    public var slot: CounterSlot
}

/// A registered latency histogram: its series and its slots (per-bucket counts, then the sum).
public struct HistogramDescriptor: Sendable, Equatable {
    public var name: String
    public var help: String
    public var labels: [MetricLabel]
    public var slots: LatencyHistogramSlots
}

/// Every counter, gauge and histogram of a process, registered at start-up before the block
/// exists (Aeron's counters file, in memory). Each group (one stage's counters) starts on its
/// own 128-byte boundary so threads writing neighbouring groups never share a cache line.
public struct CounterLayout: Sendable {
    public private(set) var counters: [CounterDescriptor] = []
    public private(set) var histograms: [HistogramDescriptor] = []
    public private(set) var slotCount = 0

    static let slotsPerAlignment = 128 / MemoryLayout<UInt64>.stride

    public init() {}

    /// Starts a new group of slots on a fresh 128-byte boundary.
    public mutating func beginGroup() {
        slotCount = (slotCount + Self.slotsPerAlignment - 1) / Self.slotsPerAlignment * Self.slotsPerAlignment
    }

    public mutating func register(_ name: String, help: String, kind: MetricKind, labels: [MetricLabel]) -> CounterSlot {
        let slot = CounterSlot(index: slotCount)
        slotCount += 1
        counters.append(CounterDescriptor(name: name, help: help, kind: kind, labels: labels, slot: slot))
        return slot
    }

    /// A latency histogram in its own group (its owner records into it per message).
    public mutating func registerHistogram(_ name: String, help: String, labels: [MetricLabel]) -> LatencyHistogramSlots {
        beginGroup()
        let slots = LatencyHistogramSlots(first: slotCount)
        slotCount += LatencyHistogramSlots.slotCount
        histograms.append(HistogramDescriptor(name: name, help: help, labels: labels, slots: slots))
        return slots
    }
}

/// The preallocated values of a `CounterLayout`: one `UInt64` per slot. The thread that owns a
/// slot writes it with relaxed atomic stores (a plain `mov`: no lock, no allocation, no ARC,
/// through `writer`); any other thread may read it at any time. Values are published, not
/// summed across threads, so a slot must have exactly one writer.
public final class CounterBlock: @unchecked Sendable {
    // @unchecked: the slots are atomics; the layout is immutable after init.
    public let layout: CounterLayout
    private let slots: UnsafeMutablePointer<Atomic<UInt64>>

    public init(layout: CounterLayout) {
        self.layout = layout
        let count = max(layout.slotCount, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<UInt64>.stride, alignment: 128)
        slots = raw.bindMemory(to: Atomic<UInt64>.self, capacity: count)
        for index in 0..<count { (slots + index).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: max(layout.slotCount, 1))
        slots.deallocate()
    }

    /// The writing end, to hand to the thread that owns some slots. It holds a raw pointer:
    /// keep the block alive for as long as any writer is in use.
    public var writer: CounterWriter { CounterWriter(slots: slots) }

    public func load(_ slot: CounterSlot) -> UInt64 {
        (slots + slot.index).pointee.load(ordering: .relaxed)
    }
}

/// Stores into a `CounterBlock` from the thread owning the slots (copyable, no references).
public struct CounterWriter: @unchecked Sendable {
    // @unchecked: a raw pointer into the block; each slot has one writing thread by contract.
    @usableFromInline let slots: UnsafeMutablePointer<Atomic<UInt64>>

    init(slots: UnsafeMutablePointer<Atomic<UInt64>>) { self.slots = slots }

    @inlinable
    public func store(_ value: UInt64, _ slot: CounterSlot) {
        (slots + slot.index).pointee.store(value, ordering: .relaxed)
    }

    @inlinable
    public func store(_ value: Int, _ slot: CounterSlot) {
        store(UInt64(clamping: value), slot)
    }

    /// Adds to a slot this thread owns: a load and a store, not an atomic read-modify-write.
    @inlinable
    public func add(_ amount: UInt64, _ slot: CounterSlot) {
        let pointer = slots + slot.index
        pointer.pointee.store(pointer.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }
}
