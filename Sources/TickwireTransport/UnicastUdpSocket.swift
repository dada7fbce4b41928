import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking UDP socket bound to one address and port that receives datagrams with
/// their source and answers them (request/response services, e.g. retransmission). Reads
/// and writes go through caller buffers: nothing allocates per datagram.
public final class UnicastUdpSocket {
    /// The bound address; the port is the kernel's choice when 0 was asked for.
    public let localEndpoint: UdpEndpoint
    private let descriptor: Int32

    public init(bindingTo endpoint: UdpEndpoint) throws(SystemError) {
        let fd = try syscall("socket") {
            socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            var address = Self.socketAddress(endpoint)
            try syscall("bind") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            var bound = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            try syscall("getsockname") {
                withUnsafeMutablePointer(to: &bound) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                }
            }
            localEndpoint = Self.endpoint(bound)
        } catch {
            close(fd)
            throw error
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// One datagram into `buffer` with its length and source; nil when none is waiting. A
    /// datagram longer than the buffer is cut to it (`truncated`).
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> (length: Int, source: UdpEndpoint, truncated: Bool)? {
        var source = sockaddr_in()
        var sourceLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        let received: Int
        do throws(SystemError) {
            received = try syscall("recvfrom") {
                withUnsafeMutablePointer(to: &source) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC), $0, &sourceLength)
                    }
                }
            }
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return nil
        }
        return (min(received, buffer.count), Self.endpoint(source), received > buffer.count)
    }

    /// Sends one datagram; false when the socket buffer is full (EAGAIN). Other errors throw.
    public func send(_ bytes: UnsafeRawBufferPointer, to destination: UdpEndpoint) throws(SystemError) -> Bool {
        var address = Self.socketAddress(destination)
        do throws(SystemError) {
            try syscall("sendto") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return false
        }
        return true
    }

    /// Waits until a datagram is readable or `timeoutMilliseconds` passed; true when readable.
    public func waitReadable(timeoutMilliseconds: Int32) throws(SystemError) -> Bool {
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return try syscall("poll") { poll(&request, 1, timeoutMilliseconds) } > 0
    }

    private static func socketAddress(_ endpoint: UdpEndpoint) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = endpoint.port.bigEndian
        address.sin_addr.s_addr = endpoint.address.value.bigEndian
        return address
    }

    private static func endpoint(_ address: sockaddr_in) -> UdpEndpoint {
        UdpEndpoint(address: IPv4Address(UInt32(bigEndian: address.sin_addr.s_addr)), port: UInt16(bigEndian: address.sin_port))
    }
}
