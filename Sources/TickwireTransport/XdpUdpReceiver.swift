import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// What the AF_XDP receiver binds to and how big its rings are.
public struct XdpReceiverConfiguration: Sendable {
    /// The interface whose queue the AF_XDP socket binds and where the XDP program is attached.
    public var interface: String
    public var queue: UInt32
    /// Destination UDP ports steered to the socket (at most 64); all other traffic reaches the kernel.
    public var ports: [UInt16]
    /// The compiled bpf/tickwire_xdp.c.
    public var programObject: String
    /// Entries of the fill and RX rings (a power of two); the UMEM has this many frames, so the
    /// fill ring always has room for every free frame.
    public var ringSize: Int
    /// Bytes per UMEM frame: 2048 or 4096 (a frame holds one Ethernet frame up to the MTU).
    public var frameSize: Int
    /// RX descriptors taken per ring access.
    public var batchSize: Int
    /// Where the UMEM comes from (huge pages when available).
    public var memoryPolicy: HotMemoryPolicy
    /// Skips the zero-copy attempt (it is refused on veth and many drivers anyway).
    public var copyModeOnly: Bool

    public init(
        interface: String, queue: UInt32 = 0, ports: [UInt16], programObject: String? = nil,
        ringSize: Int = 2048, frameSize: Int = 4096, batchSize: Int = 64,
        memoryPolicy: HotMemoryPolicy = .standard, copyModeOnly: Bool = false
    ) {
        self.interface = interface
        self.queue = queue
        self.ports = ports
        self.programObject = programObject ?? XdpRedirectProgram.defaultObjectPath
        self.ringSize = ringSize
        self.frameSize = frameSize
        self.batchSize = batchSize
        self.memoryPolicy = memoryPolicy
        self.copyModeOnly = copyModeOnly
    }

    func validate() throws(XdpSetupError) {
        guard !ports.isEmpty, ports.count <= 64, !ports.contains(0) else {
            throw .invalidConfiguration("1 to 64 non-zero ports needed, got \(ports)")
        }
        guard queue < 64 else { throw .invalidConfiguration("queue \(queue) is beyond the program's 64-entry socket map") }
        guard ringSize >= 64, ringSize <= 1 << 16, ringSize & (ringSize - 1) == 0 else {
            throw .invalidConfiguration("ring size \(ringSize) must be a power of two in 64...65536")
        }
        guard frameSize == 2048 || frameSize == 4096 else { throw .invalidConfiguration("frame size \(frameSize) must be 2048 or 4096") }
        guard batchSize >= 1, batchSize <= ringSize else { throw .invalidConfiguration("batch size \(batchSize) must be 1...\(ringSize)") }
    }
}

/// The kernel's counters for one AF_XDP socket: frames it could not hand over.
public struct XdpSocketStatistics: Equatable, Sendable {
    public var dropped: UInt64
    public var invalidDescriptors: UInt64
    /// The RX ring was full: the consumer does not keep up.
    public var ringFull: UInt64
    /// No free frame in the fill ring.
    public var fillRingEmpty: UInt64
}

/// Receives the feed's UDP datagrams through AF_XDP, past the kernel's IP stack: the XDP
/// program steers the configured ports into the socket, the frame parser validates each frame
/// (no firewall in front of it), the consumer sees the UDP payload in place in the UMEM, and
/// the frame goes straight back to the fill ring. Everything is allocated at init; `poll`
/// allocates nothing. Owned by one thread.
///
/// There is no kernel receive timestamp on this path: `receiveTime` is CLOCK_REALTIME read
/// once per RX batch (`userspaceRealtime`).
public final class XdpUdpReceiver: UdpReceiver {
    public let configuration: XdpReceiverConfiguration
    /// e.g. "xdp: COPY mode (not zero-copy: Operation not supported) on eth1 queue 0, program native, ports 30001, …".
    public let modeDescription: String
    public let isZeroCopy: Bool
    /// Why zero-copy was not used, when it was tried and refused.
    public let zeroCopyRefusal: SystemError?

    /// Frames taken from the RX ring (delivered or dropped).
    public private(set) var framesReceived = 0
    public private(set) var datagramsDelivered = 0
    /// Frames the parser rejected, by reason.
    public private(set) var drops = UdpFrameDropCounts()

