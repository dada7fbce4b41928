import Synchronization
import TickwireSystem

/// Byte offsets inside a ring's hot-memory block. Each index gets a 128-byte line of its own
/// (Intel's adjacent-line prefetcher pulls lines in 128-byte pairs, so 64 is not enough),
/// and each endpoint's private copy of the other side's index gets another, so reading the
/// peer's index never invalidates a line the peer keeps writing.
enum SpscRingLayout {
    static let lineSize = 128
    /// Producer's published index (written by the producer, read by the consumer).
    static let tail = 0
    /// The producer's last-seen copy of `head` (producer only).
    static let producerCache = 1 * lineSize
    /// Consumer's published index (written by the consumer, read by the producer).
    static let head = 2 * lineSize
    /// The consumer's last-seen copy of `tail` (consumer only).
    static let consumerCache = 3 * lineSize
    /// First slot; a multiple of the line size, so 64-byte elements never straddle lines.
    static let slots = 4 * lineSize
}

/// A bounded, lock-free single-producer single-consumer ring of trivially copyable elements
/// (after rigtorp's SPSCQueue): power-of-two capacity, indices on their own 128-byte lines,
/// and each side caching the other's index so it touches the shared line only when its
/// cached view says the ring is full (producer) or empty (consumer).
///
/// The ring owns the memory; the work is done through `producer` and `consumer`, small
/// structs of raw pointers (no class reference, so no retain/release on the hot path).
///
/// Rules:
/// - at any time at most one thread pushes through `producer` and at most one thread pops
///   through `consumer`;
/// - endpoints do not keep the ring alive: whoever uses them must also hold the ring
///   (e.g. the pipeline object that starts the threads owns it) until both threads stop.
///
/// The endpoint methods are `@inlinable @inline(__always)` so release builds of other modules
/// (the executable, benchmarks) inline and specialize them: no call, no generic copy per item.
///
/// A full ring refuses (returns `false` or a short count); nothing blocks or is overwritten.
/// Indices count up forever (Int: centuries at a billion items per second) and are masked
/// into slots, so every slot is usable.
public final class SpscRing<Element: BitwiseCopyable>: @unchecked Sendable {
    // @unchecked: every stored property is immutable; the shared state behind the pointers
    // is either atomic or handed over by the acquire/release protocol.

    /// The largest capacity accepted (2^32 slots).
    public static var maximumCapacity: Int { 1 << 32 }

    /// Slots in the ring: the requested minimum rounded up to a power of two.
    public let capacity: Int
    /// Where the indices and slots live (page kind, NUMA node) — for logs and `doctor`.
    public let memory: HotMemory
    /// The pushing end; use it from one thread only.
    public let producer: Producer
    /// The popping end; use it from one thread only.
    public let consumer: Consumer

    private let tail: UnsafeMutablePointer<Atomic<Int>>
    private let head: UnsafeMutablePointer<Atomic<Int>>

    /// Maps (and by default prefaults) the ring's memory. `minimumCapacity` must be in
    /// 1...`maximumCapacity`; it is rounded up to a power of two so a slot is `index & mask`.
    public init(minimumCapacity: Int, policy: HotMemoryPolicy = .standard) throws(SystemError) {
        precondition(
            minimumCapacity >= 1 && minimumCapacity <= Self.maximumCapacity,
            "SpscRing capacity must be in 1...\(Self.maximumCapacity), got \(minimumCapacity)"
        )
        let capacity = Self.powerOfTwo(atLeast: minimumCapacity)
        let memory = try HotMemory(
            bytes: SpscRingLayout.slots + capacity * MemoryLayout<Element>.stride,
            policy: policy
        )
        let base = memory.base
        let tail = (base + SpscRingLayout.tail).bindMemory(to: Atomic<Int>.self, capacity: 1)
        let head = (base + SpscRingLayout.head).bindMemory(to: Atomic<Int>.self, capacity: 1)
        tail.initialize(to: Atomic(0))
        head.initialize(to: Atomic(0))
        let producerCache = (base + SpscRingLayout.producerCache).bindMemory(to: Int.self, capacity: 1)
        let consumerCache = (base + SpscRingLayout.consumerCache).bindMemory(to: Int.self, capacity: 1)
        producerCache.initialize(to: 0)
        consumerCache.initialize(to: 0)
        let slots = (base + SpscRingLayout.slots).bindMemory(to: Element.self, capacity: capacity)

        self.capacity = capacity
        self.memory = memory
        self.tail = tail
        self.head = head
        self.producer = Producer(slots: slots, mask: capacity - 1, tail: tail, head: head, cachedHead: producerCache)
        self.consumer = Consumer(slots: slots, mask: capacity - 1, tail: tail, head: head, cachedTail: consumerCache)
    }

