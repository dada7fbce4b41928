import TickwireCore
import TickwireSystem

/// The last `capacity` sequenced packets of one channel, each in a fixed slot of the channel's
/// maximum packet size, all preallocated. The channel builds each packet in place in its slot
/// and sends it from there, so keeping the history costs no copy; the retransmission service
/// re-sends from the same bytes, so a re-sent packet is byte-identical to the original.
///
/// Packet `s` lives in slot `s % capacity`: opening the slot for a new packet drops the
/// packet `capacity` sequence numbers older. Confined to the publisher's thread.
public final class PacketHistory {
    public let capacity: Int
    /// The most bytes a packet may have (the channel's max packet size).
    public let packetCapacity: Int
    /// The sequence number the next committed packet carries (1 for a new session).
    public private(set) var nextSequence: UInt64 = 1
    /// The first sequence still held, 0 when none is.
    public private(set) var oldestSequence: UInt64 = 0

    /// Slots are whole cache lines, so each packet starts 64-byte aligned.
    private let slotStride: Int
    private let memory: HotMemory
    private let lengths: UnsafeMutablePointer<Int>

    /// - Parameters:
    ///   - capacity: packets kept (the retransmission window).
    ///   - packetCapacity: bytes per packet, the channel's max packet size.
    public init(capacity: Int, packetCapacity: Int, policy: HotMemoryPolicy = .standard) throws(SystemError) {
        precondition(capacity > 0, "history capacity must be positive")
        precondition(
            packetCapacity >= WireProtocol.packetHeaderSize && packetCapacity <= WireProtocol.largestPacketSize,
            "packet capacity must be within 32...65507 bytes")
        self.capacity = capacity
        self.packetCapacity = packetCapacity
        slotStride = (packetCapacity + 63) / 64 * 64
        memory = try HotMemory(bytes: capacity * slotStride, policy: policy)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
    }

    deinit { lengths.deallocate() }

    /// Bytes of memory behind the history and the page kind it got.
    public var memoryDescription: String { memory.description }

    /// The slot for packet `nextSequence`, to build it in place. Drops the packet that
    /// lived there (`capacity` numbers older).
    func openNextSlot() -> UnsafeMutableRawBufferPointer {
        let slot = slotIndex(nextSequence)
        if lengths[slot] != 0 {
            lengths[slot] = 0
            oldestSequence = nextSequence &- UInt64(capacity) &+ 1
        }
        return UnsafeMutableRawBufferPointer(start: slotBase(slot), count: packetCapacity)
    }

    /// Packet `nextSequence`, built in its slot, is complete: keep it and move on.
    func commitNextSlot(length: Int) -> UnsafeMutableRawBufferPointer {
        precondition(length >= WireProtocol.packetHeaderSize && length <= packetCapacity, "packet length outside its slot")
        let slot = slotIndex(nextSequence)
        lengths[slot] = length
        if oldestSequence == 0 { oldestSequence = nextSequence }
        nextSequence += 1
        return UnsafeMutableRawBufferPointer(start: slotBase(slot), count: length)
    }

    /// The held packet with that sequence number, nil when it is outside the window.
    public func packet(_ sequence: UInt64) -> UnsafeRawBufferPointer? {
        guard contains(sequence) else { return nil }
        let slot = slotIndex(sequence)
        return UnsafeRawBufferPointer(start: slotBase(slot), count: lengths[slot])
    }

    /// Whether packet `sequence` is still held.
    public func contains(_ sequence: UInt64) -> Bool {
        oldestSequence != 0 && sequence >= oldestSequence && sequence < nextSequence
    }

    func slotIndex(_ sequence: UInt64) -> Int { Int(sequence % UInt64(capacity)) }

    func slotBase(_ slot: Int) -> UnsafeMutableRawPointer { memory.base + slot &* slotStride }
}
