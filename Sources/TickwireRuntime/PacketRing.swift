import CTickwire
import TickwireCore
import TickwireSystem
import TickwireTransport

/// Ready packets on their way from the book stage to the send stage: descriptors in an SPSC
/// ring, the bytes in an arena of fixed-size slots beside it (ring position `i` owns slot
/// `i & mask`, so a slot is written only while its descriptor's ring slot is claimed).
public final class PacketRing: @unchecked Sendable {
    // @unchecked: `sender` goes to the book thread, `sendStage` to the send thread (see SpscRing).
    struct Descriptor: BitwiseCopyable {
        var length: UInt32
        var address: UInt32
        var port: UInt16
    }

    let descriptors: SpscRing<Descriptor>
    let arena: HotMemory
    let slotSize: Int
    /// Positions written by the producer; shared by every copy of its sender (A and B lines).
    let written: UnsafeMutablePointer<Int>
    let ringFull: UnsafeMutablePointer<UInt64>

    /// - Parameter slotSize: the largest packet it carries (the channels' max packet size).
    public init(capacity: Int, slotSize: Int, policy: HotMemoryPolicy = .standard) throws(SystemError) {
        descriptors = try SpscRing(minimumCapacity: capacity, policy: policy)
        self.slotSize = (slotSize + 63) & ~63
        arena = try HotMemory(bytes: descriptors.capacity * self.slotSize, policy: policy)
        written = .allocate(capacity: 1)
        written.initialize(to: 0)
        ringFull = .allocate(capacity: 1)
        ringFull.initialize(to: 0)
    }

    deinit {
        written.deallocate()
        ringFull.deallocate()
    }

    public var capacity: Int { descriptors.capacity }

    /// The book stage's sender: copies each packet into the ring. One per line; all on the book thread.
    public func sender(describing downstream: String) -> PacketRingSender {
        PacketRingSender(descriptors: descriptors.producer, arena: arena.base, slotSize: slotSize,
                         mask: descriptors.capacity - 1, written: written, ringFull: ringFull,
                         modeDescription: "ring to the send stage, then \(downstream)")
    }

    /// Packets the ring refused because it was full (they stay in the channel's history).
    public var packetsRefused: UInt64 { ringFull.pointee }
}

/// A `UdpSender` that hands packets to the send stage. A full ring refuses the rest of the
/// batch as `wouldBlock`: counted by the channel and here, the packets are still in the
/// channel's history for retransmission, and nothing half-copied is ever published.
public struct PacketRingSender: UdpSender {
    let descriptors: SpscRing<PacketRing.Descriptor>.Producer
    let arena: UnsafeMutableRawPointer
    let slotSize: Int
    let mask: Int
    let written: UnsafeMutablePointer<Int>
    let ringFull: UnsafeMutablePointer<UInt64>
    public let modeDescription: String

    @inline(__always)
    public mutating func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport {
        var report = SendReport()
        var next = 0
        let arena = self.arena, slotSize = self.slotSize, mask = self.mask, written = self.written
        let pushed = descriptors.produce(upTo: packets.count) { run in
            var filled = 0
            while filled < run.count {
                let bytes = packets[next].bytes
                guard _fastPath(bytes.count <= slotSize) else { break }
                let slot = arena + ((written.pointee &+ filled) & mask) &* slotSize
                slot.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                run[filled] = PacketRing.Descriptor(length: UInt32(bytes.count), address: destination.address.value, port: destination.port)
                report.bytes &+= bytes.count
                filled &+= 1
                next &+= 1
            }
            written.pointee &+= filled
            return filled
        }
        report.packets = pushed
        if _slowPath(pushed < packets.count) {
            // An oversize packet (larger than the slots) is an error; the rest waited on a full ring.
            if pushed < packets.count, packets[pushed].bytes.count > slotSize {
                report.errors = 1
                report.wouldBlock = packets.count &- pushed &- 1
            } else {
                report.wouldBlock = packets.count &- pushed
            }
            ringFull.pointee &+= UInt64(report.wouldBlock)
        }
        return report
    }
}

/// What the send stage did.
public struct SendStageCounters: Sendable, Equatable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var errors: UInt64 = 0
    /// Packets the socket buffer or TX ring could not take (consumers recover them by retransmission).
    public var wouldBlock: UInt64 = 0
    public init() {}
}

/// The send stage: takes packets from the ring in batches and hands each run to the real
/// sender (sendmmsg or AF_XDP) in one call per destination. Each packet's header send time
/// is restamped just before it goes, so it says when the packet was really posted (the
/// book stage stamped it when it left the books).
public struct SendStage<Sender: UdpSender> {
    public private(set) var sender: Sender
    public private(set) var counters = SendStageCounters()
    private let descriptors: SpscRing<PacketRing.Descriptor>.Consumer
    private let arena: UnsafeMutableRawPointer
    private let slotSize: Int
    private let mask: Int
    private var read = 0
    private let batch: UnsafeMutableBufferPointer<OutgoingPacket>
    // Keeps the ring's memory alive as long as the stage.
    private let ring: PacketRing

    public init(ring: PacketRing, sender: Sender, packetsPerSend: Int = 64) {
        self.ring = ring
        self.sender = sender
        descriptors = ring.descriptors.consumer
        arena = ring.arena.base
        slotSize = ring.slotSize
        mask = ring.descriptors.capacity - 1
        batch = .allocate(capacity: packetsPerSend)
        batch.initialize(repeating: OutgoingPacket(UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    /// Frees the batch buffer; the stage must not be used afterwards.
    public func release() { batch.deallocate() }

    /// Sends what is waiting (up to one batch); returns the packets taken.
    @inline(__always)
    public mutating func poll() -> Int {
        let descriptors = self.descriptors
        return descriptors.consume(upTo: batch.count) { run in self.send(run) }
    }

    /// Whether packets are waiting.
    public var hasPackets: Bool { descriptors.hasElements }

    @inline(__always)
    private mutating func send(_ run: UnsafeBufferPointer<PacketRing.Descriptor>) {
        let now = ctw_realtime_ns()
        var start = 0
        while start < run.count {
            let address = run[start].address, port = run[start].port
            var end = start
            while end < run.count, run[end].address == address, run[end].port == port {
                let slot = arena + ((read &+ end) & mask) &* slotSize
                PacketWriter.stampSendTime(now, inPacketAt: slot)
                batch[end &- start] = OutgoingPacket(UnsafeRawBufferPointer(start: slot, count: Int(run[end].length)))
                end &+= 1
            }
            let report = sender.send(UnsafeBufferPointer(rebasing: batch[0..<(end &- start)]),
                                     to: UdpEndpoint(address: IPv4Address(address), port: port))
            counters.packets &+= UInt64(report.packets)
            counters.bytes &+= UInt64(report.bytes)
            counters.errors &+= UInt64(report.errors)
            counters.wouldBlock &+= UInt64(report.wouldBlock)
            start = end
        }
        read &+= run.count
    }
}