    deinit {
        tail.deinitialize(count: 1)
        head.deinitialize(count: 1)
    }

    /// Items in the ring at some instant during the call; exact only when both sides are idle.
    public var count: Int {
        // head first: tail never falls behind a head read earlier, so the difference is >= 0.
        let head = head.pointee.load(ordering: .acquiring)
        let tail = tail.pointee.load(ordering: .acquiring)
        return min(tail &- head, capacity)
    }

    /// Whether the ring looked empty during the call.
    public var isEmpty: Bool { count == 0 }

    static func powerOfTwo(atLeast value: Int) -> Int {
        value <= 1 ? 1 : 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
    }

    /// The pushing end of a ring. Copyable, but all copies are the same endpoint.
    public struct Producer: @unchecked Sendable {
        // @unchecked: raw pointers into the ring. Send it to the producer thread and use it
        // there only; two threads pushing at once would hand out the same slot twice.

        @usableFromInline let slots: UnsafeMutablePointer<Element>
        @usableFromInline let mask: Int
        @usableFromInline let tail: UnsafeMutablePointer<Atomic<Int>>
        @usableFromInline let head: UnsafeMutablePointer<Atomic<Int>>
        @usableFromInline let cachedHead: UnsafeMutablePointer<Int>

        init(
            slots: UnsafeMutablePointer<Element>, mask: Int,
            tail: UnsafeMutablePointer<Atomic<Int>>, head: UnsafeMutablePointer<Atomic<Int>>,
            cachedHead: UnsafeMutablePointer<Int>
        ) {
            self.slots = slots
            self.mask = mask
            self.tail = tail
            self.head = head
            self.cachedHead = cachedHead
        }

        @inlinable
        public var capacity: Int { mask &+ 1 }

        /// Elements waiting for the consumer now (for high-water marks; reads the consumer's index).
        @inlinable
        public var occupancy: Int {
            tail.pointee.load(ordering: .relaxed) &- head.pointee.load(ordering: .acquiring)
        }

        /// Appends `element` and publishes it; `false` (and nothing written) when the ring is full.
        @inlinable @inline(__always)
        public func tryPush(_ element: Element) -> Bool {
            let tail = self.tail.pointee.load(ordering: .relaxed)
            guard _fastPath(freeSlots(at: tail, wanted: 1) > 0) else { return false }
            slots[tail & mask] = element
            self.tail.pointee.store(tail &+ 1, ordering: .releasing)
            return true
        }

        /// Copies as many of `source`'s elements as fit, in order, publishing them with one
        /// index store. Returns how many were copied (0 when the ring is full).
        @inlinable @inline(__always)
        public func push(contentsOf source: UnsafeBufferPointer<Element>) -> Int {
            var copied = 0
            return produce(upTo: source.count) { run in
                run.baseAddress!.initialize(from: source.baseAddress! + copied, count: run.count)
                copied &+= run.count
                return run.count
            }
        }

        /// Claims up to `maxCount` free slots and lets `fill` write elements in place; publishes
        /// everything written with one index store. `fill` gets the claimed slots as one run, or
        /// as two when they wrap past the end of the storage (the second only if it filled the
        /// first completely), and returns how many leading slots of that run it initialized.
        /// Returns the total published.
        @inlinable @inline(__always)
        public func produce(
            upTo maxCount: Int,
            _ fill: (UnsafeMutableBufferPointer<Element>) -> Int
        ) -> Int {
            let tail = self.tail.pointee.load(ordering: .relaxed)
            let claimed = min(maxCount, freeSlots(at: tail, wanted: maxCount))
            guard claimed > 0 else { return 0 }
            let start = tail & mask
            let firstRun = min(claimed, capacity &- start)
            var written = fill(UnsafeMutableBufferPointer(start: slots + start, count: firstRun))
            precondition(written >= 0 && written <= firstRun, "fill reported more slots than it was given")
            if written == firstRun && claimed > firstRun {
                let secondRun = claimed &- firstRun
                let more = fill(UnsafeMutableBufferPointer(start: slots, count: secondRun))
                precondition(more >= 0 && more <= secondRun, "fill reported more slots than it was given")
                written &+= more
            }
            if written > 0 {
                self.tail.pointee.store(tail &+ written, ordering: .releasing)
            }
            return written
        }

