import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// Why the AF_XDP sender could not start (the factory falls back to the standard sender
/// with this as the reason, unless told not to).
public enum XdpSenderError: Error, Equatable, CustomStringConvertible {
    case noInterface
    case interface(String, SystemError)
    /// MTU + Ethernet header does not fit the largest UMEM frame (4 KiB).
    case mtuTooLarge(interface: String, mtu: Int)
    case memory(SystemError)
    case socket(interface: String, queue: UInt32, SystemError)

    public var description: String {
        switch self {
        case .noInterface: "xdp needs an interface (--iface NAME)"
        case .interface(let name, let error): "interface \(name): \(error)"
        case .mtuTooLarge(let name, let mtu): "interface \(name): MTU \(mtu) does not fit a 4 KiB UMEM frame"
        case .memory(let error): "UMEM: \(error)"
        case .socket(let name, let queue, let error): "AF_XDP socket on \(name) queue \(queue): \(error)"
        }
    }
}

/// The kernel's transmit counters of an AF_XDP socket (XDP_STATISTICS).
public struct XdpSenderStatistics: Equatable, Sendable {
    /// TX descriptors the kernel refused (bad UMEM address or length).
    public var invalidDescriptors: UInt64
    /// Kicks that found the TX ring empty.
    public var ringEmpty: UInt64

    public init(invalidDescriptors: UInt64 = 0, ringEmpty: UInt64 = 0) {
        self.invalidDescriptors = invalidDescriptors
        self.ringEmpty = ringEmpty
    }
}

/// Sends UDP through an AF_XDP socket (libxdp xsk API): each packet is copied once into a
/// UMEM frame behind hand-built Ethernet/IPv4/UDP headers and handed to the TX ring.
///
/// Zero-copy bind is tried first, then copy mode; `modeDescription` says which runs and why.
/// `send` never waits: when no frame or TX slot frees up within a few kicks it reports the
/// rest as `wouldBlock`. It allocates nothing once a destination is known; the first send to
/// a new unicast destination reads the neighbour table (call `prepare` at start-up instead).
public final class XdpUdpSender: UdpSender {
    public let modeDescription: String
    public let interface: NetworkInterface
    /// True when the socket runs in zero-copy mode (the NIC driver DMAs from the UMEM).
    public let zeroCopy: Bool
    /// The errno of the last failed TX kick other than "busy, try again" (0: none).
    public private(set) var lastKickErrno: Int32 = 0

    /// UMEM frames, each holding one packet from the TX ring until its completion.
    public let frameCount: Int

    private let memory: HotMemory
    private let umem: OpaquePointer
    private let socket: OpaquePointer
    private let frameSize: Int
    /// Largest payload a frame carries: MTU minus IPv4 and UDP headers.
    private let maximumPayload: Int
    private let batchSize: Int
    private let multicastTTL: UInt8
    private let sourcePort: UInt16?

    /// Frames owned by this side (not in the TX or completion ring): a stack of UMEM offsets.
    private let freeFrames: UnsafeMutablePointer<UInt64>
    private var freeFrameCount: Int
    /// Scratch for completed addresses, one completion ring's worth.
    private let completed: UnsafeMutablePointer<UInt64>
    private let completionCapacity: UInt32
    private var identification: UInt16 = 0
    private var destinations: DestinationTable

    /// Kicks per send before the rest of a batch is reported as `wouldBlock`.
    static let kickAttempts = 8
    /// How long a queue still held by a just-closed socket (EBUSY) is retried.
    static let busyRetryNanoseconds: UInt64 = 500_000_000

    public init(configuration: SenderConfiguration) throws(XdpSenderError) {
        guard let name = configuration.interface else { throw .noInterface }
        do throws(SystemError) { interface = try NetworkInterface(named: name) } catch { throw .interface(name, error) }
        let frameLength = interface.mtu + UdpFrameBuilder.ethernetHeaderLength
        guard frameLength <= 4096 else { throw .mtuTooLarge(interface: name, mtu: interface.mtu) }
        // Aligned UMEM frames are a power of two between 2 KiB and the page size.
        frameSize = frameLength <= 2048 ? 2048 : 4096
        maximumPayload = interface.mtu - UdpFrameBuilder.ipv4HeaderLength - UdpFrameBuilder.udpHeaderLength
        batchSize = configuration.batchSize
        multicastTTL = configuration.multicastTTL
        sourcePort = configuration.sourcePort

        frameCount = Int(configuration.xdpFrameCount)
        do throws(SystemError) {
            memory = try HotMemory(bytes: frameCount * frameSize)
        } catch {
            throw .memory(error)
        }
        let bound = try Self.bind(memory: memory, frameSize: frameSize, configuration: configuration, interface: name)
        umem = bound.umem
        socket = bound.socket
        zeroCopy = bound.zeroCopy

        freeFrames = .allocate(capacity: frameCount)
        for frame in 0..<frameCount { freeFrames[frame] = UInt64(frame * frameSize) }
        freeFrameCount = frameCount
        completionCapacity = configuration.xdpCompletionRingSize
        completed = .allocate(capacity: Int(completionCapacity))
        destinations = DestinationTable()

        let mode = zeroCopy ? "zero-copy mode" : "COPY mode (not zero-copy: \(bound.zeroCopyRefusal ?? "refused"))"
        modeDescription = "xdp: \(mode) on \(name) queue \(configuration.xdpQueue), MTU \(interface.mtu);"
            + " UMEM \(frameCount) frames of \(frameSize) B, \(memory); TX ring \(configuration.xdpTxRingSize),"
            + " completion ring \(configuration.xdpCompletionRingSize), batches of \(batchSize)"
    }