    private let memory: HotMemory
    private let program: XdpRedirectProgram
    private let umem: OpaquePointer
    private let socket: OpaquePointer
    private let umemSize: UInt64
    private let frameSize: UInt64
    private let batchSize: Int
    /// One RX batch: descriptor addresses and lengths.
    private let addresses: UnsafeMutableBufferPointer<UInt64>
    private let lengths: UnsafeMutableBufferPointer<UInt32>
    /// Frames consumed and waiting to go back to the fill ring.
    private let freeFrames: UnsafeMutableBufferPointer<UInt64>
    private var freeFrameCount = 0

    /// Attaches the XDP program, creates the UMEM and the socket (zero-copy first unless
    /// `copyModeOnly`, then copy mode), registers the socket for its queue and fills the fill ring.
    public init(_ configuration: XdpReceiverConfiguration) throws(XdpSetupError) {
        try configuration.validate()
        self.configuration = configuration
        let interfaceIndex = if_nametoindex(configuration.interface)
        guard interfaceIndex != 0 else { throw .interfaceNotFound(configuration.interface) }
        let frameCount = configuration.ringSize
        do throws(SystemError) {
            memory = try HotMemory(bytes: frameCount * configuration.frameSize, policy: configuration.memoryPolicy)
        } catch {
            throw .umem(error)
        }
        program = try XdpRedirectProgram(
            objectPath: configuration.programObject, interface: configuration.interface, interfaceIndex: Int32(interfaceIndex))
        for port in configuration.ports { try program.allow(port: port) }

        var refusal: SystemError?
        var bound: (umem: OpaquePointer, socket: OpaquePointer)?
        if !configuration.copyModeOnly {
            do throws(XdpSetupError) {
                bound = try Self.bind(configuration, memory: memory, bindFlags: CTW_XDP_BIND_ZEROCOPY)
            } catch {
                if case .socket(_, _, let error) = error { refusal = error } else { throw error }
            }
        }
        if bound == nil { bound = try Self.bind(configuration, memory: memory, bindFlags: CTW_XDP_BIND_COPY) }
        guard let (umem, socket) = bound else { preconditionFailure("bind returns or throws") }
        self.umem = umem
        self.socket = socket
        isZeroCopy = ctw_xsk_is_zero_copy(ctw_xsk_socket_fd(socket)) == 1
        zeroCopyRefusal = refusal
        umemSize = UInt64(frameCount * configuration.frameSize)
        frameSize = UInt64(configuration.frameSize)
        batchSize = configuration.batchSize
        addresses = .allocate(capacity: configuration.batchSize)
        lengths = .allocate(capacity: configuration.batchSize)
        freeFrames = .allocate(capacity: frameCount)
        for frame in 0..<frameCount { freeFrames[frame] = UInt64(frame * configuration.frameSize) }
        freeFrameCount = frameCount

        // Loud, as the sender's: copy mode costs a copy per frame and is easy to miss.
        let mode = isZeroCopy ? "zero-copy mode" : "COPY mode (not zero-copy: \(refusal?.reason ?? "copy mode only configured"))"
        modeDescription = "xdp: \(mode) on \(configuration.interface) queue \(configuration.queue), "
            + "program \(program.attachDescription), ports \(configuration.ports.map(String.init).joined(separator: ",")), "
            + "UMEM \(frameCount) x \(configuration.frameSize) B on \(memory.kind.rawValue) pages, receive times userspace-realtime per batch"
        refill()
        // Every property is set: if this throws, deinit releases what was made.
        try program.register(socket: ctw_xsk_socket_fd(socket), queue: configuration.queue)
    }

    deinit {
        program.unregister(queue: configuration.queue)
        ctw_xsk_socket_delete(socket)
        _ = ctw_xsk_umem_delete(umem)
        addresses.deallocate()
        lengths.deallocate()
        freeFrames.deallocate()
    }

