import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// What a `SocketUdpReceiver` listens on and how.
public struct SocketReceiverConfiguration: Sendable {
    /// A multicast group and port to join, or a unicast address (0.0.0.0: any) and port to bind.
    public var endpoint: UdpEndpoint
    /// The interface to join the group on (and to ask for NIC timestamps on); nil: by route.
    public var interface: String?
    /// SO_RCVBUF asked for (SO_RCVBUFFORCE first, so `net.core.rmem_max` does not cap it when
    /// privileged): bursts beyond it are dropped by the kernel (see `kernelDrops`).
    public var receiveBufferBytes = 8 << 20
    /// Datagrams per recvmmsg call (1...64).
    public var batchSize = 64
    /// Largest datagram taken whole; longer ones arrive cut (and fail packet validation).
    public var maxDatagramSize = 2048
    /// Ask the NIC for hardware receive timestamps (falls back to the kernel's software ones).
    public var hardwareTimestamps = true

    public init(endpoint: UdpEndpoint, interface: String? = nil) {
        self.endpoint = endpoint
        self.interface = interface
    }
}

/// The standard receive path: a non-blocking kernel UDP socket read in recvmmsg batches,
/// with kernel (or NIC) receive timestamps and the kernel's per-socket drop counter.
/// `poll` allocates nothing: buffers and descriptors are preallocated here.
public final class SocketUdpReceiver: UdpReceiver {
    public let configuration: SocketReceiverConfiguration
    public let receiveBuffer: SocketBufferReport
    /// "hardware" when the NIC accepted SIOCSHWTSTAMP, else "kernel-software" with why not.
    public let timestampMode: String
    public let modeDescription: String
    /// The bound address (the kernel's port when 0 was asked for).
    public let localEndpoint: UdpEndpoint
    /// recvmmsg failures other than "nothing waiting" (counted, never fatal).
    public private(set) var receiveErrors: UInt64 = 0
    public private(set) var lastReceiveErrno: Int32 = 0
    public let descriptor: Int32

    private let slots: UnsafeMutablePointer<ctw_receive_slot>
    private let buffers: UnsafeMutableRawPointer
    private let drops: UnsafeMutablePointer<ctw_drop_counter>

    /// The most datagrams one recvmmsg call takes (the shim's stack arrays).
    public static let maximumBatchSize = 64

    public init(configuration: SocketReceiverConfiguration) throws(SystemError) {
        precondition((1...Self.maximumBatchSize).contains(configuration.batchSize), "batch size must be 1...64")
        precondition(configuration.maxDatagramSize > 0)
        self.configuration = configuration
        let fd = try syscall("socket") {
            socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            receiveBuffer = try configureSocketBuffer(fd, .receive, bytes: configuration.receiveBufferBytes, force: true)
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            try setOption(fd, SOL_SOCKET, SO_RXQ_OVFL, 1, "setsockopt(SO_RXQ_OVFL)")
            timestampMode = try Self.enableTimestamps(fd, configuration)
            localEndpoint = try Self.bindAndJoin(fd, configuration)
        } catch {
            close(fd)
            throw error
        }
        descriptor = fd
        let batch = configuration.batchSize
        buffers = .allocate(byteCount: batch * configuration.maxDatagramSize, alignment: 64)
        slots = .allocate(capacity: batch)
        for index in 0..<batch {
            slots.advanced(by: index).initialize(to: ctw_receive_slot())
            slots[index].data = buffers + index * configuration.maxDatagramSize
            slots[index].capacity = configuration.maxDatagramSize
        }
        drops = .allocate(capacity: 1)
        drops.initialize(to: ctw_drop_counter(dropped: 0, seen: 0))
        let target = configuration.endpoint.address.isMulticast
            ? "multicast \(configuration.endpoint)\(configuration.interface.map { " on \($0)" } ?? "")"
            : "unicast \(localEndpoint)"
        modeDescription = "socket: \(target), recvmmsg batches of \(batch), \(receiveBuffer), timestamps \(timestampMode)"
    }

    deinit {
        close(descriptor)
        buffers.deallocate()
        slots.deallocate()
        drops.deallocate()
    }

    /// Datagrams the kernel dropped on this socket for want of buffer space (SO_RXQ_OVFL), as
    /// of the newest datagram received: the kernel stamps each datagram with the count when it
    /// queues it, so drops show with the first datagram queued after them.
    public var kernelDrops: UInt64 { UInt64(drops.pointee.dropped) }

    public func poll(limit: Int, _ body: (ReceivedDatagram) -> Void) -> Int {
        var received = 0
        while received < limit {
            let asked = min(configuration.batchSize, limit - received)
            let count = Int(ctw_recvmmsg_with_drops(descriptor, slots, UInt32(asked), Int32(MSG_DONTWAIT), drops))
            guard count > 0 else {
                let error = ctw_errno()
                if count < 0 && error != EAGAIN && error != EWOULDBLOCK && error != EINTR {
                    receiveErrors &+= 1
                    lastReceiveErrno = error
                }
                break
            }
            for index in 0..<count {
                let slot = slots[index]
                body(ReceivedDatagram(
                    payload: UnsafeRawBufferPointer(start: slot.data, count: slot.length),
                    destination: configuration.endpoint,
                    source: withUnsafeBytes(of: slot.source) { UdpEndpoint($0.loadUnaligned(as: sockaddr_in.self)) },
                    receiveTime: ReceiveTimestamp(slot.stamp)))
            }
            received &+= count
            if count < asked { break }
        }
        return received
    }

    // MARK: set-up

    /// NIC stamps when the interface's driver takes SIOCSHWTSTAMP, else the kernel's software
    /// stamps (a socket asking only for hardware stamps gets none at all where the NIC has none).
    private static func enableTimestamps(_ fd: Int32, _ configuration: SocketReceiverConfiguration) throws(SystemError) -> String {
        var hardware = false
        var mode = "kernel-software"
        if configuration.hardwareTimestamps, let interface = configuration.interface {
            if ctw_enable_nic_rx_timestamps(fd, interface) == 0 {
                hardware = true
                mode = "hardware (\(interface))"
            } else {
                mode += " (hardware refused on \(interface): \(SystemError("ioctl(SIOCSHWTSTAMP)", errno: ctw_errno()).reason))"
            }
        }
        try syscall("setsockopt(SO_TIMESTAMPING)") { ctw_enable_rx_timestamping(fd, hardware ? 1 : 0) }
        return mode
    }

    /// Multicast: bind the group and port (so only that group's datagrams arrive), join it on
    /// the interface, and refuse other groups joined by other sockets (IP_MULTICAST_ALL 0).
    /// Unicast: bind the address and port.
    private static func bindAndJoin(_ fd: Int32, _ configuration: SocketReceiverConfiguration) throws(SystemError) -> UdpEndpoint {
        var address = sockaddr_in(configuration.endpoint)
        try syscall("bind") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if configuration.endpoint.address.isMulticast {
            let index = try configuration.interface.map { name throws(SystemError) in try interfaceIndex(name) } ?? 0
            try syscall("setsockopt(IP_ADD_MEMBERSHIP)") {
                ctw_join_multicast_group(fd, configuration.endpoint.address.value, Int32(index))
            }
            try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_ALL, 0, "setsockopt(IP_MULTICAST_ALL)")
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try syscall("getsockname") {
            withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        return UdpEndpoint(bound)
    }
}