        /// Free slots seen from `tail`. Reads the consumer's index (a shared line) only when the
        /// cached copy does not show `wanted` free slots.
        @inlinable @inline(__always)
        func freeSlots(at tail: Int, wanted: Int) -> Int {
            let free = capacity &- (tail &- cachedHead.pointee)
            if _fastPath(free >= wanted) { return free }
            let head = self.head.pointee.load(ordering: .acquiring)
            cachedHead.pointee = head
            return capacity &- (tail &- head)
        }
    }

    /// The popping end of a ring. Copyable, but all copies are the same endpoint.
    public struct Consumer: @unchecked Sendable {
        // @unchecked: raw pointers into the ring. Send it to the consumer thread and use it
        // there only; two threads popping at once would both take the same slot.

        @usableFromInline let slots: UnsafeMutablePointer<Element>
        @usableFromInline let mask: Int
        @usableFromInline let tail: UnsafeMutablePointer<Atomic<Int>>
        @usableFromInline let head: UnsafeMutablePointer<Atomic<Int>>
        @usableFromInline let cachedTail: UnsafeMutablePointer<Int>

        init(
            slots: UnsafeMutablePointer<Element>, mask: Int,
            tail: UnsafeMutablePointer<Atomic<Int>>, head: UnsafeMutablePointer<Atomic<Int>>,
            cachedTail: UnsafeMutablePointer<Int>
        ) {
            self.slots = slots
            self.mask = mask
            self.tail = tail
            self.head = head
            self.cachedTail = cachedTail
        }

        @inlinable
        public var capacity: Int { mask &+ 1 }

        /// Whether an element is waiting (reads the producer's index only when the cached copy shows none).
        @inlinable @inline(__always)
        public var hasElements: Bool {
            availableSlots(at: head.pointee.load(ordering: .relaxed), wanted: 1) > 0
        }

        /// Removes and returns the oldest element; `nil` when the ring is empty.
        @inlinable @inline(__always)
        public func tryPop() -> Element? {
            let head = self.head.pointee.load(ordering: .relaxed)
            guard _fastPath(availableSlots(at: head, wanted: 1) > 0) else { return nil }
            let element = slots[head & mask]
            self.head.pointee.store(head &+ 1, ordering: .releasing)
            return element
        }

        /// Copies up to `destination.count` of the oldest elements into `destination`, in order,
        /// releasing their slots with one index store. Returns how many were copied.
        @inlinable @inline(__always)
        public func pop(into destination: UnsafeMutableBufferPointer<Element>) -> Int {
            var copied = 0
            return consume(upTo: destination.count) { run in
                (destination.baseAddress! + copied).update(from: run.baseAddress!, count: run.count)
                copied &+= run.count
            }
        }

        /// Lets `body` read up to `maxCount` of the oldest elements in place — one run, or two
        /// when they wrap past the end of the storage — then releases them all with one index
        /// store. The buffers are valid only inside `body`. Returns how many were consumed.
        @inlinable @inline(__always)
        public func consume(upTo maxCount: Int, _ body: (UnsafeBufferPointer<Element>) -> Void) -> Int {
            let head = self.head.pointee.load(ordering: .relaxed)
            let taken = min(maxCount, availableSlots(at: head, wanted: maxCount))
            guard taken > 0 else { return 0 }
            let start = head & mask
            let firstRun = min(taken, capacity &- start)
            body(UnsafeBufferPointer(start: slots + start, count: firstRun))
            if taken > firstRun {
                body(UnsafeBufferPointer(start: slots, count: taken &- firstRun))
            }
            self.head.pointee.store(head &+ taken, ordering: .releasing)
            return taken
        }

        /// Published elements seen from `head`. Reads the producer's index (a shared line) only
        /// when the cached copy does not show `wanted` elements.
        @inlinable @inline(__always)
        func availableSlots(at head: Int, wanted: Int) -> Int {
            let available = cachedTail.pointee &- head
            if _fastPath(available >= wanted) { return available }
            let tail = self.tail.pointee.load(ordering: .acquiring)
            cachedTail.pointee = tail
            return tail &- head
        }
    }
}
