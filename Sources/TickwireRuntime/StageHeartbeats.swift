import Synchronization

/// One progress counter per pipeline stage, each on its own 128-byte line so a stage's
/// beats never invalidate another stage's line (the same spacing as SpscRing's indices).
/// Stage threads beat through `StageHeartbeat`; the `HealthMonitor` reads the counters.
///
/// Rule (as for SpscRing endpoints): a `StageHeartbeat` does not keep this object alive;
/// whoever starts the stage threads holds it until they have stopped.
public final class StageHeartbeats: @unchecked Sendable {
    // @unchecked: immutable after init; the counters behind the pointer are atomics.

    static let slotSize = 128

    /// The stages' names, in slot order (used in logs: "stage book made no progress").
    public let stageNames: [String]
    private let slots: UnsafeMutableRawPointer

    public init(stageNames: [String]) {
        precondition(!stageNames.isEmpty, "StageHeartbeats needs at least one stage")
        self.stageNames = stageNames
        slots = UnsafeMutableRawPointer.allocate(byteCount: stageNames.count * Self.slotSize, alignment: Self.slotSize)
        for index in stageNames.indices { counter(index).initialize(to: Atomic(0)) }
    }

    deinit {
        for index in stageNames.indices { counter(index).deinitialize(count: 1) }
        slots.deallocate()
    }

    /// The handle stage `index` (in `stageNames` order) beats through; send it to that stage's thread.
    public func heartbeat(forStage index: Int) -> StageHeartbeat {
        StageHeartbeat(counter: counter(index))
    }

    /// Beats of stage `index` so far.
    public func progress(ofStage index: Int) -> UInt64 {
        counter(index).pointee.load(ordering: .relaxed)
    }

    private func counter(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        precondition(stageNames.indices.contains(index), "no stage \(index) among \(stageNames)")
        return (slots + index * Self.slotSize).bindMemory(to: Atomic<UInt64>.self, capacity: 1)
    }
}

/// A stage thread's progress counter. `beat()` is safe on the hot path on every loop
/// iteration: a relaxed load and store on a line only this thread writes (no lock prefix,
/// no allocation, no reference counting). One thread per heartbeat.
public struct StageHeartbeat: @unchecked Sendable {
    // @unchecked: a raw pointer into StageHeartbeats; only the owning stage thread stores.
    @usableFromInline let counter: UnsafeMutablePointer<Atomic<UInt64>>

    init(counter: UnsafeMutablePointer<Atomic<UInt64>>) { self.counter = counter }

    /// The stage is alive and looping. A plain store suffices: this thread is the only writer.
    @inlinable @inline(__always)
    public func beat() {
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }
}
