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
            var address = sockaddr_in(endpoint)
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
            localEndpoint = UdpEndpoint(bound)
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
        return (min(received, buffer.count), UdpEndpoint(source), received > buffer.count)
    }

    /// Sends one datagram; false when the socket buffer is full (EAGAIN). Other errors throw.
    public func send(_ bytes: UnsafeRawBufferPointer, to destination: UdpEndpoint) throws(SystemError) -> Bool {
        var address = sockaddr_in(destination)
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
}