    deinit {
        ctw_xsk_socket_delete(socket)
        _ = ctw_xsk_umem_delete(umem)
        freeFrames.deallocate()
        completed.deallocate()
        destinations.deallocate()
    }

    /// Frames handed to the TX ring whose completion has not been reclaimed yet.
    public var framesInFlight: Int { frameCount - freeFrameCount }

    /// The kernel's TX counters for this socket (a getsockopt: for housekeeping, not per packet).
    public func kernelStatistics() throws(SystemError) -> XdpSenderStatistics {
        var statistics = ctw_xsk_tx_statistics()
        try negativeErrnoCall("getsockopt(XDP_STATISTICS)") { ctw_xsk_read_tx_statistics(ctw_xsk_socket_fd(socket), &statistics) }
        return XdpSenderStatistics(invalidDescriptors: statistics.tx_invalid_descriptors, ringEmpty: statistics.tx_ring_empty)
    }

    /// Resolves `destination`'s Ethernet address now (start-up), so the first send to it is
    /// as cheap as the rest: multicast maps directly, unicast comes from the neighbour table.
    public func prepare(_ destination: UdpEndpoint) throws(NeighborError) {
        _ = try slot(for: destination)
    }

    public func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport {
        var report = SendReport()
        guard let slot = try? slot(for: destination) else {
            report.errors = packets.count
            return report
        }
        let header = destinations.header(slot)
        let addressSum = destinations.pseudoHeaderAddressSum[slot]
        var next = 0
        var kicks = 0
        while next < packets.count {
            reclaimCompletedFrames()
            if packets[next].bytes.count > maximumPayload {
                // Frames never exceed the MTU: an oversize packet is refused, the rest go on.
                report.errors += 1
                next += 1
                continue
            }
            // The run of packets that fit, limited by the batch and the frames at hand.
            var count = 0
            let limit = min(batchSize, packets.count - next, freeFrameCount)
            while count < limit, packets[next + count].bytes.count <= maximumPayload { count += 1 }
            var first: UInt32 = 0
            let reserved = count == 0 ? 0 : Int(ctw_xsk_tx_reserve(socket, UInt32(count), &first))
            if reserved == 0 {
                // TX ring or frames exhausted: let the kernel drain, a bounded number of times.
                kicks += 1
                if kicks > Self.kickAttempts {
                    report.wouldBlock = packets.count - next
                    break
                }
                kick()
                continue
            }
            for offset in 0..<reserved {
                let payload = packets[next + offset].bytes
                freeFrameCount -= 1
                let address = freeFrames[freeFrameCount]
                let frame = memory.base + Int(address)
                frame.copyMemory(from: header, byteCount: UdpFrameBuilder.headerLength)
                if let base = payload.baseAddress {
                    (frame + UdpFrameBuilder.headerLength).copyMemory(from: base, byteCount: payload.count)
                }
                identification &+= 1
                let length = UdpFrameBuilder.finish(frame, payloadLength: payload.count, identification: identification,
                                                    pseudoHeaderAddressSum: addressSum)
                ctw_xsk_tx_set(socket, first &+ UInt32(offset), address, UInt32(length))
                report.bytes += payload.count
            }
            ctw_xsk_tx_submit(socket, UInt32(reserved))
            report.packets += reserved
            next += reserved
            kick()
        }
        return report
    }

    /// Wakes the kernel to transmit what the TX ring holds. Copy mode sends a bounded budget
    /// per call and answers EAGAIN while more is queued: a few calls, never a spin.
    private func kick() {
        if zeroCopy, ctw_xsk_tx_needs_wakeup(socket) == 0 { return }
        for _ in 0..<Self.kickAttempts {
            let result = ctw_xsk_kick_tx(socket)
            if result == 0 { return }
            if result == -EAGAIN || result == -EBUSY || result == -ENOBUFS || result == -EINTR {
                reclaimCompletedFrames()
                continue
            }
            lastKickErrno = -result
            return
        }
    }

    /// Takes the frames the kernel has finished with back onto the free stack.
    @inline(__always)
    private func reclaimCompletedFrames() {
        let count = Int(ctw_xsk_complete(socket, completionCapacity, completed))
        for index in 0..<count {
            freeFrames[freeFrameCount] = completed[index]
            freeFrameCount += 1
        }
    }

