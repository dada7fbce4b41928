import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// The standard path: a non-blocking kernel UDP socket sending batches with sendmmsg.
/// Multicast leaves through `configuration.interface` when given; every packet refused by
/// the kernel is counted and skipped; a full socket buffer stops the batch (`wouldBlock`).
///
/// `send` allocates nothing: the sendmmsg descriptors and the destination address are
/// preallocated here and filled per call.
public final class StandardUdpSender: UdpSender {
    public let sendBuffer: SocketBufferReport
    /// The errno of the last packet the kernel refused (0: none yet); for `stats` and tests.
    public private(set) var lastSendErrno: Int32 = 0
    public let modeDescription: String

    private let descriptor: Int32
    private let batchSize: Int
    private let datagrams: UnsafeMutablePointer<ctw_datagram>
    private let destinationAddress: UnsafeMutablePointer<sockaddr_in>
    private var currentDestination: UdpEndpoint?

    /// The most datagrams one sendmmsg call takes (the shim's stack arrays).
    public static let maximumBatchSize = 64

    public init(configuration: SenderConfiguration) throws(SystemError) {
        precondition((1...Self.maximumBatchSize).contains(configuration.batchSize), "batch size is checked by SenderConfiguration")
        let fd = try syscall("socket") {
            socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            sendBuffer = try Self.configure(fd, configuration)
        } catch {
            close(fd)
            throw error
        }
        descriptor = fd
        batchSize = configuration.batchSize
        datagrams = .allocate(capacity: Self.maximumBatchSize)
        destinationAddress = .allocate(capacity: 1)
        destinationAddress.initialize(to: sockaddr_in())
        destinationAddress.pointee.sin_family = sa_family_t(AF_INET)
        let address = UnsafeRawPointer(destinationAddress).assumingMemoryBound(to: sockaddr.self)
        datagrams.initialize(repeating: ctw_datagram(data: nil, length: 0, address: address,
                                                     address_length: socklen_t(MemoryLayout<sockaddr_in>.size)),
                             count: Self.maximumBatchSize)
        let through = configuration.interface.map { " via \($0)" } ?? ""
        modeDescription = "standard: sendmmsg batches of \(batchSize)\(through), \(sendBuffer)"
    }

    deinit {
        close(descriptor)
        datagrams.deallocate()
        destinationAddress.deallocate()
    }

    public func send(_ packets: UnsafeBufferPointer<OutgoingPacket>, to destination: UdpEndpoint) -> SendReport {
        if currentDestination != destination {
            destinationAddress.pointee.sin_port = destination.port.bigEndian
            destinationAddress.pointee.sin_addr.s_addr = destination.address.value.bigEndian
            currentDestination = destination
        }
        var report = SendReport()
        var next = 0
        while next < packets.count {
            let count = min(batchSize, packets.count - next)
            for slot in 0..<count {
                let bytes = packets[next + slot].bytes
                datagrams[slot].data = UnsafeMutableRawPointer(mutating: bytes.baseAddress)
                datagrams[slot].length = bytes.count
            }
            let sent = ctw_sendmmsg(descriptor, datagrams, UInt32(count), 0)
            if sent > 0 {
                for slot in 0..<Int(sent) { report.bytes += datagrams[slot].length }
                report.packets += Int(sent)
                next += Int(sent)
                continue
            }
            // sendmmsg stops at the first refused datagram and reports its error only when
            // it is the first of the call: here `packets[next]` is the refused one.
            let error = sent == 0 ? EAGAIN : ctw_errno()
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                report.wouldBlock = packets.count - next
                break
            }
            lastSendErrno = error
            report.errors += 1
            next += 1
        }
        return report
    }

    /// Socket options in the order they matter: buffer, reuse, multicast, optional bind.
    private static func configure(_ fd: Int32, _ configuration: SenderConfiguration) throws(SystemError) -> SocketBufferReport {
        let report = try configureSocketBuffer(fd, .send, bytes: configuration.sendBufferBytes, force: configuration.forceSendBuffer)
        try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
        try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)")
        try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, Int32(configuration.multicastTTL), "setsockopt(IP_MULTICAST_TTL)")
        try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, configuration.multicastLoopback ? 1 : 0, "setsockopt(IP_MULTICAST_LOOP)")
        if let interface = configuration.interface {
            let index = try interfaceIndex(interface)
            try syscall("setsockopt(IP_MULTICAST_IF)") { ctw_set_multicast_interface(fd, Int32(index)) }
        }
        if let port = configuration.sourcePort {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            try syscall("bind") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        }
        return report
    }
}
