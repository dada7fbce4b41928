/// Fixed-size packet copies, allocated once: `count` slots of `slotSize` bytes, each with the
/// sequence number, length and receive time of the packet it holds. The client keeps packets
/// that arrived ahead of a gap (`ReorderWindow`) and, while books are being recovered, the
/// packets processed since (`PacketHistory`), without allocating per packet.
final class PacketSlots {
    let count: Int
    let slotSize: Int
    let bytes: UnsafeMutableRawPointer
    /// Per slot: the packet's sequence number, 0 when the slot is empty.
    let sequences: UnsafeMutablePointer<UInt64>
    let lengths: UnsafeMutablePointer<Int>
    let receiveTimes: UnsafeMutablePointer<UInt64>

    init(count: Int, slotSize: Int) {
        precondition(count > 0 && slotSize > 0)
        self.count = count
        self.slotSize = slotSize
        bytes = .allocate(byteCount: count * slotSize, alignment: 64)
        sequences = .allocate(capacity: count)
        sequences.initialize(repeating: 0, count: count)
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
        receiveTimes = .allocate(capacity: count)
        receiveTimes.initialize(repeating: 0, count: count)
    }

    deinit {
        bytes.deallocate()
        sequences.deallocate()
        lengths.deallocate()
        receiveTimes.deallocate()
    }

    /// Copies `packet` into slot `index`; false when it is larger than a slot.
    @inline(__always)
    func store(_ packet: UnsafeRawBufferPointer, sequence: UInt64, receiveTime: UInt64, at index: Int) -> Bool {
        guard packet.count <= slotSize, let source = packet.baseAddress else { return false }
        (bytes + index &* slotSize).copyMemory(from: source, byteCount: packet.count)
        sequences[index] = sequence
        lengths[index] = packet.count
        receiveTimes[index] = receiveTime
        return true
    }

    @inline(__always)
    func packet(at index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + index &* slotSize, count: lengths[index])
    }

    func clear() { sequences.update(repeating: 0, count: count) }
}

/// Packets that arrived ahead of the next expected sequence number, held until the missing
/// ones arrive (from the other line or a retransmission) or are given up. Slot = sequence
/// modulo the window, so a lookup is one load.
struct ReorderWindow {
    let slots: PacketSlots
    /// Packets held now.
    private(set) var held = 0

    init(packets: Int, slotSize: Int) { slots = PacketSlots(count: packets, slotSize: slotSize) }

    var capacity: Int { slots.count }

    /// False when `sequence` is beyond the window from `expected`, or the packet too large.
    mutating func hold(_ packet: UnsafeRawBufferPointer, sequence: UInt64, receiveTime: UInt64, expected: UInt64) -> Bool {
        guard sequence &- expected < UInt64(slots.count) else { return false }
        let index = Int(sequence % UInt64(slots.count))
        if slots.sequences[index] == sequence { return true }  // already held (the other line's copy)
        guard slots.store(packet, sequence: sequence, receiveTime: receiveTime, at: index) else { return false }
        held &+= 1
        return true
    }

    /// The slot holding `sequence`, if any.
    @inline(__always)
    func slot(of sequence: UInt64) -> Int? {
        guard held > 0 else { return nil }
        let index = Int(sequence % UInt64(slots.count))
        return slots.sequences[index] == sequence ? index : nil
    }

    mutating func release(_ index: Int) {
        slots.sequences[index] = 0
        held &-= 1
    }

    /// The lowest sequence held at or after `from`, if any (a linear scan: only when giving up a gap).
    func firstHeld(from: UInt64) -> UInt64? {
        guard held > 0 else { return nil }
        var lowest: UInt64?
        for index in 0..<slots.count {
            let sequence = slots.sequences[index]
            if sequence >= from && sequence != 0 && sequence < (lowest ?? .max) { lowest = sequence }
        }
        return lowest
    }

    mutating func removeAll() {
        slots.clear()
        held = 0
    }
}

/// The incremental packets processed since books started recovering, oldest first, so a
/// snapshot tagged with an older `incrementalSequence` can be brought up to date. A ring:
/// when full the oldest goes, and snapshots older than what remains wait for the next loop.
struct PacketHistory {
    let slots: PacketSlots
    private var start = 0
    private(set) var count = 0
    /// Every processed packet from this sequence on is held (or was evicted: see `firstHeld`).
    private(set) var contiguousFrom: UInt64 = 0

    init(packets: Int, slotSize: Int) { slots = PacketSlots(count: packets, slotSize: slotSize) }

    /// Starts over at `sequence`: packets before it are not (all) in the history.
    mutating func restart(at sequence: UInt64) {
        start = 0
        count = 0
        contiguousFrom = sequence
    }

    /// The first sequence from which every processed packet is held.
    var firstHeld: UInt64 {
        count == slots.count ? max(contiguousFrom, slots.sequences[start]) : contiguousFrom
    }

    /// Appends a processed packet; one that does not fit a slot breaks the history there.
    mutating func append(_ packet: UnsafeRawBufferPointer, sequence: UInt64, receiveTime: UInt64) {
        let index = (start &+ count) % slots.count
        guard slots.store(packet, sequence: sequence, receiveTime: receiveTime, at: index) else {
            restart(at: sequence &+ 1)
            return
        }
        if count == slots.count {
            start = (start &+ 1) % slots.count
        } else {
            count &+= 1
        }
    }

    /// Visits the held packets with sequence numbers above `after`, oldest first.
    func forEach(after: UInt64, _ body: (UnsafeRawBufferPointer, UInt64, UInt64) -> Void) {
        for offset in 0..<count {
            let index = (start &+ offset) % slots.count
            let sequence = slots.sequences[index]
            if sequence > after { body(slots.packet(at: index), sequence, slots.receiveTimes[index]) }
        }
    }
}