    /// The destination table slot for `destination`, building its header template on a miss.
    private func slot(for destination: UdpEndpoint) throws(NeighborError) -> Int {
        if let slot = destinations.find(destination) { return slot }
        let mac = destination.address.isMulticast
            ? MACAddress(multicast: destination.address)
            : try NeighborTable.resolve(destination.address, on: interface)
        let flow = UdpFrameBuilder.Flow(
            sourceMAC: interface.mac, destinationMAC: mac,
            source: UdpEndpoint(address: interface.address, port: sourcePort ?? destination.port),
            destination: destination, ttl: destination.address.isMulticast ? multicastTTL : 64)
        return destinations.insert(flow)
    }

    /// Creates the UMEM and binds the socket: zero-copy first, then copy mode; a queue still
    /// held by a closing socket (EBUSY) is retried briefly. Each attempt gets a fresh UMEM
    /// registration: a failed bind leaves the old one unusable.
    private static func bind(memory: HotMemory, frameSize: Int, configuration: SenderConfiguration, interface: String)
        throws(XdpSenderError) -> (umem: OpaquePointer, socket: OpaquePointer, zeroCopy: Bool, zeroCopyRefusal: String?)
    {
        var zeroCopyRefusal: String?
        for zeroCopy in [true, false] {
            let deadline = ctw_monotonic_ns() + busyRetryNanoseconds
            while true {
                var umemConfig = ctw_xsk_umem_config(
                    fill_size: 64, comp_size: configuration.xdpCompletionRingSize, frame_size: UInt32(frameSize), frame_headroom: 0)
                var umem: OpaquePointer?
                do throws(SystemError) {
                    try negativeErrnoCall("xsk_umem__create") {
                        ctw_xsk_umem_create(&umem, memory.base, UInt64(memory.size), &umemConfig)
                    }
                } catch {
                    throw .memory(error)
                }
                let bindFlags = (zeroCopy ? CTW_XDP_BIND_ZEROCOPY : CTW_XDP_BIND_COPY) | CTW_XDP_BIND_USE_NEED_WAKEUP
                // TX only: no RX ring and no XDP program (inhibit_prog_load): received
                // traffic keeps going to the kernel.
                var socketConfig = ctw_xsk_socket_config(
                    rx_size: 0, tx_size: configuration.xdpTxRingSize, bind_flags: bindFlags, xdp_flags: 0, inhibit_prog_load: 1)
                var socket: OpaquePointer?
                let result = ctw_xsk_socket_create(&socket, interface, configuration.xdpQueue, umem, &socketConfig)
                if result == 0, let umem, let socket { return (umem, socket, zeroCopy, zeroCopyRefusal) }
                _ = ctw_xsk_umem_delete(umem)
                if result == -EBUSY, ctw_monotonic_ns() < deadline {
                    usleep(5_000)
                    continue
                }
                let error = SystemError(zeroCopy ? "xsk_socket__create(XDP_ZEROCOPY)" : "xsk_socket__create(XDP_COPY)", errno: -result)
                if !zeroCopy { throw .socket(interface: interface, queue: configuration.xdpQueue, error) }
                zeroCopyRefusal = error.description
                break
            }
        }
        preconditionFailure("copy mode either binds or throws")
    }
}

/// Header templates for the destinations one sender has seen, in preallocated memory: a
/// few channels per sender, so a linear search beats hashing. When full, the oldest entry
/// is replaced.
struct DestinationTable {
    static let capacity = 16

    private(set) var endpoints: UnsafeMutablePointer<UdpEndpoint?>
    private(set) var pseudoHeaderAddressSum: UnsafeMutablePointer<UInt64>
    private let headers: UnsafeMutableRawPointer
    private var count = 0
    private var nextReplaced = 0

    init() {
        endpoints = .allocate(capacity: Self.capacity)
        endpoints.initialize(repeating: nil, count: Self.capacity)
        pseudoHeaderAddressSum = .allocate(capacity: Self.capacity)
        pseudoHeaderAddressSum.initialize(repeating: 0, count: Self.capacity)
        headers = .allocate(byteCount: Self.capacity * UdpFrameBuilder.headerLength, alignment: 8)
    }

    func deallocate() {
        endpoints.deallocate()
        pseudoHeaderAddressSum.deallocate()
        headers.deallocate()
    }

    @inline(__always)
    func find(_ destination: UdpEndpoint) -> Int? {
        for slot in 0..<count where endpoints[slot] == destination { return slot }
        return nil
    }

    @inline(__always)
    func header(_ slot: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(headers + slot * UdpFrameBuilder.headerLength)
    }

    mutating func insert(_ flow: UdpFrameBuilder.Flow) -> Int {
        let slot: Int
        if count < Self.capacity {
            slot = count
            count += 1
        } else {
            slot = nextReplaced
            nextReplaced = (nextReplaced + 1) % Self.capacity
        }
        endpoints[slot] = flow.destination
        pseudoHeaderAddressSum[slot] = flow.pseudoHeaderAddressSum
        UdpFrameBuilder.writeTemplate(flow, to: headers + slot * UdpFrameBuilder.headerLength)
        return slot
    }
}