    /// A UMEM and a socket bound with `bindFlags`. EBUSY (the queue is still being released
    /// by an earlier socket) is retried for about 100 ms.
    private static func bind(
        _ configuration: XdpReceiverConfiguration, memory: HotMemory, bindFlags: UInt32
    ) throws(XdpSetupError) -> (umem: OpaquePointer, socket: OpaquePointer) {
        var umemConfig = ctw_xsk_umem_config(
            fill_size: UInt32(configuration.ringSize), comp_size: UInt32(configuration.ringSize),
            frame_size: UInt32(configuration.frameSize), frame_headroom: 0)
        var umem: OpaquePointer?
        do throws(SystemError) {
            try negativeErrnoCall("xsk_umem__create") {
                ctw_xsk_umem_create(&umem, memory.base, UInt64(configuration.ringSize * configuration.frameSize), &umemConfig)
            }
        } catch {
            throw .umem(error)
        }
        guard let umem else { throw .umem(SystemError("xsk_umem__create", errno: EINVAL)) }
        var socketConfig = ctw_xsk_socket_config(
            rx_size: UInt32(configuration.ringSize), tx_size: 0, bind_flags: bindFlags, xdp_flags: 0, inhibit_prog_load: 1)
        var attempts = 0
        while true {
            var socket: OpaquePointer?
            let rc = ctw_xsk_socket_create(&socket, configuration.interface, configuration.queue, umem, &socketConfig)
            if rc == 0, let socket { return (umem, socket) }
            attempts += 1
            if rc == -EBUSY && attempts < 20 {
                var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
                nanosleep(&pause, nil)
                continue
            }
            _ = ctw_xsk_umem_delete(umem)
            throw .socket(interface: configuration.interface, queue: configuration.queue,
                          SystemError("xsk_socket__create", errno: rc < 0 ? -rc : EINVAL))
        }
    }

    /// Hands every valid datagram among the next `limit` frames to `body`, returns how many it
    /// handed over; malformed frames are counted in `drops`. Never blocks.
    public func poll(limit: Int, _ body: (ReceivedDatagram) -> Void) -> Int {
        var delivered = 0
        var budget = limit
        while budget > 0 {
            let received = Int(ctw_xsk_receive(socket, UInt32(min(budget, batchSize)), addresses.baseAddress, lengths.baseAddress))
            if received == 0 { break }
            budget -= received
            framesReceived += received
            let receiveTime = ReceiveTimestamp(nanoseconds: ctw_realtime_ns(), source: .userspaceRealtime)
            for index in 0..<received {
                let address = addresses[index]
                let length = UInt64(lengths[index])
                guard address < umemSize, length <= umemSize - address else {
                    drops[.descriptorOutOfBounds] += 1
                    continue
                }
                do throws(UdpFrameDropReason) {
                    let frame = try UdpFrame(parsing: UnsafeRawBufferPointer(start: memory.base + Int(address), count: Int(length)))
                    body(ReceivedDatagram(payload: frame.payload, destination: frame.destination, source: frame.source, receiveTime: receiveTime))
                    delivered += 1
                } catch {
                    drops[error] += 1
                }
                // More frames back than the UMEM has would mean a kernel handing a frame out twice.
                guard freeFrameCount < freeFrames.count else { continue }
                freeFrames[freeFrameCount] = address - address % frameSize
                freeFrameCount += 1
            }
            refill()
        }
        datagramsDelivered += delivered
        return delivered
    }

    /// Gives every free frame back to the kernel (the fill ring has room for all of them).
    private func refill() {
        guard freeFrameCount > 0 else { return }
        let queued = Int(ctw_xsk_fill(socket, freeFrames.baseAddress, UInt32(freeFrameCount)))
        if queued < freeFrameCount {
            let rest = freeFrameCount - queued
            (freeFrames.baseAddress! as UnsafeMutablePointer<UInt64>).update(from: freeFrames.baseAddress! + queued, count: rest)
        }
        freeFrameCount -= queued
    }

    /// The kernel's drop counters for this socket (a getsockopt: not for the per-packet path).
    public func kernelStatistics() throws(SystemError) -> XdpSocketStatistics {
        var statistics = ctw_xsk_rx_statistics()
        try negativeErrnoCall("getsockopt(XDP_STATISTICS)") { ctw_xsk_read_rx_statistics(ctw_xsk_socket_fd(socket), &statistics) }
        return XdpSocketStatistics(
            dropped: statistics.rx_dropped, invalidDescriptors: statistics.rx_invalid_descriptors,
            ringFull: statistics.rx_ring_full, fillRingEmpty: statistics.rx_fill_ring_empty)
    }
}
